#!/usr/bin/python3
"""tests/data/image/gen_png.py — writes the PNG test files of tests/data/image/ by hand
(zlib + struct), so every variant is exactly controlled: bit depths 1/2/4/8/16, grey, grey+alpha,
RGB, RGBA, palette (+tRNS), tRNS colour keys, Adam7 interlace, all five row filters, an eXIf
chunk, and the hostile files (bad CRC on a critical and on an ancillary chunk, truncated, zero
width, a 50000x50000 header over a tiny file, a corrupt deflate stream).

Run by scripts/gen_testdata_image.sh, which then makes the JPEG / WebP / GIF / BMP / TIFF files
with Debian tools and the stb_image reference pixels (ref/*.rgb).  Usage: gen_png.py OUTDIR
"""
import os
import struct
import sys
import zlib

W, H = 23, 17  # odd sizes: partial Adam7 blocks, sub-byte row padding


def base_rgb(x, y):
    return ((x * 11 + y * 3) & 255, (y * 15 + x) & 255, ((x ^ y) * 9) & 255)


def low_byte(x, y, c):
    return (x * 37 + y * 91 + c * 53) & 255  # 16-bit low halves: >= 128 often, so rounding != high byte


def alpha(x, y):
    a = (x * 12 + y * 7) & 255
    return 0 if x == 0 else 255 if x == W - 1 else a


