#!/usr/bin/env python3
"""Spring gradients through adjit's C API from Python ctypes, one at a time
and as a batch across threads.

    python3 spring_batch.py [LIBRARY] [BATCH]

LIBRARY is the path of libadjit_capi.so (default: target/debug of this
repository). The program loads examples/programs/spring.adj, compiles the
gradient with respect to k and v0 at n = 32, evaluates BATCH (default 8)
samples with 2 worker threads and again one call per sample, checks that
both give the same bits, and prints sample 1's gradient, one element per
line (dk, then dv0). Sample b has, for mass j:
    k[j]  = 0.5 + ((7 j + 3 b) mod 11) / 10
    v0[j] = ((5 j + b) mod 7) / 10 - 0.3
and every sample x0[j] = j + ((3 j) mod 5) / 20, target[j] = 1.1 j, dt = 0.01.
"""

import ctypes as C
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

ADJIT_OK = 0
ADJIT_GRAD = 1
ADJIT_ERR_PARSE = 2
ALIGN = 64


class ArgInfo(C.Structure):
    _fields_ = [
        ("name", C.c_char_p),
        ("elem", C.c_int),
        ("rank", C.c_size_t),
        ("dims", C.POINTER(C.c_size_t)),
        ("count", C.c_size_t),
    ]


def load(path):
    lib = C.CDLL(path)
    P = C.c_void_p
    lib.adjit_last_error.restype = C.c_char_p
    lib.adjit_version.restype = C.c_char_p
    lib.adjit_module_parse.argtypes = [C.c_char_p, C.POINTER(P)]
    lib.adjit_module_free.argtypes = [P]
    lib.adjit_derive.argtypes = [P, C.c_char_p, C.c_int, C.c_char_p, C.POINTER(P)]
    lib.adjit_compile.argtypes = [P, C.c_char_p, C.c_char_p, C.POINTER(P)]
    lib.adjit_fn_free.argtypes = [P]
    for name in ("adjit_fn_num_inputs", "adjit_fn_num_outputs", "adjit_fn_workspace_size"):
        getattr(lib, name).argtypes = [P]
        getattr(lib, name).restype = C.c_size_t
    lib.adjit_fn_input.argtypes = [P, C.c_size_t, C.POINTER(ArgInfo)]
    lib.adjit_fn_output.argtypes = [P, C.c_size_t, C.POINTER(ArgInfo)]
    lib.adjit_fn_call.argtypes = [P, C.POINTER(P), C.POINTER(P), P]
    lib.adjit_pool_new.argtypes = [C.c_size_t, C.POINTER(P)]
    lib.adjit_pool_threads.argtypes = [P]
    lib.adjit_pool_threads.restype = C.c_size_t
    lib.adjit_pool_free.argtypes = [P]
    lib.adjit_fn_call_batch.argtypes = [
        P, P, C.c_size_t, C.POINTER(P), C.POINTER(C.c_int), C.POINTER(P)
    ]
    return lib


def check(lib, status, what):
    if status != ADJIT_OK:
        raise RuntimeError(f"{what}: status {status}: {lib.adjit_last_error().decode()}")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "libadjit_capi.so")
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    lib = load(path)

    # A malformed program is an error code and a message.
    bad = C.c_void_p()
    status = lib.adjit_module_parse(b"func @f(%x: f64) -> f64 {", C.byref(bad))
    assert status == ADJIT_ERR_PARSE and not bad, status
    assert lib.adjit_last_error(), "a message"

    with open(os.path.join(ROOT, "examples", "programs", "spring.adj"), "rb") as f:
        text = f.read()
    m, g, fn, pool = C.c_void_p(), C.c_void_p(), C.c_void_p(), C.c_void_p()
    check(lib, lib.adjit_module_parse(text, C.byref(m)), "parse")
    check(lib, lib.adjit_derive(m, None, ADJIT_GRAD, b"k,v0", C.byref(g)), "derive")
    check(lib, lib.adjit_compile(g, None, b"n=32", C.byref(fn)), "compile")
    n = 32
    info = ArgInfo()
    counts = []
    for i in range(lib.adjit_fn_num_inputs(fn)):
        check(lib, lib.adjit_fn_input(fn, i, C.byref(info)), "input")
        counts.append(info.count)
    assert counts == [n - 1, n, n, n, 1], counts
    out_counts = []
    for i in range(lib.adjit_fn_num_outputs(fn)):
        check(lib, lib.adjit_fn_output(fn, i, C.byref(info)), "output")
        out_counts.append(info.count)
    assert out_counts == [n - 1, n], out_counts

    Arr = lambda k: C.c_double * k
    k = Arr(batch * (n - 1))(*[0.5 + ((7 * j + 3 * b) % 11) / 10 for b in range(batch) for j in range(n - 1)])
    v0 = Arr(batch * n)(*[((5 * j + b) % 7) / 10 - 0.3 for b in range(batch) for j in range(n)])
    x0 = Arr(n)(*[j + ((3 * j) % 5) / 20 for j in range(n)])
    target = Arr(n)(*[1.1 * j for j in range(n)])
    dt = Arr(1)(0.01)
    dk = Arr(batch * (n - 1))()
    dv0 = Arr(batch * n)()

    P = C.c_void_p
    ins = (P * 5)(C.cast(k, P), C.cast(v0, P), C.cast(x0, P), C.cast(target, P), C.cast(dt, P))
    stacked = (C.c_int * 5)(1, 1, 0, 0, 0)
    outs = (P * 2)(C.cast(dk, P), C.cast(dv0, P))
    check(lib, lib.adjit_pool_new(2, C.byref(pool)), "pool")
    assert lib.adjit_pool_threads(pool) == 2
    check(lib, lib.adjit_fn_call_batch(fn, pool, batch, ins, stacked, outs), "batch")

    # One call per sample, with a workspace aligned by hand.
    size = lib.adjit_fn_workspace_size(fn)
    raw = C.create_string_buffer(size + ALIGN)
    ws = C.addressof(raw) + (-C.addressof(raw)) % ALIGN
    one_dk, one_dv0 = Arr(n - 1)(), Arr(n)()
    dsize = C.sizeof(C.c_double)
    for b in range(batch):
        ins1 = (P * 5)(C.addressof(k) + b * (n - 1) * dsize, C.addressof(v0) + b * n * dsize,
                       C.cast(x0, P), C.cast(target, P), C.cast(dt, P))
        outs1 = (P * 2)(C.cast(one_dk, P), C.cast(one_dv0, P))
        check(lib, lib.adjit_fn_call(fn, ins1, outs1, P(ws)), "call")
        assert list(one_dk) == list(dk[b * (n - 1):(b + 1) * (n - 1)]), f"dk of sample {b}"
        assert list(one_dv0) == list(dv0[b * n:(b + 1) * n]), f"dv0 of sample {b}"

    b = 1 if batch > 1 else 0
    for x in dk[b * (n - 1):(b + 1) * (n - 1)] + dv0[b * n:(b + 1) * n]:
        print(repr(x))
    print(f"batch of {batch} on 2 threads = one call per sample, bit for bit", file=sys.stderr)
    lib.adjit_pool_free(pool)
    lib.adjit_fn_free(fn)
    lib.adjit_module_free(g)
    lib.adjit_module_free(m)


if __name__ == "__main__":
    main()
