#!/usr/bin/python3
"""tests/engine/gguf_ref.py — reference data for the engine's GGUF / tensor-type tests.

Uses ../shared/tools/gguf_writer.py (its reader, quantisers and dequantisers) and
numpy as the oracle the C code is compared with.  Commands:

  dump TOOLS FILE          one line per key / tensor (see dump()), parsed by test_gguf_fixtures.c
  gen TOOLS OUT.gguf       a file with every metadata type and one tensor of every
                           dequantisable type; beside it OUT.gguf.<i>.f32 holds
                           gguf_writer's dequantisation of tensor i (raw float32)
  deq TOOLS FILE NAME OUT  gguf_writer's dequantisation of tensor NAME of FILE (raw float32)
  corpus TOOLS DIR         the tiny seed files of tests/fuzz/corpus_gguf/
  fp16 OUT_DIR             f16/bf16 reference tables (numpy; no TOOLS needed)

Names and strings are printed as hex so that any byte survives.
"""
import hashlib
import os
import struct
import sys

import numpy as np


def load_tools(tools):
    sys.path.insert(0, tools)
    import gguf_writer  # noqa: E402
    return gguf_writer


def canon(vt, sub, v, VT):
    """Canonical bytes of a value: numeric elements little-endian at their own
    width (bool as one byte), strings as u64 length + bytes."""
    fmt = {VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h", VT.UINT32: "<I",
           VT.INT32: "<i", VT.FLOAT32: "<f", VT.BOOL: "<B", VT.UINT64: "<Q", VT.INT64: "<q",
           VT.FLOAT64: "<d"}
    t = sub if vt == VT.ARRAY else vt
    items = list(v) if vt == VT.ARRAY else [v]
    out = bytearray()
    for x in items:
        if t == VT.STRING:
            b = x.encode("utf-8", errors="surrogateescape")
            out += struct.pack("<Q", len(b)) + b
        else:
            out += struct.pack(fmt[t], int(x) if t not in (VT.FLOAT32, VT.FLOAT64) else float(x))
    return len(items), hashlib.sha256(out).hexdigest()


def dump(gw, path):
    r = gw.GGUFReader(path)
    VT = gw.VT
    print(f"version {r.version}")
    print(f"alignment {int(r.kv.get('general.alignment', 32))}")
    print(f"n_kv {len(r.kv)}")
    print(f"n_tensors {len(r.tensors)}")
    for k, v in r.kv.items():
        vt, sub = r.kv_types[k]
        n, h = canon(vt, sub, v, VT)
        print(f"kv {k.encode('utf-8', 'surrogateescape').hex()} {vt} {sub if sub is not None else vt} {n} {h}")
    for t in r.tensors.values():
        ne = list(t.ne) + [1] * (4 - len(t.ne))
        print(f"tensor {t.name.encode().hex()} {t.gtype} {len(t.ne)} {ne[0]} {ne[1]} {ne[2]} {ne[3]} "
              f"{t.offset} {t.nbytes}")


