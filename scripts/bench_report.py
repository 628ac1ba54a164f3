#!/usr/bin/env python3
"""Tables and plots from one run of `cargo bench --bench workloads`.

Reads criterion's results (target/criterion/<group>/<row>/new/estimates.json
and the benchmark.json beside it) and writes, into the output directory:

- tables.md: markdown tables of per-call medians and of ratios
  (each row against the hand-written code; against the JIT once JIT rows
  exist; derivative over primal per engine; compile times against graph
  size);
- one SVG bar chart per table (medians.svg, vs-hand.svg, vs-jit.svg,
  compile.svg), drawn on logarithmic axes.

Only the latest run is reported: the bench writes adjit-run.json into
criterion's directory (start time, quick or full, its groups), and only
results of those groups written since that start are read. Without that
file, results written more than --gap minutes before the next newer result
are taken to belong to an earlier run. --all reports everything.

Python 3.11 standard library only.

    python3 scripts/bench_report.py [--criterion target/criterion] [--out docs/bench]
"""

from __future__ import annotations

import argparse
import html
import json
import math
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

# The rows of every workload group, in table order (benches/workloads.rs).
ROWS = [
    "hand primal",
    "hand",
    "tape",
    "tape per option",
    "easy-ml",
    "reverse",
    "interp primal",
    "interp",
    "fd interp",
    "fd hand",
    "jit primal",
    "jit",
    "jit raw",
    "fd jit",
]

# Rows that compute only the value; they are compared with "hand primal".
PRIMAL_ROWS = {"hand primal", "interp primal", "jit primal"}

# Workload groups in table order, by the prefix of their name.
WORKLOAD_ORDER = ["seed2", "rosen", "logreg", "gmm", "mlp", "spring", "bs", "hvp"]

COMPILE_GROUP = "compile"

# One colour per row (and per compile-time series), colour-blind friendly.
PALETTE = [
    "#4477aa",
    "#66ccee",
    "#228833",
    "#ccbb44",
    "#ee6677",
    "#aa3377",
    "#bbbbbb",
    "#000000",
    "#ee7733",
    "#0077bb",
    "#33bbee",
    "#009988",
    "#cc3311",
]


@dataclass
class Result:
    """One benchmark's median (ns per iteration) and where it came from."""

    group: str
    function: str
    value: str | None
    median_ns: float
    low_ns: float
    high_ns: float
    mtime: float


def load(criterion: Path) -> list[Result]:
    """Every benchmark under `criterion` with a `new/estimates.json`."""
    results = []
    for est in criterion.glob("**/new/estimates.json"):
        meta_path = est.parent / "benchmark.json"
        if not meta_path.exists():
            continue
        meta = json.loads(meta_path.read_text())
        median = json.loads(est.read_text())["median"]
        ci = median["confidence_interval"]
        results.append(
            Result(
                group=meta["group_id"],
                function=meta["function_id"] or "",
                value=meta.get("value_str"),
                median_ns=float(median["point_estimate"]),
                low_ns=float(ci["lower_bound"]),
                high_ns=float(ci["upper_bound"]),
                mtime=est.stat().st_mtime,
            )
        )
    return results


def latest_run(results: list[Result], gap_minutes: float) -> list[Result]:
    """The results of the newest run: walking back from the newest result,
    stop at the first gap longer than `gap_minutes`."""
    if not results:
        return results
    times = sorted((r.mtime for r in results), reverse=True)
    cutoff = times[-1]
    for newer, older in zip(times, times[1:]):
        if newer - older > gap_minutes * 60:
            cutoff = newer
            break
    return [r for r in results if r.mtime >= cutoff]


def run_record(criterion: Path) -> dict | None:
    """The record the bench writes at the start of a run, if any."""
    path = criterion / "adjit-run.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def recorded_run(results: list[Result], record: dict) -> list[Result]:
    """The results of the recorded run: its groups, written since it started."""
    groups = set(record["groups"])
    # mtimes and the recorded start come from the same clock; allow for a
    # coarse file-system timestamp.
    started = float(record["started"]) - 2.0
    return [r for r in results if r.group in groups and r.mtime >= started]


