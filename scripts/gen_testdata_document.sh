#!/bin/bash
# scripts/gen_testdata_document.sh — regenerates the document test files in tests/data/document/
# (text in several encodings, Markdown, HTML, and PDFs written object by object by python3) that
# tests/decoders/test_doc*.c assert on exactly.  The output is deterministic; the files are kept
# in the repository, so this only runs when they change.  Needs /usr/bin/python3 and qpdf (for
# the encrypted PDFs: `apt-get install qpdf`).
set -euo pipefail
cd "$(dirname "$0")/.."
D=tests/data/document
mkdir -p "$D"
/usr/bin/python3 - "$D" <<'PY'
import sys, zlib
D = sys.argv[1]

def w(name, data):
    with open(f"{D}/{name}", "wb") as f:
        f.write(data)

# ---- plain text in several encodings ------------------------------------------------------
para = "Caf\u00e9 cr\u00e8me \u2014 na\u00efve r\u00e9sum\u00e9.\nSecond line.\n\nThird paragraph \u20ac5.\n"
w("utf8.txt", para.encode("utf-8"))
w("utf8_bom.txt", b"\xef\xbb\xbf" + para.encode("utf-8"))
w("utf16le.txt", b"\xff\xfe" + para.replace("\n", "\r\n").encode("utf-16-le"))
w("utf16be.txt", b"\xfe\xff" + (para + "Emoji \U0001F600 end.\n").encode("utf-16-be"))
w("latin1.txt", "Caf\u00e9 na\u00efve \u00bfqu\u00e9? \u201cquoted\u201d \u20ac\n".encode("cp1252"))
w("binary.txt", bytes(range(256)) * 4)
w("empty.txt", b"")

# ---- PDFs ------------------------------------------------------------------------------------
def pdf(pages, extra_objs=None, count=None, compress=False, kids_override=None):
    """pages: list of content-stream bytes. Returns a minimal valid PDF with a correct xref."""
    objs = {}
    objs[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objs[3] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    kids = []
    n = 4
    for c in pages:
        pid, cid = n, n + 1
        n += 2
        kids.append(pid)
        objs[pid] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                     b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % cid)
        if compress:
            z = zlib.compress(c, 9)
            objs[cid] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(z) + z + b"\nendstream"
        else:
            objs[cid] = b"<< /Length %d >>\nstream\n" % len(c) + c + b"\nendstream"
    kid_refs = kids_override if kids_override is not None else b" ".join(b"%d 0 R" % k for k in kids)
    objs[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kid_refs, count if count is not None else len(kids))
    for k, v in (extra_objs or {}).items():
        objs[k] = v
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offs = {}
    for k in sorted(objs):
        offs[k] = len(out)
        out += b"%d 0 obj\n" % k + objs[k] + b"\nendobj\n"
    xref = len(out)
    top = max(objs) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % top
    for k in range(1, top):
        out += (b"%010d 00000 n \n" % offs[k]) if k in offs else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (top, xref)
    return bytes(out)

def lines(*items):
    """items: (x, y, text) -> a content stream drawing each string at (x, y) in 12 pt Helvetica."""
    s = b"BT /F1 12 Tf\n"
    for x, y, t in items:
        s += b"1 0 0 1 %d %d Tm (%s) Tj\n" % (x, y, t.encode("cp1252").replace(b"(", b"\\(").replace(b")", b"\\)"))
    return s + b"ET"

pages = [
    lines((72, 720, "Page one title"), (72, 690, "First paragraph line one,"),
          (72, 676, "and line two of it."), (72, 600, "A second paragraph far below.")),
    lines((72, 720, "Page two says caf\u00e9.")),
    b"",
    lines((72, 720, "Last page.")),
]
three = pdf(pages)
w("pages.pdf", three)
w("truncated.pdf", three[: len(three) // 2])
w("nopages.pdf", pdf([]))
# A page tree claiming a million pages with one real kid.
w("bomb_count.pdf", pdf([lines((72, 720, "only page"))], count=1000000))
# A real 10-level page tree of shared nodes: 4^10 = 1,048,576 leaves from a tiny file.
tree = {}
for lvl in range(10):
    me, kid = 100 + lvl, 101 + lvl
    ref = b"4 0 R" if lvl == 9 else b"%d 0 R" % kid
    tree[me] = b"<< /Type /Pages /Kids [%s %s %s %s] /Count %d >>" % (ref, ref, ref, ref, 4 ** (10 - lvl))
w("bomb_tree.pdf", pdf([lines((72, 720, "leaf"))], extra_objs=tree, count=4 ** 10, kids_override=b"100 0 R"))
# A flate bomb: one page whose 20 kB compressed stream draws ~4 MB of text.
big = b"BT /F1 1 Tf\n" + b"".join(b"1 0 0 1 0 %d Tm (%s) Tj\n" % (i % 700, b"A" * 200) for i in range(20000)) + b"ET"
w("bomb_flate.pdf", pdf([big], compress=True))
PY
# Encrypted variants: a user password (cannot be opened), and an owner password only (opens).
if command -v qpdf > /dev/null; then
    qpdf --encrypt secret owner 256 -- "$D/pages.pdf" "$D/encrypted.pdf"
    qpdf --encrypt "" owner 256 --print=none --extract=n -- "$D/pages.pdf" "$D/encrypted_owner.pdf"
else
    echo "qpdf not found: encrypted PDFs not regenerated" >&2
fi
ls -l "$D"