def gen(gw, out):
    GT, VT = gw.GT, gw.VT
    rng = np.random.default_rng(1234)
    w = gw.GGUFWriter("testarch", alignment=64)
    w.add_str("general.name", "every type")
    w.add_kv("t.u8", VT.UINT8, 200)
    w.add_kv("t.i8", VT.INT8, -100)
    w.add_kv("t.u16", VT.UINT16, 65000)
    w.add_kv("t.i16", VT.INT16, -32000)
    w.add_kv("t.u32", VT.UINT32, 4000000000)
    w.add_kv("t.i32", VT.INT32, -2000000000)
    w.add_kv("t.f32", VT.FLOAT32, 3.5)
    w.add_kv("t.bool", VT.BOOL, True)
    w.add_kv("t.str", VT.STRING, "h\u00e9llo \u2581world")
    w.add_kv("t.u64", VT.UINT64, 2 ** 63 + 5)
    w.add_kv("t.i64", VT.INT64, -(2 ** 62))
    w.add_kv("t.f64", VT.FLOAT64, -1.25e300)
    w.add_kv("t.empty_str", VT.STRING, "")
    for name, vt, vals in [("u8", VT.UINT8, [0, 1, 255]), ("i8", VT.INT8, [-128, 127]),
                           ("u16", VT.UINT16, [1, 65535]), ("i16", VT.INT16, [-32768, 5]),
                           ("u32", VT.UINT32, [7, 2 ** 32 - 1]), ("i32", VT.INT32, [-(2 ** 31), 9]),
                           ("f32", VT.FLOAT32, [0.5, -2.0, 1e-30]), ("bool", VT.BOOL, [True, False, True]),
                           ("u64", VT.UINT64, [2 ** 63 + 7, 3]), ("i64", VT.INT64, [-(2 ** 63), 4]),
                           ("f64", VT.FLOAT64, [1.0 / 3.0, -0.0]),
                           ("str", VT.STRING, ["a", "", "\u2581tok", "<0x0A>", "x" * 300])]:
        w.add_kv("arr." + name, VT.ARRAY, vals, vt)
    w.add_kv("arr.empty", VT.ARRAY, [], VT.INT32)
    # tensors: every dequantisable type, rows with ordinary, zero, tiny and huge values
    types = [("F32", GT.F32), ("F16", GT.F16), ("BF16", GT.BF16), ("Q8_0", GT.Q8_0), ("Q4_0", GT.Q4_0),
             ("Q4_1", GT.Q4_1), ("Q5_0", GT.Q5_0), ("Q5_1", GT.Q5_1), ("Q4_K", GT.Q4_K), ("Q5_K", GT.Q5_K),
             ("Q6_K", GT.Q6_K)]
    names = []
    for tname, gt in types:
        rows, cols = 6, 512
        x = rng.standard_normal((rows, cols)).astype(np.float32)
        x[1] *= 1e3
        x[2, :] = 0
        x[3] = rng.uniform(-1e-6, 1e-6, cols).astype(np.float32)
        x[4] = np.abs(x[4]) + 0.25               # all positive (min > 0 paths)
        x[5, ::7] = 60000.0 * np.sign(x[5, ::7])
        name = f"w.{tname.lower()}"
        w.add_tensor(name, x, tname)
        names.append(name)
    # a 3-D and a 4-D tensor
    w.add_tensor("w.3d", rng.standard_normal((2, 3, 64)).astype(np.float32), "Q8_0")
    w.add_tensor("w.4d", rng.standard_normal((2, 1, 3, 32)).astype(np.float32), "F16")
    w.write(out)
    r = gw.GGUFReader(out)
    for i, t in enumerate(r.tensors.values()):
        r.tensor(t.name).astype(np.float32).tofile(f"{out}.{i}.f32")
    print(f"wrote {out} with {len(r.tensors)} tensors")


def deq(gw, path, name, out):
    r = gw.GGUFReader(path)
    r.tensor(name).astype(np.float32).tofile(out)


