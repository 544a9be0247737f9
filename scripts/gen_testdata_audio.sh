#!/bin/bash
# scripts/gen_testdata_audio.sh — regenerates tests/data/audio/ (the real files the audio decoder
# tests read: tests/decoders/test_audio_decode.c, test_audio_bad.c, test_audio_vad.c) and the
# fuzz seeds tests/fuzz/corpus_audio/ with the ffmpeg CLI (Debian package ffmpeg).  The outputs
# are committed, so the tests never need ffmpeg; keep them tiny (all < 400 KB).
#
# Signals (the tests assert on them): "tone" = 1000 Hz sine at amplitude 0.5; stereo files carry
# the tone at 0.4 on the left only (mean downmix -> 0.2, swresample's 0.707 default -> 0.283);
# the 5.1 file carries it at 0.6 on the centre only (mean of 6 -> 0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
D=tests/data/audio
C=tests/fuzz/corpus_audio
mkdir -p "$D" "$D/regress" "$C"
FF=(ffmpeg -hide_banner -loglevel error -y -nostdin)
OUT=(-bitexact -map_metadata -1 -fflags +bitexact -flags:a +bitexact)
tone() { echo "aevalsrc=0.5*sin(2*PI*1000*t):s=$1:d=$2"; }
left() { echo "aevalsrc=0.4*sin(2*PI*1000*t)|0:s=$1:d=$2:c=stereo"; }

# PCM WAV: every integer width and float, several rates
"${FF[@]}" -f lavfi -i "$(tone 16000 0.5)" "${OUT[@]}" -c:a pcm_s16le "$D/tone_s16_16k.wav"
"${FF[@]}" -f lavfi -i "$(tone 8000 0.5)" "${OUT[@]}" -c:a pcm_u8 "$D/tone_u8_8k.wav"
"${FF[@]}" -f lavfi -i "$(tone 44100 0.2)" "${OUT[@]}" -c:a pcm_s24le "$D/tone_s24_44k.wav"
"${FF[@]}" -f lavfi -i "$(tone 48000 0.1)" "${OUT[@]}" -c:a pcm_s32le "$D/tone_s32_48k.wav"
"${FF[@]}" -f lavfi -i "$(left 48000 0.1)" "${OUT[@]}" -c:a pcm_f32le "$D/left_f32_48k_stereo.wav"
"${FF[@]}" -f lavfi -i "$(left 44100 0.2)" "${OUT[@]}" -c:a pcm_s16le "$D/left_s16_44k_stereo.wav"
# 5.1 (FL FR FC LFE BL BR): the tone on the centre only; FLAC keeps it small
"${FF[@]}" -f lavfi -i "aevalsrc=0|0|0.6*sin(2*PI*1000*t)|0|0|0:s=48000:d=0.2:c=5.1" "${OUT[@]}" \
    -c:a flac "$D/centre_51_48k.flac"
# compressed codecs and containers
"${FF[@]}" -f lavfi -i "$(tone 16000 0.5)" "${OUT[@]}" -c:a flac "$D/tone_16k.flac"
"${FF[@]}" -f lavfi -i "$(left 44100 1)" "${OUT[@]}" -c:a libmp3lame -b:a 64k "$D/left_44k_stereo.mp3"
"${FF[@]}" -f lavfi -i "$(tone 48000 1)" "${OUT[@]}" -c:a libopus -b:a 24k "$D/tone_48k.opus"
"${FF[@]}" -f lavfi -i "$(tone 44100 1)" "${OUT[@]}" -c:a libvorbis -q:a 0 "$D/tone_44k.ogg"
"${FF[@]}" -f lavfi -i "$(tone 44100 1)" "${OUT[@]}" -c:a aac -b:a 96k "$D/tone_44k.m4a"
# MP3 without a Xing/Info header: the duration is only estimated from the bitrate
"${FF[@]}" -f lavfi -i "$(tone 44100 1)" "${OUT[@]}" -c:a libmp3lame -b:a 32k -write_xing 0 "$D/noxing_44k.mp3"
# video files with an audio track, and one without
V="color=c=blue:s=16x16:r=5:d=1"
"${FF[@]}" -f lavfi -i "$V" -f lavfi -i "$(tone 48000 1)" "${OUT[@]}" -c:v libx264 -preset ultrafast \
    -c:a aac -b:a 96k -shortest "$D/video_tone.mp4"
