#!/usr/bin/env bash
# `mmpipe ask` through the real binary, with the bundled random-weight models (samples/models:
# embed-tiny for retrieval, where BM25 does the work; tiny-gemma4 writes a gibberish answer, so
# the checks are on what it was given and how it is reported).  Checks, with python3:
#   - the sources are exactly `search --json`'s hits for the same question and -k (path, score,
#     order), numbered 1..k, with "start"/"end" for a text and "page" for a PDF;
#   - the prompt (--json "prompt") holds each chunk numbered [n] with its path and span, then the
#     question; the answer is the greedy completion of that one user turn (`generate --chat` of
#     the same prompt gives the same text), cut at -n tokens (a shorter -n gives a prefix);
#   - text mode prints the answer, then "Sources:" and one "[n] path  span" line per source;
#   - --json is one line; an absent collection answers "Nothing found" (exit 0, no sources);
#   - usage errors exit 2 (no question, no --embed-model, no -m); an unreadable model or a missing
#     database exit 1 naming the file.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
S=$HERE/../../samples
E=$S/models/embed-tiny.gguf
G=$S/models/tiny-gemma4-e2b-q8_0.gguf
[ -f "$E" ] && [ -f "$G" ] || skip "the sample models under samples/models are missing"
DATA=$HERE/../data/document
[ -f "$DATA/pages.pdf" ] || skip "tests/data/document/pages.pdf missing"
DB=a.db
mkdir -p docs
cat >docs/birds.md <<'EOF'
# Birds

## Herons

The marmalade lighthouse keeper counts seventeen herons every Tuesday.

## Gulls

Gulls steal chips from the pier in summer.
EOF
printf 'The periwinkle submarine dives below the harbour at dawn.\n' >docs/sub.txt
cp "$DATA/pages.pdf" docs/pages.pdf
run ingest --db "$DB" --embed-model "$E" --quiet docs
expect_rc 0 "ingest the documents"
Q="how many herons does the marmalade lighthouse keeper count?"

# ---- sources = search's hits; prompt; answer = the completion of that prompt ----
run search --db "$DB" --embed-model "$E" -k 3 --json "$Q"
expect_rc 0 "search"
cp .out search.json
run ask --db "$DB" --embed-model "$E" -m "$G" -k 3 -n 24 --json "$Q"
expect_rc 0 "ask --json"
eq "$(wc -l <.out | tr -d ' ')" 1 "ask --json prints one line"
cp .out ask.json
run ask --db "$DB" --embed-model "$E" -m "$G" -k 3 -n 6 --json "$Q"
expect_rc 0 "ask -n 6"
cp .out short.json
"$PY" - search.json ask.json short.json "$Q" <<'PY' || fail "ask --json does not check out: $(head -c 1200 ask.json)"
import json, sys
hits = json.load(open(sys.argv[1]))
a = json.load(open(sys.argv[2]))
short = json.load(open(sys.argv[3]))
q = sys.argv[4]
assert set(a) >= {"answer", "sources", "prompt"}, a.keys()
src = a["sources"]
assert len(src) == len(hits) == 3, (src, hits)
for i, (s, h) in enumerate(zip(src, hits)):
    assert s["n"] == i + 1 and s["path"] == h["path"] and abs(s["score"] - h["score"]) < 1e-12, (s, h)
    assert ("page" in s) == ("page" in h) and s.get("start") == h.get("start") and s.get("end") == h.get("end"), (s, h)
assert src[0]["path"] == "docs/birds.md" and isinstance(src[0]["start"], int), src[0]
p = a["prompt"]
assert p.rstrip().endswith("Question: " + q), p[-200:]
at = 0
for s, h in zip(src, hits):
    span = "page %d" % s["page"] if "page" in s else "bytes %d-%d" % (s["start"], s["end"])
    head = "[%d] %s, %s\n" % (s["n"], s["path"], span)
    k = p.find(head + h["text"], at)
    assert k > at, ("source not in the prompt in order", head)
    at = k
