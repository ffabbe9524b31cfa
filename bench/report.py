"""BENCHMARKS.md: the results of the last run of each size, between markers, so that the
hand-written parts of the file (what was profiled and changed) survive every run."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import Context, Figure


def _number(value: float, unit: str) -> str:
    if unit in ("req/s", "rows/s"):
        return f"{value:,.0f}"
    if unit == "MiB":
        return f"{value:,.1f}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(figure: Figure) -> str:
    ratio = figure.ratio
    if ratio is None:
        return "–"
    if figure.higher_is_better:
        return f"{ratio:.0%} of baseline"
    return f"{ratio:.2f}×"


def table(figures: Sequence[Figure]) -> list[str]:
    lines = [
        "| Figure | Median | Spread (min–max) | Baseline | Ratio | Target | |",
        "|---|---:|---:|---|---:|---|---|",
    ]
    for f in figures:
        low, high = f.spread
        base = (
            f"{f.baseline_name}: {_number(f.baseline_median, f.unit)} {f.unit}"
            if f.baseline_median is not None
            else (f.baseline_name or "–")
        )
        lines.append(
            f"| {f.name} | {_number(f.median, f.unit)} {f.unit} "
            f"| {_number(low, f.unit)}–{_number(high, f.unit)} | {base} | {_ratio(f)} "
            f"| {f.target or '–'} | {f.status} |"
        )
    return lines


def section(
    ctx: Context,
    machine: dict[str, str],
    results: Sequence[tuple[str, list[Figure], list[str]]],
    seconds: float,
    argv: Sequence[str],
) -> str:
    size = ctx.size
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"### `{size.name}` on {ctx.backend}, {when}",
        "",
        f"Command: `{' '.join(shlex.quote(a) for a in argv)}` — {seconds / 60:.1f} minutes in all.",
        f"Each figure is the median of {size.repeat} runs unless its name says otherwise; the "
        "spread is the lowest and highest run.",
        "",
        "| Machine | |",
        "|---|---|",
    ]
    out += [f"| {key} | {value} |" for key, value in machine.items()]
    out += [
        "",
        f"Data: {size.requests:,} requests ({size.open_requests:,} open); a customer database "
        f"of {size.people:,} people, the subject holding {size.subject_records:,} records; "
        f"exports of {size.export_records[0]:,} and {size.export_records[1]:,} records.",
        "",
    ]
    for title, figures, notes in results:
        out.append(f"#### {title}")
        out.append("")
        if figures:
            out += table(figures)
            out.append("")
        for note in notes:
            out.append(f"- {note}")
        if notes:
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def write(path: Path, size_name: str, body: str) -> None:
    """Replace this size's results in ``path`` (creating the file if needed)."""
    start = f"<!-- results:{size_name}:start -->"
    end = f"<!-- results:{size_name}:end -->"
    block = f"{start}\n{body}{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