def corpus(gw, outdir):
    """Two tiny valid files: every metadata type + one small tensor per type;
    and a vocab-like file with alignment 64, string arrays and 3-D tensors."""
    GT, VT = gw.GT, gw.VT
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(5)
    w = gw.GGUFWriter("llama")
    w.add_u32("llama.block_count", 1)
    w.add_u32("llama.embedding_length", 32)
    w.add_kv("t.i8", VT.INT8, -3)
    w.add_kv("t.u16", VT.UINT16, 7)
    w.add_kv("t.i64", VT.INT64, -9)
    w.add_kv("t.f64", VT.FLOAT64, 0.5)
    w.add_bool("t.b", True)
    w.add_kv("t.a", VT.ARRAY, [1, 2, 3], VT.INT16)
    for tn, cols in [("F32", 8), ("F16", 8), ("BF16", 8), ("Q8_0", 32), ("Q4_0", 32), ("Q4_1", 32),
                     ("Q5_0", 32), ("Q5_1", 32), ("Q4_K", 256), ("Q5_K", 256), ("Q6_K", 256)]:
        w.add_tensor("t." + tn.lower(), rng.standard_normal((1, cols)).astype(np.float32), tn)
    w.write(os.path.join(outdir, "types.gguf"))
    w = gw.GGUFWriter("gemma4", alignment=64)
    w.add_str("tokenizer.ggml.model", "gemma4")
    w.add_arr("tokenizer.ggml.tokens", ["<pad>", "<eos>", "\u2581a", "<0x0A>", "b"], VT.STRING)
    w.add_arr("tokenizer.ggml.scores", [0.0, -1.0, -2.0, -3.0, -4.0], VT.FLOAT32)
    w.add_arr("gemma4.attention.sliding_window_pattern", [True, False], VT.BOOL)
    w.add_arr("gemma4.feed_forward_length", [64, 128], VT.UINT32)
    w.add_u32("gemma4.block_count", 2)
    w.add_tensor("token_embd.weight", rng.standard_normal((5, 32)).astype(np.float32), "Q8_0")
    w.add_tensor("blk.0.x", rng.standard_normal((2, 2, 32)).astype(np.float32), "F16")
    w.add_tensor("output_norm.weight", rng.standard_normal((32,)).astype(np.float32), "F32")
    w.write(os.path.join(outdir, "vocab_align64.gguf"))


def fp16_tables(outdir):
    """f16 -> f32 for all 65536 halves; f32 -> f16 and f32 -> bf16 for a set of
    floats: every half, every midpoint between neighbouring halves and its two
    neighbours, every bf16 pattern with low halves 0x0000/0x7FFF/0x8000/0x8001/
    0xFFFF, and random bit patterns."""
    os.makedirs(outdir, exist_ok=True)
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    np.seterr(all="ignore")
    h.view(np.float16).astype(np.float32).tofile(os.path.join(outdir, "f16_to_f32.bin"))
    f = h.view(np.float16).astype(np.float32)
    fin = np.isfinite(f)
    fs = np.sort(np.unique(f[fin]))
    a, b = fs[:-1].astype(np.float64), fs[1:].astype(np.float64)
    mid = ((a + b) / 2).astype(np.float32)  # exact: halves have 11 bits
    mu = mid.view(np.uint32)
    near = np.concatenate([mu, mu + 1, mu - 1]).view(np.float32)
    hi = np.arange(65536, dtype=np.uint32) << 16
    bfp = np.concatenate([hi | lo for lo in (0, 0x7FFF, 0x8000, 0x8001, 0xFFFF)])
    rnd = np.random.default_rng(7).integers(0, 2 ** 32, 1 << 20, dtype=np.uint64).astype(np.uint32)
    xs = np.concatenate([f.view(np.uint32), near.view(np.uint32), bfp, rnd]).astype(np.uint32)
    xs.tofile(os.path.join(outdir, "f32_in.bin"))
    xf = xs.view(np.float32)
    xf.astype(np.float16).view(np.uint16).tofile(os.path.join(outdir, "f32_to_f16.bin"))
    u = xs.astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16).astype(np.uint16)
    r = np.where(nan, ((u >> 16) | 64).astype(np.uint16), r)
    r.tofile(os.path.join(outdir, "f32_to_bf16.bin"))
    print(f"{len(xs)} floats")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dump":
        dump(load_tools(sys.argv[2]), sys.argv[3])
    elif cmd == "gen":
        gen(load_tools(sys.argv[2]), sys.argv[3])
    elif cmd == "deq":
        deq(load_tools(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    elif cmd == "corpus":
        corpus(load_tools(sys.argv[2]), sys.argv[3])
    elif cmd == "fp16":
        fp16_tables(sys.argv[2])
    else:
        sys.exit(f"unknown command {cmd}")
