"""``python -m bench``: build the data, run the workloads, write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

from bench import report
from bench.harness import DEFAULT_PG_URL, ROOT, SIZES, Figure, context, log, machine

#: Workload modules under bench/workloads, in the order they run.
WORKLOADS = ("intake", "queue", "scheduler", "answer", "erasure", "exports")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("DSR_BENCH_POSTGRES_URL", DEFAULT_PG_URL),
        help="administrative connection to the PostgreSQL server (postgresql backend)",
    )
    parser.add_argument("--only", help="comma-separated workloads: " + ", ".join(WORKLOADS))
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)

    chosen = WORKLOADS
    if args.only:
        chosen = tuple(name.strip() for name in args.only.split(",") if name.strip())
        unknown = [name for name in chosen if name not in WORKLOADS]
        if unknown:
            parser.error(f"unknown workload(s): {', '.join(unknown)}")

    size = SIZES[args.size]
    started = time.perf_counter()
    failed = False
    with context(size, args.backend, pg_admin_url=args.pg_url, keep=args.keep) as ctx:
        about = machine(ctx)
        results: list[tuple[str, list[Figure], list[str]]] = []
        for name in chosen:
            module = importlib.import_module(f"bench.workloads.{name}")
            log(f"{module.TITLE}: starting")
            t0 = time.perf_counter()
            notes: list[str] = []
            try:
                figures = module.run(ctx, notes)
            except Exception:
                failed = True
                traceback.print_exc()
                figures = []
                notes.append("The workload failed; see the run's output.")
            log(f"{module.TITLE}: {time.perf_counter() - t0:.0f} s")
            results.append((module.TITLE, figures, notes))
        seconds = time.perf_counter() - started
        command = ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])]
        body = report.section(ctx, about, results, seconds, command)
    report.write(args.out, size.name, body)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
