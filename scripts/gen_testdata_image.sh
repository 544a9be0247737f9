#!/bin/bash
# scripts/gen_testdata_image.sh — regenerates tests/data/image/ (committed; the tests never need
# these tools).  Debian packages: python3, libjpeg-turbo-progs (cjpeg, djpeg), libimage-exiftool-perl,
# imagemagick, ffmpeg (libwebp encoder), libstb-dev (stb_image: the reference llama.cpp decodes
# with), libjpeg62-turbo-dev, gcc.
#   PNG variants and hostile PNGs: tests/data/image/gen_png.py (written by hand, zlib + struct)
#   JPEG: cjpeg (baseline, progressive, grey, restart markers, arithmetic), gen_tools.c (CMYK, YCCK),
#         exiftool (orientations), hand-made damage (truncated, corrupt, zero height, 50000x50000)
#   WebP / GIF / BMP / TIFF: ffmpeg and ImageMagick from the PNG base picture
#   ref/NAME.stb3.rgb: stb_image's pixels (3 channels) — what the llama.cpp-exact path must equal
#   ref/NAME.stb4.rgb: stb_image's RGBA for the alpha files;  ref/*.djpeg.rgb: libjpeg's own output
set -euo pipefail
cd "$(dirname "$0")/.."
D=tests/data/image
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
IM=/usr/bin/convert  # the real ImageMagick (not a stand-in earlier on PATH)

find "$D" -maxdepth 2 -type f ! -name 'gen_*' ! -path "$D/regress/*" -delete
mkdir -p "$D/ref" "$D/bad" "$D/regress"
/usr/bin/python3 "$D/gen_png.py" "$D"
gcc -O1 -o "$T/gen_tools" "$D/gen_tools.c" -ljpeg -lm

ppm_to_rgb() {  # strips a binary PPM header (P6 w h 255)
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
parts, i = [], 0
while len(parts) < 4:
    while d[i:i+1].isspace(): i += 1
    j = i
    while not d[j:j+1].isspace(): j += 1
    parts.append(d[i:j]); i = j
open(sys.argv[2], "wb").write(d[i+1:])
EOF
}

