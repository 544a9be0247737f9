#!/bin/bash
# scripts/gen_samples.sh — makes the demo inputs under samples/ (committed; run again only to
# change them): a few small pictures drawn with ImageMagick (one with alpha, one JPEG whose
# EXIF orientation says "rotate"), two short speech clips spoken by espeak-ng plus one of
# silence (WAV and MP3 through ffmpeg), and the demo model pair: random-weight tiny Gemma 4
# E2B-layout text model (Q8_0) + a gemma4va mmproj (vision + audio towers), made with the
# generators in ../shared/tools (MMPIPE_# a short video whose audio track is the "hello" speech (transcribe reads the audio of videos)
mkdir -p samples/video
ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=96x64:rate=5 -i "$A/hello.wav" -shortest \
       -c:v mpeg4 -q:v 10 -c:a aac -b:a 24k -ac 1 samples/video/hello.mp4

SHARED=DIR to point elsewhere).  Random weights: the
# captions and transcripts are gibberish; the demo shows the pipeline, not a model.
# Needs: ImageMagick (convert), espeak-ng, ffmpeg, python3 with numpy for the models.
set -euo pipefail
cd "$(dirname "$0")/.."
I=samples/images A=samples/audio M=samples/models
mkdir -p "$I" "$A" "$M"

convert -size 160x120 gradient:skyblue-white -fill forestgreen -draw "rectangle 0,90 160,120" \
        -fill yellow -draw "circle 125,30 125,42" -strip "$I/landscape.png"
convert -size 128x128 xc:none -fill tomato -draw "circle 64,64 64,20" -fill navy -draw "rectangle 40,56 88,72" \
        -strip "PNG32:$I/logo-alpha.png"
convert -size 144x96 pattern:checkerboard -fill darkorange -draw "polygon 72,10 130,86 14,86" \
        -quality 85 -strip "$I/triangle.jpg"
# a portrait photo stored sideways: EXIF orientation 6 (mmpipe applies it unless --no-exif)
convert -size 96x144 gradient:purple-pink -fill white -draw "rectangle 20,20 76,60" -strip \
        -rotate 270 -quality 85 -orient RightTop "$I/rotated-exif.jpg"

say() { # say NAME TEXT
    espeak-ng -v en-us -s 150 -w "/tmp/mm_$1.wav" "$2"
    ffmpeg -nostdin -v error -y -i "/tmp/mm_$1.wav" -ac 1 -ar 16000 -c:a pcm_s16le "$A/$1.wav"
    ffmpeg -nostdin -v error -y -i "/tmp/mm_$1.wav" -ac 1 -ar 16000 -c:a libmp3lame -b:a 32k "$A/$1.mp3"
    rm -f "$A/$1.wav.tmp" "/tmp/mm_$1.wav"
}
say hello "Hello, this is mmpipe. It transcribes recordings with a local model."
say meeting "The meeting starts at nine. Please bring the quarterly report. Thank you."
rm -f "$A/meeting.wav" "$A/hello.mp3" # one WAV and one MP3 are enough
ffmpeg -nostdin -v error -y -f lavfi -i anullsrc=r=16000:cl=mono -t 2 -c:a pcm_s16le "$A/silence.wav"

# a short video whose audio track is the "hello" speech (transcribe reads the audio of videos)
mkdir -p samples/video
ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=96x64:rate=5 -i "$A/hello.wav" -shortest \
       -c:v mpeg4 -q:v 10 -c:a aac -b:a 24k -ac 1 samples/video/hello.mp4

SHARED=${MMPIPE_SHARED:-../shared}
if [ -f "$SHARED/tools/make_tiny.py" ]; then
    PY=/usr/bin/python3
    # 6 layers (SSSSFS, the last one sharing KV) instead of the preset's 10: half the size
    "$PY" "$SHARED/tools/make_tiny.py" --preset gemma4-e2b --dtype Q8_0 --set n_layer=6 --set n_kv_shared=1 \
        --set layer_types=SSSSFS --out "$M/tiny-gemma4-e2b-q8_0.gguf"
    "$PY" "$SHARED/tools/make_mmproj.py" --kind gemma4va --out "$M/tiny-mmproj-gemma4va.gguf"
    rm -f "$M"/*.gguf.json
else
    echo "note: $SHARED/tools not found: models in $M left as they are" >&2
fi
du -sh samples
