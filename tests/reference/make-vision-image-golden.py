#!/usr/bin/env python3
"""make-vision-image-golden.py: test pictures and golden data for
tests/test-vision-image.c.

  make-vision-image-golden.py [OUT_DIR]     writes tests/data/vision/ (or OUT_DIR)

Needs: Pillow, numpy, transformers (its PIL image processor), scikit-image
(sample photos astronaut, coffee, chelsea) and matplotlib (grace_hopper.jpg),
all from pip. Torch and torchvision are not needed.

Pictures (small downscaled copies of the sample photos, so the committed data
stays small):
  - pre-*.png: lossless RGB inputs of the preprocessing cases;
  - dec-*: one 64x48 crop of "chelsea" in every format and pixel layout the
    decoder reads (JPEG baseline/progressive, PNG RGB/RGBA/grey/grey+alpha/palette+tRNS/16-bit RGB/
    16-bit grey, WebP lossy/lossless+alpha/animated, GIF animated, BMP, TIFF);
  - orient-N.jpg (N = 1..8), orient-6.png (eXIf chunk), orient-8.webp (EXIF
    chunk), orient-6.tif: pixels stored turned so that the EXIF orientation
    tag N brings them upright.

golden.bin, all little-endian:
  header: magic "HVIG", u32 version (1), u32 n_decode, u32 n_pre
  n_decode records:
    char file[64] (NUL-padded name in the same folder), u32 kind (0 exact:
    every byte within 1; 1 lossy: JPEG, compare the mean absolute difference),
    u32 width, u32 height, u8 rgb[height][width][3]: the picture as Pillow
    decodes it, upright (ImageOps.exif_transpose), alpha composited on white
    the way transformers' convert_to_rgb does (Image.alpha_composite);
    16-bit samples as their high byte (what libpng's strip gives; Pillow
    clips 16-bit grey instead of scaling it, so it is not the reference there).
  n_pre records:
    char file[64], u32 shortest_edge, u32 crop_width, u32 crop_height,
    u32 fit (0 crop, 1 pad, 2 stretch), f32 mean[3], f32 std[3],
    f32 lut[3][256]: transformers' rescale + normalize of each 8-bit value,
    u8 pixels[3][crop_height][crop_width]: the 8-bit values behind
    transformers' pixel_values (each output float is lut[c][pixels[c][y][x]];
    the script checks that this inversion is exact).
The pixel_values come from transformers' CLIPImageProcessorPil (the PIL
backend, the "slow" processor); pad cases first apply LLaVA's expand2square
with the background tuple(int(m * 255) for m in mean); stretch cases ask the
processor for size {"height", "width"} = the crop.
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

import matplotlib
import skimage.data
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data", "vision")
os.makedirs(out_dir, exist_ok=True)


def path(name):
    return os.path.join(out_dir, name)


def name64(name):
    b = name.encode()
    assert len(b) < 64
    return b + b"\0" * (64 - len(b))


def photo(kind):
    if kind == "hopper":
        p = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
        return Image.open(p).convert("RGB")
    return Image.fromarray(getattr(skimage.data, kind)()).convert("RGB")


def shrink(im, w, h):
    return im.resize((w, h), Image.Resampling.LANCZOS)


# ---- pictures for the decoder ------------------------------------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png16(fname, a):
    """A 16-bit PNG (RGB or grey) written by hand: Pillow writes 16-bit grey only."""
    h, w = a.shape[:2]
    colour = 2 if a.ndim == 3 else 0
    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)) +
            png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))
    with open(path(fname), "wb") as f:
        f.write(data)


def on_white(im):
    """transformers' convert_to_rgb for a PIL image (alpha composited on white)."""
    has_alpha = "A" in im.getbands() or im.info.get("transparency") is not None
    if not has_alpha:
        return np.asarray(im.convert("RGB"))
    im = im.convert("RGBA")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(bg, im).convert("RGB"))


def decoded(fname):
    with Image.open(path(fname)) as im:
        im.seek(0)
        im = ImageOps.exif_transpose(im)
        return on_white(im)