assert "cite" in p.lower() and "[1]" in p
assert isinstance(a["answer"], str) and a["answer"], a["answer"]
assert short["prompt"] == p, "same question, same prompt"
ascii_ = lambda t: "".join(c for c in t if ord(c) < 128 and c != "\ufffd")
sa, la = ascii_(short["answer"]), ascii_(a["answer"])
assert la.startswith(sa[:-2]) and len(sa) < len(la), (short["answer"], a["answer"])
open("prompt.txt", "w", encoding="utf-8").write(p)
PY
# the same prompt as one chat turn through `generate` gives the same greedy text
"$PY" - "$MM" "$G" ask.json <<'PY' || fail "the answer is not the completion of the prompt"
import json, subprocess, sys
a = json.load(open(sys.argv[3]))
out = subprocess.run([sys.argv[1], "generate", "-m", sys.argv[2], "--chat", "--temp", "0", "-n", "24", "-p", a["prompt"]],
                     capture_output=True, check=True).stdout.decode("utf-8", "replace")
ascii_ = lambda t: "".join(c for c in t if ord(c) < 128).strip()
assert ascii_(out) == ascii_(a["answer"]), (out, a["answer"])
PY

# ---- a PDF source carries its page ----
run ask --db "$DB" --embed-model "$E" -m "$G" -k 1 -n 4 --json "café"
expect_rc 0 "ask about the PDF"
"$PY" - .out <<'PY' || fail "PDF source: $(head -c 600 .out)"
import json, sys
a = json.load(open(sys.argv[1]))
s = a["sources"]
assert len(s) == 1 and s[0]["path"] == "docs/pages.pdf" and s[0]["page"] == 2 and "start" not in s[0], s
assert "[1] docs/pages.pdf, page 2\n" in a["prompt"], a["prompt"][:400]
PY

# ---- text mode ----
run ask --db "$DB" --embed-model "$E" -m "$G" -k 2 -n 8 "$Q"
expect_rc 0 "ask (text)"
"$PY" - .out ask.json <<'PY' || fail "text output: $(head -c 600 .out)"
import json, sys, re
t = open(sys.argv[1], encoding="utf-8", errors="replace").read()
ans, sep, rest = t.rpartition("\nSources:\n")
assert sep and ans.strip(), t
lines = rest.strip("\n").split("\n")
assert len(lines) == 2, lines
src = json.load(open(sys.argv[2]))["sources"]
for i, l in enumerate(lines):
    s = src[i]
    want = "[%d] %s  bytes %d-%d" % (i + 1, s["path"], s["start"], s["end"]) if "start" in s else "[%d] %s  page %d" % (i + 1, s["path"], s["page"])
    assert l == want, (l, want)
PY

# ---- nothing found ----
run ask --db "$DB" --embed-model "$E" -m "$G" --collection nosuch --json "$Q"
expect_rc 0 "ask in an absent collection"
"$PY" - .out <<'PY' || fail "nothing found: $(head -c 400 .out)"
import json, sys
a = json.load(open(sys.argv[1]))
assert a["sources"] == [] and "nothing found" in a["answer"].lower() and "nosuch" in a["answer"], a
PY
run ask --db "$DB" --embed-model "$E" -m "$G" --collection nosuch "$Q"
expect_rc 0 "ask in an absent collection (text)"
grep -qi "nothing found" .out || fail "text answer says nothing was found: $(head -c 300 .out)"
grep -q "Sources:" .out && fail "no Sources list when nothing was found"

# ---- errors ----
run ask --db "$DB" --embed-model "$E" -m "$G"
expect_rc 2 "ask without a question"
run ask --db "$DB" -m "$G" "$Q"
expect_rc 2 "ask without --embed-model"
err_has "--embed-model" "names --embed-model"
run ask --db "$DB" --embed-model "$E" "$Q"
expect_rc 2 "ask without -m"
err_has "-m" "names -m"
run ask --db "$DB" --embed-model "$E" -m nosuch.gguf "$Q"
expect_rc 1 "ask with a missing model"
err_has "nosuch.gguf" "names the missing model"
run ask --db "$DB" --embed-model "$E" -m "$G" --collection nosuch "$Q" --bogus
expect_rc 2 "ask with an unknown option"
run ask --db missing.db --embed-model "$E" -m "$G" "$Q"
expect_rc 1 "ask without a database"
err_has "missing.db" "names the missing database"
[ ! -e missing.db ] || fail "ask created a database"
echo "PASS: ask"