def fmt_time(ns: float) -> str:
    """A duration with three significant digits and a unit."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×"


def workload_key(group: str) -> tuple[int, str]:
    first = group.split()[0]
    order = WORKLOAD_ORDER.index(first) if first in WORKLOAD_ORDER else len(WORKLOAD_ORDER)
    return (order, natural_key(group))


def natural_key(text: str) -> str:
    """Sort key that orders embedded numbers by value (n=1000 < n=100000)."""
    out, digits = [], ""
    for ch in text + " ":
        if ch.isdigit():
            digits += ch
            continue
        if digits:
            out.append(f"{int(digits):020d}")
            digits = ""
        out.append(ch)
    return "".join(out)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------- SVG


def bar_chart(
    title: str,
    clusters: list[tuple[str, list[tuple[str, float]]]],
    unit: str,
    fmt,
    reference: float | None = None,
) -> str:
    """Horizontal grouped bars on a log axis: one cluster per label, one bar
    per (series, value); `reference` draws a vertical line (e.g. ratio 1)."""
    series = []
    for _, bars in clusters:
        for name, _ in bars:
            if name not in series:
                series.append(name)
    # Workload rows in table order; anything else (compile series) after.
    series.sort(key=lambda name: ROWS.index(name) if name in ROWS else len(ROWS))
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    values = [v for _, bars in clusters for _, v in bars if v > 0]
    if reference is not None:
        values.append(reference)
    if not values:
        values = [1.0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10

    bar_h, gap, label_w, plot_w, right = 14, 10, 190, 560, 90
    legend_h = 20 * ((len(series) + 3) // 4) + 10
    top = 40 + legend_h
    height = top + sum(len(b) * bar_h + gap for _, b in clusters) + 40
    width = label_w + plot_w + right

    def x_of(v: float) -> float:
        return label_w + plot_w * (math.log10(v) - math.log10(lo)) / (
            math.log10(hi) - math.log10(lo)
        )

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
        f"{html.escape(title)}</text>",
    ]
    for i, name in enumerate(series):
        lx = 20 + (i % 4) * ((width - 40) / 4)
        ly = 36 + 20 * (i // 4)
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour[name]}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}">{html.escape(name)}</text>')
    # Decade grid lines.
    decade = lo
    plot_bottom = height - 30
    while decade <= hi * 1.0001:
        x = x_of(decade)
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 5}" x2="{x:.1f}" y2="{plot_bottom}" '
            f'stroke="#dddddd"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{plot_bottom + 14}" text-anchor="middle">'
            f"{html.escape(fmt(decade))}</text>"
        )
        decade *= 10
    out.append(
        f'<text x="{label_w + plot_w / 2}" y="{height - 4}" text-anchor="middle">'
        f"{html.escape(unit)} (log scale)</text>"
    )
    y = top
    for label, bars in clusters:
        mid = y + len(bars) * bar_h / 2
        out.append(
            f'<text x="{label_w - 8}" y="{mid + 4}" text-anchor="end">{html.escape(label)}</text>'
        )
        for name, v in bars:
            if v > 0:
                # Bars grow from the reference line when there is one (a
                # ratio below 1 points left), else from the axis.
                x0 = x_of(reference) if reference is not None else label_w
                x1 = x_of(v)
                left = min(x0, x1)
                out.append(
                    f'<rect x="{left:.1f}" y="{y + 1}" width="{max(abs(x1 - x0), 1):.1f}" '
                    f'height="{bar_h - 2}" fill="{colour[name]}">'
                    f"<title>{html.escape(f'{label} / {name}: {fmt(v)}')}</title></rect>"
                )
                out.append(
                    f'<text x="{max(x0, x1) + 4:.1f}" y="{y + bar_h - 3}" font-size="9">'
                    f"{html.escape(fmt(v))}</text>"
                )
            y += bar_h
        y += gap
    if reference is not None:
        x = x_of(reference)
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 5}" x2="{x:.1f}" y2="{plot_bottom}" '
            f'stroke="black" stroke-dasharray="4 3"/>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ tables


def build(results: list[Result]) -> tuple[str, dict[str, str]]:
    """The markdown and the SVGs (file name → content)."""
    by_group: dict[str, dict[str, Result]] = {}
    compile_rows: dict[int, dict[str, Result]] = {}
    for r in results:
        if r.group == COMPILE_GROUP:
            if r.value is not None and r.value.isdigit():
                compile_rows.setdefault(int(r.value), {})[r.function] = r
            continue
        by_group.setdefault(r.group, {})[r.function] = r
    groups = sorted(by_group, key=workload_key)
    present = [row for row in ROWS if any(row in by_group[g] for g in groups)]
    extra = sorted({f for g in groups for f in by_group[g]} - set(ROWS))
    present += extra

    md: list[str] = []
    svgs: dict[str, str] = {}

    # Medians.
    md.append("### Medians (time per call)\n")
    md.append(
        markdown_table(
            ["workload"] + present,
            [
                [g] + [fmt_time(by_group[g][c].median_ns) if c in by_group[g] else "—" for c in present]
                for g in groups
            ],
        )
    )
    md.append("\n![medians](medians.svg)\n")
    svgs["medians.svg"] = bar_chart(
        "Median time per call",
        [(g, [(c, by_group[g][c].median_ns) for c in present if c in by_group[g]]) for g in groups],
        "time per call",
        fmt_time,
    )

    # Against the hand-written code.
    def baseline(group: dict[str, Result], row: str, base: str, primal_base: str) -> float | None:
        ref = primal_base if row in PRIMAL_ROWS else base
        if ref not in group or row not in group or row == ref:
            return None
        return group[row].median_ns / group[ref].median_ns

    vs_hand_cols = [c for c in present if c not in ("hand", "hand primal")]
    md.append("### Against hand-written Rust (median ÷ hand-written median; primal rows ÷ hand primal)\n")
    md.append(
        markdown_table(
            ["workload"] + vs_hand_cols,
            [
                [g]
                + [
                    fmt_ratio(x) if (x := baseline(by_group[g], c, "hand", "hand primal")) else "—"
                    for c in vs_hand_cols
                ]
                for g in groups
            ],
        )
    )
    md.append("\n![against hand-written](vs-hand.svg)\n")
    svgs["vs-hand.svg"] = bar_chart(
        "Slowdown against hand-written Rust (1 = as fast)",
        [
            (
                g,
                [
                    (c, x)
                    for c in vs_hand_cols
                    if (x := baseline(by_group[g], c, "hand", "hand primal"))
                ],
            )
            for g in groups
        ],
        "ratio",
        fmt_ratio,
        reference=1.0,
    )

    # Against the JIT.
    if any("jit" in by_group[g] for g in groups):
        vs_jit_cols = [c for c in present if c not in ("jit", "jit primal")]
        md.append("### Against the JIT (median ÷ JIT median; primal rows ÷ JIT primal)\n")
        md.append(
            markdown_table(
                ["workload"] + vs_jit_cols,
                [
                    [g]
                    + [
                        fmt_ratio(x) if (x := baseline(by_group[g], c, "jit", "jit primal")) else "—"
                        for c in vs_jit_cols
                    ]
                    for g in groups
                ],
            )
        )
        md.append("\n![against the JIT](vs-jit.svg)\n")
        svgs["vs-jit.svg"] = bar_chart(
            "Time against the JIT (1 = as fast; above 1 = the JIT is faster)",
            [
                (
                    g,
                    [
                        (c, x)
                        for c in vs_jit_cols
                        if (x := baseline(by_group[g], c, "jit", "jit primal"))
                    ],
                )
                for g in groups
            ],
            "ratio",
            fmt_ratio,
            reference=1.0,
        )

    # The cheap-gradient principle: derivative cost over primal cost.
    pairs = [("hand", "hand primal"), ("interp", "interp primal"), ("jit", "jit primal")]
    pairs = [(d, p) for d, p in pairs if any(d in by_group[g] and p in by_group[g] for g in groups)]
    if pairs:
        md.append("### Derivative cost ÷ primal cost (the same engine)\n")
        md.append(
            markdown_table(
                ["workload"] + [f"{d} ÷ {p}" for d, p in pairs],
                [
                    [g]
                    + [
                        fmt_ratio(by_group[g][d].median_ns / by_group[g][p].median_ns)
                        if d in by_group[g] and p in by_group[g]
                        else "—"
                        for d, p in pairs
                    ]
                    for g in groups
                ],
            )
        )
        md.append("")

    # Compile time against graph size.
    if compile_rows:
        sizes = sorted(compile_rows)
        series = sorted({f for s in sizes for f in compile_rows[s]})
        md.append("### Compile time against graph size (median; per 1000 nodes in brackets)\n")
        md.append(
            markdown_table(
                ["nodes"] + series,
                [
                    [str(s)]
                    + [
                        f"{fmt_time(compile_rows[s][f].median_ns)} "
                        f"({fmt_time(compile_rows[s][f].median_ns * 1000 / s)})"
                        if f in compile_rows[s]
                        else "—"
                        for f in series
                    ]
                    for s in sizes
                ],
            )
        )
        md.append("\n![compile time](compile.svg)\n")
        svgs["compile.svg"] = bar_chart(
            "Compile time against graph size",
            [
                (f"{s} nodes", [(f, compile_rows[s][f].median_ns) for f in series if f in compile_rows[s]])
                for s in sizes
            ],
            "time",
            fmt_time,
        )
    return "\n".join(md) + "\n", svgs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--criterion", default="target/criterion", type=Path)
    parser.add_argument("--out", default="docs/bench", type=Path)
    parser.add_argument(
        "--gap",
        default=30.0,
        type=float,
        help="minutes without results that separate two runs (default 30)",
    )
    parser.add_argument("--all", action="store_true", help="report every result, not only the latest run")
    args = parser.parse_args()

    results = load(args.criterion)
    if not results:
        print(f"no criterion results under {args.criterion}", file=sys.stderr)
        return 1
    record = run_record(args.criterion)
    header = ""
    if not args.all:
        if record is not None:
            results = recorded_run(results, record)
            when = datetime.fromtimestamp(float(record["started"]), tz=timezone.utc)
            mode = "quick (ADJIT_BENCH_QUICK=1)" if record.get("quick") else "full"
            header = f"Run: {mode}, started {when:%Y-%m-%d %H:%M} UTC.\n\n"
        else:
            results = latest_run(results, args.gap)
    if not results:
        print("no results of the latest run", file=sys.stderr)
        return 1
    markdown, svgs = build(results)
    markdown = header + markdown
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tables.md").write_text(markdown)
    for name, svg in svgs.items():
        (args.out / name).write_text(svg)
    print(markdown)
    print(
        f"wrote {args.out / 'tables.md'} and {', '.join(sorted(svgs))} "
        f"({len(results)} results)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
