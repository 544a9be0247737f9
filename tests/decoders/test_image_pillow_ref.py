#!/usr/bin/python3
"""tests/decoders/test_image_pillow_ref.py — the oracle of test_image_prep.c, written from the
algorithm descriptions (Pillow's ImagingResample; llama.cpp de3ff81 mtmd-image.cpp), not from the C:

  resize IN OUT SW SH DW DH FILTER         raw RGB8 in -> raw RGB8 out.  FILTER 1 bilinear, 2 bicubic.
                                           Coefficients in float64, 22-bit fixed point, u8 between the
                                           passes.  When Pillow (python3-pil) is installed the result is
                                           also checked against PIL.Image.resize itself (exit 3 if not equal).
  prep IN W H MODE PATCH MERGE MINT MAXT SIZE FILTER M0 M1 M2 S0 S1 S2 OUT
                                           the whole mtmd preprocessing in float32: target size (MODE 0
                                           dyn / 1 fixed), letterbox on black, normalise, planar [c][y][x].
                                           Writes OUT (float32) and prints "TW TH".
Exit 77 when numpy is missing (the C test then skips).
"""
import math
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)

PREC = 22


def f_bilinear(x):
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


def f_bicubic(x):
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def coeffs(inn, out, filt_id):
    filt, base = (f_bilinear, 1.0) if filt_id == 1 else (f_bicubic, 2.0)
    scale = inn / out
    fs = max(scale, 1.0)
    support = base * fs
    taps = []
    for o in range(out):
        center = (o + 0.5) * scale
        xmin = max(0, int(center - support + 0.5))     # int() truncates toward zero, as a C cast
        xmax = min(inn, int(center + support + 0.5))
        w = [filt((x + xmin - center + 0.5) / fs) for x in range(xmax - xmin)]
        ww = 0.0
        for v in w:
            ww += v
        if ww != 0.0:
            w = [v / ww for v in w]
        k = [int(-0.5 + v * (1 << PREC)) if v < 0 else int(0.5 + v * (1 << PREC)) for v in w]
        taps.append((xmin, np.array(k, dtype=np.int64)))
    return taps


def pass_axis(img, taps, axis):
    """img: int64 array [H, W, 3]; resample along axis (1 = horizontal, 0 = vertical)."""
    n_out = len(taps)
    shape = list(img.shape)
    shape[axis] = n_out
    out = np.zeros(shape, dtype=np.int64)
    for o, (xmin, k) in enumerate(taps):
        sl = [slice(None)] * 3
        sl[axis] = slice(xmin, xmin + len(k))
        seg = img[tuple(sl)]
        kk = k.reshape((-1, 1, 1) if axis == 0 else (1, -1, 1))
        acc = (1 << (PREC - 1)) + (seg * kk).sum(axis=axis)
        osl = [slice(None)] * 3
        osl[axis] = o
        out[tuple(osl)] = np.clip(acc >> PREC, 0, 255)
    return out


def resize(img, dw, dh, filt):
    sh, sw = img.shape[:2]
    cur = img.astype(np.int64)
    if dw != sw:
        cur = pass_axis(cur, coeffs(sw, dw, filt), 1)
    if dh != sh:
        cur = pass_axis(cur, coeffs(sh, dh, filt), 0)
    return cur.astype(np.uint8)


def pil_check(img, dw, dh, filt, ours):
    try:
        from PIL import Image
    except ImportError:
        return
    res = Image.BILINEAR if filt == 1 else Image.BICUBIC
    p = np.asarray(Image.fromarray(img, "RGB").resize((dw, dh), res))
    if not np.array_equal(p, ours):
        sys.stderr.write("reference disagrees with Pillow itself (%d samples)\n" % int((p != ours).sum()))
        sys.exit(3)


F = np.float32


def roundf(v):  # C roundf: half away from zero, on the exact float32 value
    v = float(v)
    return math.copysign(math.floor(abs(v) + 0.5), v)


def target_size(w, h, mode, patch, merge, mint, maxt, size):
    if mode == 1:
        return size, size
    a = patch * max(merge, 1)
    min_px, max_px = mint * a * a, maxt * a * a
    by = lambda fn, x: int(fn(float(F(x) / F(a)))) * a
    hb = max(a, by(roundf, F(h)))
    wb = max(a, by(roundf, F(w)))
    if hb * wb > max_px:
        beta = np.sqrt(F(h * w) / F(max_px))
        hb = max(a, by(math.floor, F(h) / beta))
        wb = max(a, by(math.floor, F(w) / beta))
    elif hb * wb < min_px:
        beta = np.sqrt(F(min_px) / F(h * w))
        hb = by(math.ceil, F(h) * beta)
        wb = by(math.ceil, F(w) * beta)
    return wb, hb


def prep(img, mode, patch, merge, mint, maxt, size, filt, mean, std):
    h, w = img.shape[:2]
    tw, th = target_size(w, h, mode, patch, merge, mint, maxt, size)
    if (tw, th) == (w, h):
        canvas = img
    else:
        s = min(F(tw) / F(w), F(th) / F(h))
        nw = min(int(math.ceil(float(F(w) * s))), tw)
        nh = min(int(math.ceil(float(F(h) * s))), th)
        canvas = np.zeros((th, tw, 3), np.uint8)
        ox, oy = (tw - nw) // 2, (th - nh) // 2
        canvas[oy:oy + nh, ox:ox + nw] = resize(img, nw, nh, filt)
    f = (canvas.astype(F) / F(255.0) - np.array(mean, F)) / np.array(std, F)
    return tw, th, np.ascontiguousarray(f.transpose(2, 0, 1)).astype(F)


def main(argv):
    if argv[1] == "resize":
        src, dst, sw, sh, dw, dh, filt = argv[2], argv[3], *map(int, argv[4:9])
        img = np.frombuffer(open(src, "rb").read(), np.uint8).reshape(sh, sw, 3)
        out = resize(img, dw, dh, filt)
        pil_check(img, dw, dh, filt, out)
        open(dst, "wb").write(out.tobytes())
    elif argv[1] == "prep":
        src = argv[2]
        w, h, mode, patch, merge, mint, maxt, size, filt = map(int, argv[3:12])
        mean, std = list(map(float, argv[12:15])), list(map(float, argv[15:18]))
        img = np.frombuffer(open(src, "rb").read(), np.uint8).reshape(h, w, 3)
        tw, th, f = prep(img, mode, patch, merge, mint, maxt, size, filt, mean, std)
        open(argv[18], "wb").write(f.tobytes())
        print(tw, th)
    else:
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
