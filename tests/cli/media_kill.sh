#!/usr/bin/env bash
# `mmpipe caption` killed with SIGKILL mid-run, then run again: every image ends with exactly
# one caption.  24 distinct PNGs (written here with python's zlib) are captioned with
# --throttle-ms 150 by the bundled random-weight model; after a few are done the process is
# killed.  Checked with sqlite3: no done job without its result, the jobs in flight (1..4: the
# batching scheduler decodes up to --parallel 4 together) left running under the dead pid; the
# re-run (no lease wait: dead same-host pid) finishes all of them, each interrupted job was
# claimed twice (crashes 1), every other job once, one result per image,
# and the JSONL export lists each image once.
S=$(cd "$(dirname "$0")/../../samples" && pwd) || exit 1
. "$(dirname "$0")/lib.sh" "$@"
MOD=(-m "$S/models/tiny-gemma4-e2b-q8_0.gguf" --mmproj "$S/models/tiny-mmproj-gemma4va.gguf")
DB=k.db
N=24
mkdir pics
"$PY" - pics $N <<'PY' || fail "writing test PNGs"
import struct, sys, zlib
d, n = sys.argv[1], int(sys.argv[2])
def chunk(t, b):
    return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
for i in range(n):
    w = h = 48
    raw = b"".join(b"\0" + b"".join(bytes([(i * 10 + x) % 256, (y * 5) % 256, (i * 7 + x + y) % 256]) for x in range(w))
                   for y in range(h))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
          chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(f"{d}/p{i:02d}.png", "wb").write(png)
PY

"$MM" caption --db "$DB" "${MOD[@]}" --quiet --throttle-ms 150 pics >c1.out 2>c1.err &
cpid=$!
d=0
for _ in $(seq 1 400); do
    d=$(sqlite3 "$DB" "SELECT count(*) FROM jobs WHERE state='done'" 2>/dev/null || echo 0)
    [ "${d:-0}" -ge 4 ] && break
    sleep 0.05
done
kill -9 "$cpid" 2>/dev/null || fail "caption ended before it could be killed (done: $d) [$(cat c1.err)]"
wait "$cpid" 2>/dev/null
eq "$?" 137 "killed caption's exit status"
integrity "$DB" "right after the kill"
done1=$(q "$DB" "SELECT count(*) FROM jobs WHERE state='done'")
[ "$done1" -ge 4 ] && [ "$done1" -lt $N ] || fail "done jobs at the kill: expected 4..$((N - 1)), got $done1"
# the batching scheduler keeps up to --parallel (4) jobs in flight: each of them was running
nrun=$(q "$DB" "SELECT count(*) FROM jobs WHERE state='running' AND lease_owner LIKE '%:$cpid:%'")
[ "$nrun" -ge 1 ] && [ "$nrun" -le 4 ] || fail "jobs left running under the killed process: expected 1..4, got $nrun"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='running'")" "$nrun" "running jobs are the killed process's"
rids=$(q "$DB" "SELECT group_concat(id) FROM jobs WHERE state='running'")

run caption --db "$DB" "${MOD[@]}" --out caps.jsonl pics
expect_rc 0 "caption after the kill"
integrity "$DB" "after the re-run"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='caption' AND state='done'")" $N "done jobs at the end"
eq "$(q "$DB" "SELECT count(*) FROM results")" $N "results at the end"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE id IN ($rids) AND (crashes != 1 OR claims != 2)")" 0 "interrupted jobs: one crash, two claims each"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE id NOT IN ($rids) AND (claims != 1 OR crashes != 0 OR attempts != 0)")" 0 \
    "other jobs ran exactly once"
"$PY" - caps.jsonl $N <<'PY' || fail "caps.jsonl after the kill"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
paths = [r["path"] for r in recs]
assert len(paths) == int(sys.argv[2]) == len(set(paths)), (len(paths), len(set(paths)))
PY
echo "PASS: media_kill (killed after $done1 captions)"
