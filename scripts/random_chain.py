#!/usr/bin/env python3
"""Random graphs in adjit's text format, for timing the compiler on large
graphs with `adjit bench` or `cargo run --release --example compile_stages`:

    python3 scripts/random_chain.py 100000 > chain.adj
    python3 scripts/random_chain.py --wide 100000 > wide.adj
    adjit bench chain.adj --grad

A chain (the default) is N scalar ops (add, sub, mul, sin, tanh, or a
product with a constant), each reading one or two of the 16 most recent
values, so the graph is deep and has many short-range reuses.

A wide DAG (`--wide`) is N elementwise ops on `f64[8]` (add, sub, mul, min,
tanh), each reading one or two values drawn uniformly from all earlier ones,
so values live long and have many far-apart uses; the last 16 values are
summed and reduced to the scalar output.

The same N and mode always give the same program.

Python 3.11 standard library only.
"""

import random
import sys


def chain(n: int) -> str:
    rng = random.Random(n)
    lines = ["func @chain(%x: f64, %y: f64) -> f64 {"]
    values = ["x", "y"]
    for i in range(n):
        a = rng.choice(values[-16:])
        b = rng.choice(values[-16:])
        op = rng.choice(["add", "sub", "mul", "sin", "tanh", "mulc"])
        v = f"v{i}"
        if op in ("sin", "tanh"):
            lines.append(f"  %{v}: f64 = {op} %{a}")
        elif op == "mulc":
            lines.append(f"  %c{i}: f64 = const 0.9")
            lines.append(f"  %{v}: f64 = mul %{a}, %c{i}")
        else:
            lines.append(f"  %{v}: f64 = {op} %{a}, %{b}")
        values.append(v)
    lines.append(f"  return %{values[-1]}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def wide(n: int) -> str:
    rng = random.Random(n)
    t = "f64[8]"
    lines = [f"func @wide(%x: {t}, %y: {t}) -> f64 {{"]
    values = ["x", "y"]
    for i in range(n):
        a = rng.choice(values)
        b = rng.choice(values)
        op = rng.choice(["add", "sub", "mul", "min", "tanh"])
        v = f"v{i}"
        if op == "tanh":
            lines.append(f"  %{v}: {t} = tanh %{a}")
        else:
            lines.append(f"  %{v}: {t} = {op} %{a}, %{b}")
        values.append(v)
    acc = values[-1]
    for k, v in enumerate(values[-16:-1]):
        lines.append(f"  %s{k}: {t} = add %{acc}, %{v}")
        acc = f"s{k}"
    lines.append(f"  %out: f64 = reduce_sum %{acc}, axes=[0]")
    lines.append("  return %out")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    args = sys.argv[1:]
    make = chain
    if args[:1] == ["--wide"]:
        make = wide
        args = args[1:]
    if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
        print("usage: random_chain.py [--wide] N  (N >= 1 ops)", file=sys.stderr)
        return 2
    sys.stdout.write(make(int(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
