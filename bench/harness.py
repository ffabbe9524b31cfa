"""What every workload shares: sizes, databases, apps, timing and the figures it reports."""

from __future__ import annotations

import gc
import math
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Size:
    """How much data a run builds and how long it measures."""

    name: str
    #: Requests in the service's database, and how many of them are open.
    requests: int
    open_requests: int
    #: People in the customer database a source reads, and records of the one subject.
    people: int
    subject_records: int
    #: Records of the subject for the export-memory comparison (small, large).
    export_records: tuple[int, int]
    #: Seconds of load per intake run, and concurrent connections of the load generator.
    intake_seconds: int
    intake_connections: int
    #: Page loads per queue view and run.
    queue_samples: int
    #: Runs of each measurement; figures report the median and the spread over them.
    repeat: int


SIZES = {
    "full": Size(
        name="full",
        requests=1_000_000,
        open_requests=100_000,
        people=1_000_000,
        subject_records=10_000,
        export_records=(10_000, 100_000),
        intake_seconds=10,
        intake_connections=8,
        queue_samples=40,
        repeat=5,
    ),
    "quick": Size(
        name="quick",
        requests=100_000,
        open_requests=10_000,
        people=100_000,
        subject_records=2_000,
        export_records=(2_000, 20_000),
        intake_seconds=4,
        intake_connections=8,
        queue_samples=20,
        repeat=3,
    ),
    "tiny": Size(
        name="tiny",
        requests=2_000,
        open_requests=200,
        people=500,
        subject_records=50,
        export_records=(50, 200),
        intake_seconds=1,
        intake_connections=2,
        queue_samples=3,
        repeat=2,
    ),
}


@dataclass
class Figure:
    """One measured quantity: its runs, the baseline's runs and where it stands on a target."""

    workload: str
    name: str
    unit: str
    samples: list[float]
    baseline: list[float] | None = None
    baseline_name: str = ""
    #: The target in words (e.g. "≤ 50 ms"), and whether the median meets it; a target of
    #: several parts is given as one check per part, named as the target names them.
    target: str = ""
    check: Callable[[Figure], bool] | None = None
    checks: dict[str, Callable[[Figure], bool]] = field(default_factory=dict)
    #: True when more is better (rates); decides how the ratio reads.
    higher_is_better: bool = False
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.samples), max(self.samples)

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline) if self.baseline else None

    @property
    def ratio(self) -> float | None:
        """The figure against its baseline: how many times slower (or the share of the
        baseline's rate, for rates)."""
        base = self.baseline_median
        if not base:
            return None
        return self.median / base

    @property
    def met(self) -> bool | None:
        if self.checks:
            return all(check(self) for check in self.checks.values())
        return None if self.check is None else bool(self.check(self))

    @property
    def status(self) -> str:
        """Met or missed, part by part when the target has parts."""
        if self.checks:
            return "; ".join(
                f"{part}: {'met' if check(self) else '**missed**'}"
                for part, check in self.checks.items()
            )
        met = self.met
        return "" if met is None else ("met" if met else "**missed**")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered) - 1e-9)))
    return ordered[rank - 1]


PSQL_TIMING = re.compile(r"^Time: ([0-9.]+) ms", re.MULTILINE)


def psql_timings(url: str, statements: list[str]) -> list[float]:
    """Run ``statements`` in order in one psql session; milliseconds psql reports for each.

    psql's own ``\\timing`` is the raw-SQL baseline: the server's work plus one round trip,
    without any Python on the client side.
    """
    lines = ["\\timing on", "\\o /dev/null"]
    lines += [sql.rstrip().rstrip(";") + ";" for sql in statements]
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", plain, "-f", script.name],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    times = [float(t) for t in PSQL_TIMING.findall(out)]
    if len(times) != len(statements):
        raise RuntimeError(f"psql timed {len(times)} of {len(statements)} statements")
    return times


def clock(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes, with the garbage collector settled first."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Context:
    """One benchmark run: its size, its database backend and what it created."""

    size: Size
    backend: str  # "postgresql" or "sqlite"
    pg_admin_url: str = DEFAULT_PG_URL
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dsr-bench-")))
    keep: bool = False
    prefix: str = field(default_factory=lambda: f"dsr_bench_{uuid.uuid4().hex[:8]}")
    created: list[str] = field(default_factory=list)
    #: What one workload built that a later one may reuse (e.g. the customer database).
    shared: dict[str, Any] = field(default_factory=dict)

    # --- databases -----------------------------------------------------------------------

    def _admin(self) -> Any:
        return create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")

    def pg_url(self, name: str) -> str:
        return make_url(self.pg_admin_url).set(database=name).render_as_string(hide_password=False)

    def empty_database(self, label: str) -> str:
        """A new, empty database of the run's backend (a customer system, a baseline)."""
        if self.backend == "sqlite":
            path = self.workdir / f"{label}.sqlite3"
            path.unlink(missing_ok=True)
            return f"sqlite:///{path}"
        name = f"{self.prefix}_{label}"
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self.created.append(name)
        return self.pg_url(name)

    def service_database(self, label: str) -> str:
        """A new database with the service's schema, built by the real migrations."""
        from dsr import migrate

        url = self.empty_database(label)
        migrate.upgrade(url)
        return url

    def drop_databases(self) -> None:
        if self.keep:
            return
        if self.backend == "postgresql" and self.created:
            engine = self._admin()
            with engine.connect() as conn:
                for name in reversed(self.created):
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()
        self.created.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- the service ---------------------------------------------------------------------

    def settings(self, database_url: str, **extra: Any) -> dict[str, Any]:
        """Settings of a production-like service on ``database_url``; mail stays queued."""
        data_dir = self.workdir / "data"
        data_dir.mkdir(exist_ok=True)
        settings: dict[str, Any] = {
            "ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": database_url,
            "DATA_DIR": str(data_dir),
            "BASE_URL": "http://127.0.0.1",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": 2,  # nothing listens: the outbox keeps what it cannot send
            "MAIL_FROM": "dsr@bench.invalid",
            "MAIL_PRIVACY_TEAM": "privacy@bench.invalid",
            "MAIL_DEV_MAILBOX": False,
            "PROFILE": "default",
        }
        settings.update(extra)
        return settings

    def make_app(self, database_url: str, **extra: Any) -> Flask:
        from dsr import create_app

        return create_app(self.settings(database_url, **extra))

    def env(self, settings: dict[str, Any]) -> dict[str, str]:
        """The same settings as DSR_* variables, for a server in another process."""
        import json

        env = dict(os.environ)
        for key, value in settings.items():
            if isinstance(value, (list, dict, bool)):
                value = json.dumps(value)
            env[f"DSR_{key}"] = str(value)
        return env


@contextmanager
def context(size: Size, backend: str, **kw: Any) -> Iterator[Context]:
    ctx = Context(size=size, backend=backend, **kw)
    try:
        yield ctx
    finally:
        ctx.drop_databases()


# --- the machine ---------------------------------------------------------------------------


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def machine(ctx: Context) -> dict[str, str]:
    """What the figures were measured on."""
    import sqlite3

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    info = {
        "CPU": f"{cpu} × {os.cpu_count()}",
        "Memory": memory,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "Commit": _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "Load before the run": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if ctx.backend == "postgresql":
        engine = create_engine(ctx.pg_admin_url)
        with engine.connect() as conn:
            info["PostgreSQL"] = str(conn.execute(text("SHOW server_version")).scalar())
        engine.dispose()
    return info