# ---- JPEG ----
B=$D/base.ppm
cjpeg -quality 90 "$B" > "$D/baseline.jpg"
cjpeg -quality 90 -progressive "$B" > "$D/progressive.jpg"
cjpeg -quality 90 -grayscale "$B" > "$D/gray.jpg"
cjpeg -quality 90 -restart 1 "$B" > "$D/restart.jpg"
cjpeg -quality 90 -arithmetic "$B" > "$D/arith.jpg"
"$T/gen_tools" cmyk "$B" "$D/cmyk.jpg" 0
"$T/gen_tools" cmyk "$B" "$D/ycck.jpg" 1
for o in 3 6 8; do exiftool -q -n -Orientation=$o -o "$D/exif$o.jpg" "$D/baseline.jpg"; done
djpeg -ppm "$D/baseline.jpg" > "$T/b.ppm" && ppm_to_rgb "$T/b.ppm" "$D/ref/baseline.djpeg.rgb"
djpeg -ppm "$D/progressive.jpg" > "$T/p.ppm" && ppm_to_rgb "$T/p.ppm" "$D/ref/progressive.djpeg.rgb"
djpeg -ppm -scale 2/8 "$D/baseline.jpg" > "$T/s.ppm" && ppm_to_rgb "$T/s.ppm" "$D/ref/baseline_s2.djpeg.rgb"
/usr/bin/python3 - "$D" <<'EOF'
import sys, os
d = sys.argv[1]
j = open(os.path.join(d, "baseline.jpg"), "rb").read()
bad = os.path.join(d, "bad")
open(os.path.join(bad, "truncated.jpg"), "wb").write(j[: len(j) * 2 // 3])
sof = j.index(b"\xff\xc0")
def dims(h, w):
    return j[: sof + 5] + h.to_bytes(2, "big") + w.to_bytes(2, "big") + j[sof + 9 :]
open(os.path.join(bad, "zero_height.jpg"), "wb").write(dims(0, 23))
open(os.path.join(bad, "huge_50000.jpg"), "wb").write(dims(50000, 50000))
open(os.path.join(bad, "big_9000.jpg"), "wb").write(dims(9000, 9000))   # under 100 MP, over the file
sos = j.index(b"\xff\xda")
c = bytearray(j)
for k in range(sos + 20, len(j) - 10, 7):
    c[k] = 0xFF if c[k] != 0xFF else 0x00
open(os.path.join(bad, "corrupt_scan.jpg"), "wb").write(bytes(c))
open(os.path.join(bad, "header_only.jpg"), "wb").write(j[:sos])
open(os.path.join(bad, "junk.bin"), "wb").write(bytes((i * 7919 + 13) % 251 for i in range(600)))
open(os.path.join(bad, "empty.bin"), "wb").write(b"")
open(os.path.join(bad, "jpeg_magic_only.jpg"), "wb").write(b"\xff\xd8\xff")
EOF

# ---- WebP / GIF / BMP / TIFF (from the PNG base) ----
ffmpeg -v error -y -i "$D/rgb8.png" -c:v libwebp -lossless 1 "$D/lossless.webp"
ffmpeg -v error -y -i "$D/rgb8.png" -c:v libwebp -quality 90 "$D/lossy.webp"
ffmpeg -v error -y -i "$D/rgba8.png" -c:v libwebp -lossless 1 "$D/rgba_lossless.webp"
$IM "$D/pal8.png" "$D/pal8.gif"
$IM -delay 10 "$D/pal8.png" "$D/pal4.png" "$D/anim.gif"
$IM "$D/rgb8.png" BMP3:"$D/rgb24.bmp"
$IM "$D/pal8.png" -type Palette BMP3:"$D/pal8.bmp"
$IM "$D/rgba8.png" BMP:"$D/rgba32.bmp"
$IM "$D/rgb8.png" -compress none "$D/rgb.tif"
$IM "$D/rgb8.png" -compress lzw "$D/rgb_lzw.tif"
$IM "$D/gray8.png" -compress none "$D/gray.tif"
$IM "$D/rgb16.png" -depth 16 -compress none "$D/rgb16.tif"
head -c 200 "$D/rgb24.bmp" > "$D/bad/truncated.bmp"
head -c 100 "$D/lossless.webp" > "$D/bad/truncated.webp"

# ---- stb_image references ----
for f in "$D"/*.png "$D"/*.jpg "$D"/*.gif "$D"/*.bmp; do
    n=$(basename "$f")
    "$T/gen_tools" stb "$f" "$D/ref/$n.stb3.rgb" 3 2>/dev/null || rm -f "$D/ref/$n.stb3.rgb"
done
for n in rgba8.png rgba16.png graya8.png pal8_trns.png rgb8_trns.png; do
    "$T/gen_tools" stb "$D/$n" "$D/ref/$n.stb4.rgb" 4
done
# fixture media (../shared): stb_image's pixels as SHA-256, for tests/decoders/test_image_decode.c
M=../shared/fixtures/media
if [ -d "$M" ]; then
    {
        echo "/* tests/decoders/test_image_fixture_sha.h — SHA-256 of stb_image's RGB8 pixels (stbi_load(..., 3),"
        echo " * libstb-dev) for the fixture media, made by scripts/gen_testdata_image.sh; included by test_image_decode.c. */"
        for f in scene-1024x256.png scene-333x517.png scene-64x64.png test_image.png; do
            "$T/gen_tools" stb "$M/$f" "$T/o.rgb" 3
            wh=$(/usr/bin/python3 -c "import struct,sys;print('%d, %d' % struct.unpack('>II', open(sys.argv[1],'rb').read()[16:24]))" "$M/$f")
            echo "{\"$f\", $wh, \"$(sha256sum "$T/o.rgb" | cut -c1-64)\"},"
        done
    } > tests/decoders/test_image_fixture_sha.h
fi
# fuzz seeds: one small file per decoder path
C=tests/fuzz/corpus_image
mkdir -p "$C"
for n in rgb8.png rgba16_adam7.png pal4.png gray2_adam7.png pal8_trns.png exif6.png baseline.jpg progressive.jpg \
         gray.jpg arith.jpg restart.jpg cmyk.jpg ycck.jpg exif6.jpg lossless.webp lossy.webp rgba_lossless.webp \
         pal8.gif anim.gif rgb24.bmp pal8.bmp rgba32.bmp rgb_lzw.tif gray.tif; do cp "$D/$n" "$C/"; done
rm -f "$D/base.ppm"
du -sh "$D"
