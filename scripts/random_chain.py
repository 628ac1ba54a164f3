#!/usr/bin/env python3
"""A random chain of scalar ops in adjit's text format, for timing the
compiler on large graphs with `adjit bench`:

    python3 scripts/random_chain.py 100000 > chain.adj
    adjit bench chain.adj --grad

Each op (add, sub, mul, sin, tanh, or a product with a constant) reads one
or two of the 16 most recent values, so the graph is deep and has many
short-range reuses. The same N always gives the same program.

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


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        print("usage: random_chain.py N  (N >= 1 ops)", file=sys.stderr)
        return 2
    sys.stdout.write(chain(int(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