def chunk(t, d, bad_crc=False):
    crc = zlib.crc32(t + d) & 0xFFFFFFFF
    if bad_crc:
        crc ^= 0x00010000
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", crc)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filter_rows(rows, bpp):
    """rows: list of bytes (already packed).  Row i uses filter i % 5."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for i, r in enumerate(rows):
        f = i % 5
        out.append(f)
        for j, v in enumerate(r):
            a = r[j - bpp] if j >= bpp else 0
            b = prev[j]
            c = prev[j - bpp] if j >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][f]
            out.append((v - pred) & 255)
        prev = r
    return bytes(out)


def pack_row(samples, depth):
    """samples: flat list of ints for one row (all channels)."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, nb = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        nb += depth
        if nb == 8:
            out.append(acc)
            acc, nb = 0, 0
    if nb:
        out.append(acc << (8 - nb))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def encode(pix, depth, nch, interlace):
    """pix[y][x] = tuple of channel samples.  Returns the filtered, uncompressed stream."""
    bpp = max(1, depth * nch // 8)
    if not interlace:
        rows = [pack_row([s for p in pix[y] for s in p], depth) for y in range(H)]
        return filter_rows(rows, bpp)
    out = b""
    for x0, y0, dx, dy in ADAM7:
        xs, ys = list(range(x0, W, dx)), list(range(y0, H, dy))
        if not xs or not ys:
            continue
        rows = [pack_row([s for x in xs for s in pix[y][x]], depth) for y in ys]
        out += filter_rows(rows, bpp)
    return out


def png(ctype, depth, pix, interlace=0, plte=None, trns=None, extra=b"", w=W, h=H, idat=None):
    nch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
    data += extra
    if plte is not None:
        data += chunk(b"PLTE", bytes(c for p in plte for c in p))
    if trns is not None:
        data += chunk(b"tRNS", trns)
    if idat is None:
        idat = zlib.compress(encode(pix, depth, nch, interlace), 9)
    data += chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return data


def grid(f):
    return [[f(x, y) for x in range(W)] for y in range(H)]


def palette(n):
    return [((i * 97 + 13) & 255, (i * 59 + 101) & 255, (i * 31 + 7) & 255) for i in range(n)]


def exif_block(orientation, le=True):
    e = "<" if le else ">"
    tiff = (b"II*\x00" if le else b"MM\x00*") + struct.pack(e + "I", 8)
    tiff += struct.pack(e + "H", 1) + struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    return tiff + struct.pack(e + "I", 0)


def main(out):
    os.makedirs(os.path.join(out, "bad"), exist_ok=True)
    files = {}
    rgb8 = grid(base_rgb)
    rgb16 = grid(lambda x, y: tuple(v << 8 | low_byte(x, y, c) for c, v in enumerate(base_rgb(x, y))))
    rgba8 = grid(lambda x, y: base_rgb(x, y) + (alpha(x, y),))
    rgba16 = grid(lambda x, y: tuple(v << 8 | low_byte(x, y, c) for c, v in enumerate(base_rgb(x, y) + (alpha(x, y),))))
    gray = lambda d: grid(lambda x, y: (((x * 11 + y * 5) & 255) >> (8 - d),) if d <= 8 else
                          (((x * 11 + y * 5) & 255) << 8 | low_byte(x, y, 0),))
    files["rgb8.png"] = png(2, 8, rgb8)
    files["rgb16.png"] = png(2, 16, rgb16)
    files["rgba8.png"] = png(6, 8, rgba8)
    files["rgba16.png"] = png(6, 16, rgba16)
    for d in (1, 2, 4, 8, 16):
        files["gray%d.png" % d] = png(0, d, gray(d))
    files["graya8.png"] = png(4, 8, grid(lambda x, y: ((x * 11 + y * 5) & 255, alpha(x, y))))
    files["graya16.png"] = png(4, 16, grid(lambda x, y: (((x * 11 + y * 5) & 255) << 8 | low_byte(x, y, 0),
                                                         alpha(x, y) << 8 | low_byte(x, y, 1))))
    for d in (1, 2, 4, 8):
        n = 1 << d if d < 8 else 200
        files["pal%d.png" % d] = png(3, d, grid(lambda x, y: ((x * 7 + y * 13) % n,)), plte=palette(n))
    files["pal8_trns.png"] = png(3, 8, grid(lambda x, y: ((x * 7 + y * 13) % 200,)), plte=palette(200),
                                 trns=bytes((i * 41) & 255 for i in range(150)))
    key = base_rgb(3, 2)
    files["rgb8_trns.png"] = png(2, 8, rgb8, trns=struct.pack(">HHH", *key))
    files["gray8_trns.png"] = png(0, 8, gray(8), trns=struct.pack(">H", (3 * 11 + 2 * 5) & 255))
    files["rgb8_adam7.png"] = png(2, 8, rgb8, interlace=1)
    files["rgba16_adam7.png"] = png(6, 16, rgba16, interlace=1)
    files["gray2_adam7.png"] = png(0, 2, gray(2), interlace=1)
    files["pal4_adam7.png"] = png(3, 4, grid(lambda x, y: ((x * 7 + y * 13) % 16,)), plte=palette(16), interlace=1)
    files["exif6.png"] = png(2, 8, rgb8, extra=chunk(b"eXIf", exif_block(6, le=False)))
    files["text_ok.png"] = png(2, 8, rgb8, extra=chunk(b"tEXt", b"Comment\x00fine"))

    good = files["rgb8.png"]
    bad = {}
    # bad CRC on IDAT (critical) and on tEXt (ancillary): both are errors by policy
    raw = zlib.compress(encode(rgb8, 8, 3, 0), 9)
    bad["bad_crc_idat.png"] = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
                               + chunk(b"IDAT", raw, bad_crc=True) + chunk(b"IEND", b""))
    bad["bad_crc_text.png"] = png(2, 8, rgb8, extra=chunk(b"tEXt", b"Comment\x00damaged", bad_crc=True))
    bad["truncated.png"] = good[: len(good) * 2 // 3]
    bad["no_iend.png"] = good[:-12]
    bad["zero_width.png"] = png(2, 8, rgb8, w=0, idat=zlib.compress(b"\x00" * H))
    bad["huge_50000.png"] = png(2, 8, rgb8, w=50000, h=50000, idat=zlib.compress(b"\x00" * 100))
    bad["bad_zlib.png"] = png(2, 8, rgb8, idat=raw[:10] + bytes(b ^ 0x5A for b in raw[10:40]) + raw[40:])
    bad["short_image.png"] = png(2, 8, rgb8, idat=zlib.compress(encode(rgb8, 8, 3, 0)[: W * 3 * 5]))

    for name, data in files.items():
        open(os.path.join(out, name), "wb").write(data)
    for name, data in bad.items():
        open(os.path.join(out, "bad", name), "wb").write(data)
    # the base picture as PPM, for the tools that make the other formats
    ppm = b"P6\n%d %d\n255\n" % (W, H) + bytes(c for row in rgb8 for p in row for c in p)
    open(os.path.join(out, "base.ppm"), "wb").write(ppm)


if __name__ == "__main__":
    main(sys.argv[1])
