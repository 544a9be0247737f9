#!/usr/bin/env bash
# Progress on stderr through the real binary (a worker running throttled `hash` jobs):
#   - not a terminal: plain lines "worker: N/TOTAL finished, F failed, R/s, ETA D" every 5 s, the
#     ETA being what is left / the rate (checked against the line's own numbers), and a last line
#     with the elapsed time, "(finished)";
#   - a terminal (util-linux `script` gives the command a pty): a redrawn bar with the same
#     counts, rate and ETA;
#   - --quiet: nothing on stderr (plain), nothing of the bar (terminal).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
mkdir -p in
for i in $(seq 1 12); do echo "file $i" >"in/f$i"; done

# ---- plain lines (stderr is a file) ----
run jobs add --db p.db --quiet hash in
expect_rc 0 "jobs add"
run worker --db p.db --throttle-ms 500
expect_rc 0 "worker (12 jobs of 0.5 s)"
"$PY" - "$T/.err" <<'PY' || fail "plain progress lines: $(shown)"
import math, re, sys
lines = open(sys.argv[1]).read().splitlines()
mid = [re.fullmatch(r"worker: (\d+)/(\d+) finished, (\d+) failed, ([\d.]+)/s, ETA (?:(\d+)m)?(\d+)s", l) for l in lines]
mid = [m for m in mid if m]
assert mid, "no line with counts, rate and ETA while running: %r" % lines
for m in mid:
    fin, tot, failed, rate = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    eta = int(m[5] or 0) * 60 + int(m[6])
    assert tot == 12 and 0 < fin < tot and failed == 0, m[0]
    want = (tot - fin) / rate  # the rate is printed rounded to 0.1/s
    lo, hi = (tot - fin) / (rate + 0.05), (tot - fin) / max(rate - 0.05, 1e-9)
    assert math.floor(lo) <= eta <= math.ceil(hi) + 1, (m[0], want, eta)
last = [l for l in lines if l.endswith("(finished)")]
assert len(last) == 1 and re.fullmatch(r"worker: 12/12 finished, 0 failed, [\d.]+/s, in (\d+m)?\d+s \(finished\)", last[0]), lines
PY

# ---- --quiet ----
rm -f p.db*
run jobs add --db p.db --quiet hash in
run worker --db p.db --quiet --throttle-ms 20
expect_rc 0 "worker --quiet"
[ ! -s "$T/.err" ] || fail "--quiet printed on stderr: $(shown)"

# ---- a terminal: the bar ----
command -v script >/dev/null || skip "script (util-linux) not installed: the terminal bar is not checked"
rm -f p.db*
run jobs add --db p.db --quiet hash in
script -qec "$(printf '%q ' "$MM" worker --db p.db --throttle-ms 100)" /dev/null >tty.out 2>&1 </dev/null
"$PY" - tty.out <<'PY' || fail "terminal progress: $(tr '\r' '\n' <tty.out | head -5)"
import re, sys
t = open(sys.argv[1], encoding="utf-8", errors="replace").read()
draws = [d for d in re.split(r"[\r\n]", t) if d.startswith("worker [")]
bars = [re.match(r"worker \[([#.]{30})\] (\d+)/12 finished, 0 failed, ([\d.]+)/s, (ETA (\d+m)?\d+s|in (\d+m)?\d+s)", d) for d in draws]
assert all(bars) and len(bars) >= 3, draws
assert any(b[4].startswith("ETA") and int(b[2]) < 12 for b in bars), "no ETA while running"
assert bars[-1][2] == "12" and bars[-1][4].startswith("in ") and bars[-1][1] == "#" * 30, draws[-1]
PY
rm -f p.db*
run jobs add --db p.db --quiet hash in
script -qec "$(printf '%q ' "$MM" worker --db p.db --quiet --throttle-ms 20)" /dev/null >tty.out 2>&1 </dev/null
if grep -q "finished" tty.out; then fail "--quiet on a terminal drew the bar: $(tr '\r' '\n' <tty.out | head -3)"; fi
eq "$(q p.db "SELECT count(*) FROM jobs WHERE state = 'done'")" 12 "the quiet terminal run did the jobs"
echo "PASS: progress"