cat = shrink(photo("chelsea"), 151, 100).crop((40, 20, 104, 68))  # 64 x 48
cat_a = np.asarray(cat)
W, H = cat.size
yy, xx = np.mgrid[0:H, 0:W]
alpha = ((xx * 255) // (W - 1)).astype(np.uint8)
alpha[:8, :] = 0
alpha[-8:, :] = 255
rgba = Image.fromarray(np.dstack([cat_a, alpha]), "RGBA")

decode_cases = []  # (file, kind, expected rgb)

cat.save(path("dec-rgb.jpg"), quality=90)
decode_cases.append(("dec-rgb.jpg", 1, decoded("dec-rgb.jpg")))
cat.save(path("dec-progressive.jpg"), quality=90, progressive=True)
decode_cases.append(("dec-progressive.jpg", 1, decoded("dec-progressive.jpg")))
cat.save(path("dec-rgb.png"))
rgba.save(path("dec-rgba.png"))
cat.convert("L").save(path("dec-grey.png"))
Image.fromarray(np.dstack([np.asarray(cat.convert("L")), alpha]), "LA").save(path("dec-grey-alpha.png"))
pal = cat.quantize(colors=32)
pal.info["transparency"] = 0
pal.save(path("dec-palette.png"), transparency=0)
for f in ["dec-rgb.png", "dec-rgba.png", "dec-grey.png", "dec-grey-alpha.png", "dec-palette.png"]:
    decode_cases.append((f, 0, decoded(f)))

rng = np.random.default_rng(7)
c16 = cat_a.astype(np.uint16) * 257 + rng.integers(0, 257, cat_a.shape, dtype=np.uint16)
write_png16("dec-rgb16.png", c16)
decode_cases.append(("dec-rgb16.png", 0, (c16 >> 8).astype(np.uint8)))
g16 = c16[..., 1]
write_png16("dec-grey16.png", g16)
decode_cases.append(("dec-grey16.png", 0, np.repeat((g16 >> 8).astype(np.uint8)[..., None], 3, axis=2)))

cat.save(path("dec-lossy.webp"), quality=80)
decode_cases.append(("dec-lossy.webp", 0, decoded("dec-lossy.webp")))
rgba.save(path("dec-alpha-lossless.webp"), lossless=True)
decode_cases.append(("dec-alpha-lossless.webp", 0, decoded("dec-alpha-lossless.webp")))
second = Image.fromarray(255 - cat_a)
cat.save(path("dec-anim.webp"), save_all=True, append_images=[second], duration=100, loop=0, lossless=True)
decode_cases.append(("dec-anim.webp", 0, decoded("dec-anim.webp")))
cat.quantize(colors=64).save(path("dec-anim.gif"), save_all=True,
                             append_images=[second.quantize(colors=64)], duration=100, loop=0)
decode_cases.append(("dec-anim.gif", 0, decoded("dec-anim.gif")))
cat.save(path("dec-rgb.bmp"))
decode_cases.append(("dec-rgb.bmp", 0, decoded("dec-rgb.bmp")))
cat.save(path("dec-rgb.tif"), compression="tiff_lzw")
decode_cases.append(("dec-rgb.tif", 0, decoded("dec-rgb.tif")))

# EXIF orientation: store the upright picture turned by the inverse of what
# tag N asks, so that applying N gives it back.
upright = shrink(photo("astronaut"), 48, 48).crop((0, 8, 48, 40))  # 48 x 32, not square
inverse = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
           4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
           6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def orient_save(n, fname, **kw):
    stored = upright if inverse[n] is None else upright.transpose(inverse[n])
    exif = Image.Exif()
    exif[0x0112] = n
    stored.save(path(fname), exif=exif.tobytes(), **kw)
    got = decoded(fname)
    assert got.shape == (32, 48, 3), (fname, got.shape)
    return got


for n in range(1, 9):
    f = "orient-%d.jpg" % n
    decode_cases.append((f, 1, orient_save(n, f, quality=92)))
decode_cases.append(("orient-6.png", 0, orient_save(6, "orient-6.png")))
decode_cases.append(("orient-8.webp", 0, orient_save(8, "orient-8.webp", lossless=True)))
decode_cases.append(("orient-6.tif", 0, orient_save(6, "orient-6.tif")))

# ---- preprocessing -----------------------------------------------------------

shrink(photo("hopper"), 256, 300).save(path("pre-hopper.png"))
shrink(photo("coffee"), 200, 133).save(path("pre-coffee.png"))
shrink(photo("chelsea"), 150, 100).save(path("pre-chelsea.png"))
shrink(photo("astronaut"), 300, 300).crop((0, 100, 300, 124)).save(path("pre-wide.png"))
Image.new("RGB", (1, 1), (200, 30, 90)).save(path("pre-1x1.png"))
Image.fromarray(rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)).save(path("pre-5x3.png"))

