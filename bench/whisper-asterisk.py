#!/usr/bin/env python3
"""whisper-asterisk.py: Hark against faster-whisper on real speech.

Every speech prompt of Debian's asterisk-core-sounds-en-wav (transcripts from
asterisk-core-sounds-en; [bracketed] tone entries skipped), transcribed by
`hark transcribe` and by faster-whisper on the same CTranslate2 weights, same
threads, language, beam and options, side by side in this process tree.
Prints normalized WER (lowercase, punctuation stripped, digits spelled out as
the transcripts write numbers) and wall time for greedy and beam 5, and the
time ratio Hark / faster-whisper (< 1.0: Hark is faster).

  bench/whisper-asterisk.py --hark build/hark --model DIR [--threads N] [--limit N] [--hark-precision int8]

Needs: faster-whisper, jiwer (pip), the two asterisk packages (apt).
"""
import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time

SOUNDS = "/usr/share/asterisk/sounds/en"
TRANSCRIPTS = "/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
       "seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell(n):
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        return ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spell(n % 100))
    for div, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= div:
            return spell(n // div) + " " + word + ("" if n % div == 0 else " " + spell(n % div))
    return str(n)


def normalize(text):
    t = text.lower()
    t = re.sub(r"(\d),(\d)", r"\1\2", t)
    t = re.sub(r"\d+", lambda m: " " + spell(int(m.group())) + " ", t)
    t = re.sub(r"[^a-z' ]+", " ", t)
    t = t.replace("'", "")
    return " ".join(t.split())


def corpus(limit):
    items = []
    with gzip.open(TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            text = text.strip()
            # Tones are [bracketed], silences (parenthesized): not speech.
            if not text or re.fullmatch(r"\[.*\]|\(.*\)", text):
                continue
            path = os.path.join(SOUNDS, name.strip() + ".wav")
            if os.path.exists(path) and normalize(text):
                items.append((path, text))
    return items[:limit] if limit else items


def run_hark(hark, model, files, beam, threads, out_dir, precision):
    # Prompts in different folders share names (digits/7, silence/7): give each
    # input a unique name so the outputs written beside -o do not collide.
    links = []
    for i, f in enumerate(files):
        link = os.path.join(out_dir, "in-%04d-%s" % (i, os.path.basename(f)))
        os.symlink(f, link)
        links.append(link)
    t0 = time.time()
    r = subprocess.run([hark, "transcribe", "-m", model, "-l", "en", "--beam", str(beam), "--threads", str(threads),
                        "--device", "cpu", "--precision", precision, "-f", "json", "-o", out_dir, "-q"] + links,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    files = links
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
    hyps = []
    for f in files:
        p = os.path.join(out_dir, os.path.splitext(os.path.basename(f))[0] + ".json")
        try:
            with open(p) as fh:
                hyps.append(json.load(fh)["text"])
        except OSError:
            hyps.append("")
    return hyps, wall


_fw_models = {}


def run_faster_whisper(model_dir, files, beam, threads, compute_type, keep=False):
    from faster_whisper import WhisperModel
    t0 = time.time()
    key = (model_dir, compute_type, threads)
    m = _fw_models.get(key) if keep else None
    if m is None:
        m = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads)
        if keep:
            _fw_models[key] = m
    hyps = []
    for f in files:
        segs, _ = m.transcribe(f, language="en", beam_size=beam, vad_filter=False)
        hyps.append("".join(s.text for s in segs))
    return hyps, time.time() - t0


def wer(refs, hyps):
    import jiwer
    r = [normalize(x) for x in refs]
    h = [normalize(x) or "<empty>" for x in hyps]
    return 100.0 * jiwer.wer(r, h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hark", default="build/hark")
    ap.add_argument("--model", required=True, help="faster-whisper (CTranslate2) model directory")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--fw-compute-types", default="int8,float32",
                    help="faster-whisper precisions: int8 is its fastest on CPU, float32 holds the same values "
                         "as Hark's F16 weights with F32 arithmetic")
    ap.add_argument("--beams", default="1,5")
    ap.add_argument("--hark-precision", default="float",
                    help="float: the weights as stored (F16), F32 math; int8: Q8_0 weights and 8-bit activations")
    ap.add_argument("--chunk", type=int, default=0,
                    help="interleave the engines over chunks of N files (Hark, then faster-whisper, chunk by chunk; "
                         "faster-whisper's model loaded once, Hark's once per chunk), so a machine whose load "
                         "changes during the run weighs on both alike")
    args = ap.parse_args()
    label = "hark (f16 weights, f32 math)" if args.hark_precision == "float" else "hark (q8_0 weights, int8 math)"
    items = corpus(args.limit)
    files = [p for p, _ in items]
    refs = [t for _, t in items]
    audio_s = sum(os.path.getsize(p) - 44 for p in files) / 2 / 8000.0  # 8 kHz 16-bit PCM
    print(f"corpus: {len(files)} speech prompts, {audio_s:.0f} s of audio; threads {args.threads}")
    print(f"{'engine':<34} {'beam':>4} {'WER %':>7} {'wall s':>8} {'x RT':>6}")
    rows = []
    if args.chunk:
        cts = args.fw_compute_types.split(",")
        for beam in [int(b) for b in args.beams.split(",")]:
            h_hyps, h_wall, f_hyps, f_wall = [], 0.0, {ct: [] for ct in cts}, {ct: 0.0 for ct in cts}
            for c0 in range(0, len(files), args.chunk):
                part = files[c0:c0 + args.chunk]
                with tempfile.TemporaryDirectory() as d:
                    hy, hw_ = run_hark(args.hark, args.model, part, beam, args.threads, d, args.hark_precision)
                h_hyps += hy
                h_wall += hw_
                for ct in cts:
                    fy, fw_ = run_faster_whisper(args.model, part, beam, args.threads, ct, keep=True)
                    f_hyps[ct] += fy
                    f_wall[ct] += fw_
            hw = wer(refs, h_hyps)
            print(f"{label:<34} {beam:>4} {hw:>7.2f} {h_wall:>8.1f} {audio_s / h_wall:>6.1f}   (interleaved, "
                  f"chunks of {args.chunk}; includes a model load per chunk)")
            for ct in cts:
                fw = wer(refs, f_hyps[ct])
                print(f"{'faster-whisper (' + ct + ')':<34} {beam:>4} {fw:>7.2f} {f_wall[ct]:>8.1f} "
                      f"{audio_s / f_wall[ct]:>6.1f}")
                print(f"  beam {beam} vs {ct}: WER difference {hw - fw:+.2f} points, time ratio hark/faster-whisper "
                      f"{h_wall / f_wall[ct]:.2f}")
            sys.stdout.flush()
        return
    for beam in [int(b) for b in args.beams.split(",")]:
        with tempfile.TemporaryDirectory() as d:
            h_hyps, h_wall = run_hark(args.hark, args.model, files, beam, args.threads, d, args.hark_precision)
        hw = wer(refs, h_hyps)
        print(f"{label:<34} {beam:>4} {hw:>7.2f} {h_wall:>8.1f} {audio_s / h_wall:>6.1f}")
        sys.stdout.flush()
        for ct in args.fw_compute_types.split(","):
            f_hyps, f_wall = run_faster_whisper(args.model, files, beam, args.threads, ct)
            fw = wer(refs, f_hyps)
            print(f"{'faster-whisper (' + ct + ')':<34} {beam:>4} {fw:>7.2f} {f_wall:>8.1f} {audio_s / f_wall:>6.1f}")
            print(f"  beam {beam} vs {ct}: WER difference {hw - fw:+.2f} points, time ratio hark/faster-whisper "
                  f"{h_wall / f_wall:.2f}")
            rows.append(dict(beam=beam, fw=ct, hark_wer=hw, fw_wer=fw, hark_s=h_wall, fw_s=f_wall))
            sys.stdout.flush()
    diffs = [(items[i][0], refs[i], h, f) for i, (h, f) in enumerate(zip(h_hyps, f_hyps))
             if normalize(h) != normalize(f)]
    print(f"\nlast run: {len(diffs)} prompts where the two engines' normalized text differs")
    for p, r, h, f in diffs[:15]:
        print(f"  {os.path.basename(p)}\n    ref:  {r}\n    hark: {h.strip()}\n    fw:   {f.strip()}")


if __name__ == "__main__":
    main()
