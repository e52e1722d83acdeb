#!/bin/sh
# make-audio-fixtures.sh: regenerate tests/data/audio/, the files that
# tests/test-audio-decode.c decodes.
#
# Every audio fixture carries the same signal: 50 ms of silence, a 300 ms
# linear sine sweep 250 -> 3300 Hz at -6 dBFS with 20 ms half-sine fades, then
# 50 ms of silence (0.4 s in all). sox synthesizes it analytically at each
# rate, so the 8 kHz and the 48 kHz files hold the same continuous signal and
# the test can compare any decode, resampled to 16 kHz, with
# sig-16k-mono-s16.wav. 3300 Hz stays inside every resampler's passband
# (0.9 x 4 kHz for the 8 kHz file).
#
# The lossy encodes start from a 48 kHz float master. The files are committed
# so CI needs neither sox nor the ffmpeg CLI; keep them small (< 300 KB total).
#
# Needs: sox, ffmpeg (with libmp3lame, libvorbis, libopus, libx264, libvpx).
# Usage: tests/reference/make-audio-fixtures.sh [OUTDIR]   (default tests/data/audio)
set -eu

here=$(dirname "$0")
out=${1:-$here/../data/audio}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# sig RATE CHANNELS ENCODING-ARGS OUTFILE
sig() {
  sox -D -n -r "$1" -c "$2" $3 "$4" \
    synth 0.3 sine 250-3300 vol 0.5 fade h 0.02 0.3 0.02 pad 0.05 0.05
}

ff() {
  ffmpeg -nostdin -hide_banner -loglevel error -y "$@"
}

# WAV at the common rates: mono and stereo, 16-bit and float.
sig 8000 1 "-b 16 -e signed-integer" "$out/sig-8k-mono-s16.wav"
sig 16000 1 "-b 16 -e signed-integer" "$out/sig-16k-mono-s16.wav"
sig 16000 2 "-b 32 -e floating-point" "$out/sig-16k-stereo-f32.wav"
sig 44100 2 "-b 16 -e signed-integer" "$out/sig-44k-stereo-s16.wav"
sig 48000 1 "-b 32 -e floating-point" "$out/sig-48k-mono-f32.wav"

# Other lossless containers libsndfile reads.
sig 22050 1 "-b 16" "$out/sig-22k-mono.flac"
sig 11025 1 "-b 16 -e signed-integer" "$tmp/sig-11k.wav"

# Lossy codecs, from a 48 kHz float master.
master=$tmp/master-48k.wav
sig 48000 1 "-b 32 -e floating-point" "$master"
master44=$tmp/master-44k-stereo.wav
sig 44100 2 "-b 32 -e floating-point" "$master44"
master44m=$tmp/master-44k-mono.wav
sig 44100 1 "-b 32 -e floating-point" "$master44m"
bx="-fflags +bitexact -flags:a +bitexact -map_metadata -1"
# (AIFF through ffmpeg: sox stamps the time into an AIFF comment chunk.)
ff -i "$tmp/sig-11k.wav" $bx -c:a pcm_s16be "$out/sig-11k-mono.aiff"
ff -i "$master44" $bx -c:a libvorbis -q:a 0 "$out/sig-44k-stereo.ogg"
ff -i "$master44" $bx -c:a libmp3lame -b:a 64k "$out/sig-44k-stereo.mp3"
ff -i "$master44m" $bx -c:a aac -b:a 48k "$out/sig-44k-mono.m4a"
ff -i "$master" $bx -c:a libopus -b:a 48k "$out/sig-48k-mono.opus"
ff -i "$master" $bx -c:a libopus -b:a 48k "$out/sig-48k-mono.webm"

# Video containers: a 16x16 black picture at 5 fps, audio second.
vid="-f lavfi -i color=c=black:s=16x16:r=5:d=0.4"
ff $vid -i "$master44" $bx -flags:v +bitexact -map 0:v -map 1:a -shortest \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 48k "$out/sig-video.mp4"
ff $vid -i "$master" $bx -flags:v +bitexact -map 0:v -map 1:a -shortest \
  -c:v mpeg4 -q:v 31 -c:a libvorbis -q:a 0 "$out/sig-video.mkv"

# Audio that starts 0.2 s after the picture: decoding pads the start with
# silence so transcript times match the video.
ff -f lavfi -i color=c=black:s=16x16:r=5:d=0.6 -itsoffset 0.2 -i "$master" $bx -flags:v +bitexact \
  -map 0:v -map 1:a -c:v mpeg4 -q:v 31 -c:a libopus -b:a 32k "$out/late-audio.mkv"

# An MP3 whose sample rate changes mid-stream (two streams back to back,
# 44.1 kHz stereo then 22.05 kHz mono, no tags).
master22=$tmp/master-22k-mono.wav
sig 22050 1 "-b 32 -e floating-point" "$master22"
ff -i "$master44" $bx -write_xing 0 -id3v2_version 0 -c:a libmp3lame -b:a 64k "$tmp/a.mp3"
ff -i "$master22" $bx -write_xing 0 -id3v2_version 0 -c:a libmp3lame -b:a 32k "$tmp/b.mp3"
cat "$tmp/a.mp3" "$tmp/b.mp3" > "$out/rate-change.mp3"

# Files with no audio stream.
ff $vid $bx -flags:v +bitexact -c:v libx264 -preset ultrafast -pix_fmt yuv420p -an "$out/video-noaudio.mp4"
ff -f lavfi -i color=c=gray:s=8x8:d=0.2 -frames:v 1 $bx -flags:v +bitexact "$out/image.png"

# Broken files.
: > "$out/empty.wav"
sox -n -r 16000 -c 1 -b 16 -e signed-integer "$out/header-only.wav" trim 0 0
printf 'These are meeting notes, not audio.\nSaved with the wrong extension.\n' > "$out/text.wav"
# truncate FILE FRACTION-PERCENT OUTFILE: keep the first part of a file.
truncate_copy() {
  size=$(wc -c < "$1")
  head -c $((size * $2 / 100)) "$1" > "$3"
}
truncate_copy "$out/sig-44k-stereo.mp3" 55 "$out/truncated.mp3"
truncate_copy "$out/sig-22k-mono.flac" 50 "$out/truncated.flac"

du -cb "$out"/* | tail -1