"${FF[@]}" -f lavfi -i "$V" -f lavfi -i "$(tone 48000 1)" "${OUT[@]}" -c:v mpeg4 -c:a libopus -b:a 24k \
    -shortest "$D/video_tone.mkv"
"${FF[@]}" -f lavfi -i "$V" -f lavfi -i "$(tone 48000 1)" "${OUT[@]}" -c:v libvpx -b:v 20k \
    -c:a libopus -b:a 24k -shortest "$D/video_tone.webm"
"${FF[@]}" -f lavfi -i "$V" "${OUT[@]}" -c:v libx264 -preset ultrafast "$D/video_only.mp4"
"${FF[@]}" -f lavfi -i "color=c=red:s=8x8" -frames:v 1 "${OUT[@]}" "$D/image.png"
# VAD: 0.6 s tone, 1.5 s digital silence, 0.6 s tone (16 kHz mono FLAC)
"${FF[@]}" -f lavfi -i "aevalsrc=0.5*sin(2*PI*440*t)*(lt(t\,0.6)+gte(t\,2.1)):s=16000:d=2.7" "${OUT[@]}" \
    -c:a flac "$D/tone_gap_tone.flac"

# bad input
"${FF[@]}" -f lavfi -i "$(tone 44100 2)" "${OUT[@]}" -c:a libmp3lame -b:a 32k /tmp/mm_full.mp3
head -c $(( $(stat -c %s /tmp/mm_full.mp3) / 2 )) /tmp/mm_full.mp3 > "$D/truncated.mp3"
# an MP3 whose Xing/Info header claims 1378125 frames (10 h at 44.1 kHz) over 2 s of data
cp /tmp/mm_full.mp3 "$D/lying_10h.mp3"
off=$(grep -obUa -e Info -e Xing "$D/lying_10h.mp3" | head -1 | cut -d: -f1)
printf '\x00\x15\x07\x4d' | dd of="$D/lying_10h.mp3" bs=1 seek=$((off + 8)) conv=notrunc status=none
rm -f /tmp/mm_full.mp3
: > "$D/empty.wav"
LC_ALL=C awk 'BEGIN { srand(7); for (i = 0; i < 2000; i++) printf "%c", int(rand() * 256) }' > "$D/random.mp3"
"${FF[@]}" -f lavfi -i "$(tone 16000 0.1)" "${OUT[@]}" -c:a pcm_s16le /tmp/mm_short.wav
# header says 10 h (data size 1,152,000,000 bytes = 36000 s of s16 16 kHz mono), 0.1 s present
cp /tmp/mm_short.wav "$D/lying_10h.wav"
printf '\x08\x20\xaa\x44' | dd of="$D/lying_10h.wav" bs=1 seek=4 conv=notrunc status=none
printf '\x00\x20\xaa\x44' | dd of="$D/lying_10h.wav" bs=1 seek=40 conv=notrunc status=none
# a WAV whose fmt chunk says 0 channels; a RIFF header with garbage after "WAVE"
cp /tmp/mm_short.wav "$D/zero_channels.wav"
printf '\x00\x00' | dd of="$D/zero_channels.wav" bs=1 seek=22 conv=notrunc status=none
cp /tmp/mm_short.wav "$D/corrupt_header.wav"
head -c 32 /dev/zero | tr '\0' '\377' | dd of="$D/corrupt_header.wav" bs=1 seek=12 conv=notrunc status=none
rm -f /tmp/mm_short.wav

# fuzz seeds: small valid files of each kind
for f in tone_u8_8k.wav tone_16k.flac left_44k_stereo.mp3 tone_48k.opus tone_44k.ogg tone_44k.m4a \
         video_tone.mkv video_tone.webm centre_51_48k.flac; do
    head -c 8192 "$D/$f" > "$C/$f"
done
cp "$D/lying_10h.wav" "$D/lying_10h.mp3" "$D/zero_channels.wav" "$C/"
du -sb "$D" "$C"
