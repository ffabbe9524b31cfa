"""The benchmark harness runs end to end on a tiny size and writes its report.

Nothing here measures speed: the figures of a tiny run mean nothing. What matters is that
``make bench`` will not fail half-way through a long run because a workload broke.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.harness import ROOT, Figure, percentile
from tests.conftest import BACKENDS, PG_URL


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([3.0], 0.95) == 3.0


def test_report_keeps_hand_written_text_and_replaces_only_its_own_size(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nWhat we changed and why.\n", encoding="utf-8")
    report.write(path, "full", "first full run\n")
    report.write(path, "quick", "quick run\n")
    report.write(path, "full", "second full run\n")
    text = path.read_text(encoding="utf-8")
    assert "What we changed and why." in text
    assert "second full run" in text and "first full run" not in text
    assert "quick run" in text


def test_a_missed_target_is_marked() -> None:
    fast = Figure(
        "Queue", "p95", "ms", [10.0, 12.0], target="≤ 50 ms", check=lambda f: f.median <= 50
    )
    slow = Figure(
        "Queue", "p95", "ms", [80.0, 90.0], target="≤ 50 ms", check=lambda f: f.median <= 50
    )
    lines = report.table([fast, slow])
    assert lines[2].endswith("| met |")
    assert lines[3].endswith("| **missed** |")


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_run_writes_every_workload(backend: str, tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    env = dict(os.environ, DSR_BENCH_POSTGRES_URL=PG_URL)
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny", "--backend", backend, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    text = out.read_text(encoding="utf-8")
    assert f"### `tiny` on {backend}" in text
    for title in (
        "Intake",
        "Staff queue",
        "Scheduler tick",
        "Locate and answer",
        "Erasure",
        "Export memory",
    ):
        assert f"#### {title}" in text, title
    assert "The workload failed" not in text
    # Every workload reported at least one figure with a median.
    assert text.count("| Figure | Median |") >= 6


def test_a_target_of_two_parts_says_which_part_is_missed() -> None:
    page = Figure(
        "Queue",
        "p95",
        "ms",
        [20.0, 22.0],
        baseline=[2.0, 2.0],
        target="≤ 50 ms and ≤ 3× raw SQL",
        checks={"≤ 50 ms": lambda f: f.median <= 50, "≤ 3×": lambda f: (f.ratio or 0) <= 3},
    )
    assert page.met is False
    assert report.table([page])[2].endswith("| ≤ 50 ms: met; ≤ 3×: **missed** |")