CROP, PAD, STRETCH = 0, 1, 2
pre_cases = [
    # file, shortest_edge, crop_w, crop_h, fit, mean, std
    ("pre-hopper.png", 224, 224, 224, CROP, OPENAI_MEAN, OPENAI_STD),   # CLIP ViT-B: downscale 256 -> 224
    ("pre-hopper.png", 336, 336, 336, CROP, OPENAI_MEAN, OPENAI_STD),   # LLaVA-1.5's ViT-L/336: upscale
    ("pre-coffee.png", 160, 160, 160, PAD, OPENAI_MEAN, OPENAI_STD),    # landscape padded (y offset)
    ("pre-hopper.png", 96, 96, 96, PAD, OPENAI_MEAN, OPENAI_STD),       # portrait padded (x offset)
    ("pre-hopper.png", 64, 64, 64, CROP, OPENAI_MEAN, OPENAI_STD),      # 4x downscale: wide kernel
    ("pre-chelsea.png", 120, 160, 96, CROP, OPENAI_MEAN, OPENAI_STD),   # non-square crop
    ("pre-hopper.png", 80, 120, 64, CROP, OPENAI_MEAN, OPENAI_STD),     # crop wider than the image: zeros
    ("pre-chelsea.png", 99, 128, 128, CROP, OPENAI_MEAN, OPENAI_STD),   # crop taller: odd zero padding
    ("pre-1x1.png", 48, 48, 48, CROP, OPENAI_MEAN, OPENAI_STD),
    ("pre-5x3.png", 64, 64, 64, CROP, OPENAI_MEAN, OPENAI_STD),
    ("pre-wide.png", 96, 96, 96, CROP, OPENAI_MEAN, OPENAI_STD),        # 300x24 -> 1200x96
    ("pre-wide.png", 96, 96, 96, PAD, OPENAI_MEAN, OPENAI_STD),
    ("pre-wide.png", 96, 96, 80, STRETCH, OPENAI_MEAN, OPENAI_STD),
    ("pre-chelsea.png", 0, 64, 100, STRETCH, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # SigLIP-style mean/std
]


def expand2square(im, bg):
    """LLaVA's pad: the picture centred on a square of the background colour."""
    w, h = im.size
    if w == h:
        return im
    if w > h:
        r = Image.new(im.mode, (w, w), bg)
        r.paste(im, (0, (w - h) // 2))
        return r
    r = Image.new(im.mode, (h, h), bg)
    r.paste(im, ((h - w) // 2, 0))
    return r


def hf_pixels(im, se, cw, ch, fit, mean, std):
    if fit == PAD:
        im = expand2square(im, tuple(int(m * 255) for m in mean))
    if fit == STRETCH:
        proc = CLIPImageProcessorPil(size={"height": ch, "width": cw}, crop_size={"height": ch, "width": cw},
                                     image_mean=list(mean), image_std=list(std))
    else:
        proc = CLIPImageProcessorPil(size={"shortest_edge": se}, crop_size={"height": ch, "width": cw},
                                     image_mean=list(mean), image_std=list(std))
    return proc, np.asarray(proc(images=im, return_tensors="np")["pixel_values"][0])


pre_records = []
for (f, se, cw, ch, fit, mean, std) in pre_cases:
    with Image.open(path(f)) as im:
        im = im.convert("RGB")
        proc, pv = hf_pixels(im, se, cw, ch, fit, mean, std)
    assert pv.shape == (3, ch, cw) and pv.dtype == np.float32, (f, pv.shape, pv.dtype)
    # The same processor's rescale + normalize of every 8-bit value.
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)  # (1, 256, 3)
    lut_proc = CLIPImageProcessorPil(do_resize=False, do_center_crop=False, image_mean=list(mean),
                                     image_std=list(std))
    lut = np.asarray(lut_proc(images=Image.fromarray(ramp), return_tensors="np")["pixel_values"][0])[:, 0, :]
    assert lut.shape == (3, 256)
    pix = np.empty((3, ch, cw), np.uint8)
    for c in range(3):
        idx = np.searchsorted(lut[c], pv[c])
        idx = np.clip(idx, 0, 255)
        assert np.array_equal(lut[c][idx].view(np.uint32), pv[c].view(np.uint32)), (f, c, "not invertible")
        pix[c] = idx
    pre_records.append((f, se, cw, ch, fit, mean, std, lut.astype(np.float32), pix))

# ---- golden.bin ----------------------------------------------------------------

with open(path("golden.bin"), "wb") as g:
    g.write(b"HVIG" + struct.pack("<III", 1, len(decode_cases), len(pre_records)))
    for (f, kind, rgb) in decode_cases:
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        h, w, c = rgb.shape
        assert c == 3
        g.write(name64(f) + struct.pack("<III", kind, w, h) + rgb.tobytes())
    for (f, se, cw, ch, fit, mean, std, lut, pix) in pre_records:
        g.write(name64(f) + struct.pack("<IIII", se, cw, ch, fit) + struct.pack("<3f", *mean) +
                struct.pack("<3f", *std) + lut.astype("<f4").tobytes() + pix.tobytes())

total = sum(os.path.getsize(path(f)) for f in os.listdir(out_dir))
print("wrote %d decode and %d preprocessing cases to %s (%d bytes in all)" %
      (len(decode_cases), len(pre_records), out_dir, total))
