"""Scheduler tick: one run of every job of ``dsr.scheduler.job_specs`` on the big database.

Every job runs once, in ``job_specs`` order and each in its own transaction through
``dsr.scheduler.run_job``, as ``run_due_jobs`` runs them, at a moment after
``scheduler.daily_hour`` so the daily jobs run too. Two kinds of tick are timed, as a
whole and job by job:

- the *first tick of the day*: reminders, escalations and digests queue the day's emails
  (the database holds the reminders of earlier days, so only today's are new), and the
  outbox sends its first batch;
- the *steady-state tick*: what every later poll does once the day's emails are queued and
  sent: every job looks for due rows and finds none. While the morning's backlog goes out,
  each outbox run also sends a batch (``OUTBOX_BATCH_SIZE``); that batch is timed on its
  own, right after the first tick.

Before each run the emails the previous run queued are deleted, so every run starts from
the same morning. Mail goes to a local SMTP sink (aiosmtpd, in its own process) that accepts
and discards it, so the outbox does its real work without a mail server's delays and
without the retry path of an unreachable server.

The baseline is the raw SQL that selects each job's due rows (written out below, with the
tick's values), run as many times by ``psql`` with ``\\timing`` (PostgreSQL) or by Python's
``sqlite3`` (SQLite).
"""

from __future__ import annotations

import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.harness import Context, Figure, log, psql_timings
from bench.requests_data import ZONE, RequestsData, requests_database
from dsr.jobs.retention import RATE_LIMIT_KEEP, years_before
from dsr.scheduler import JobSpec, job_specs, run_job

TITLE = "Scheduler tick"
TARGET_MS = 1000.0
#: Steady-state ticks per run (the figure is their median).
STEADY_TICKS = 3
#: Runs that start from the morning and time the first tick of the day (it takes a while at
#: full size); the other runs time the steady state only.
FIRST_TICK_RUNS = 2
DAILY_MAIL = ("reminders", "escalations", "digest")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_sink() -> Iterator[int]:
    """A local SMTP server that accepts every message and keeps none; yields its port."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"]
        + ["-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the SMTP sink did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def moment(data: RequestsData) -> datetime:
    """The tick's ``now``: the data's moment, or later if the clock has passed it (the
    outbox compares the time an email was queued, real time, with ``now``)."""
    return max(datetime.now(UTC), data.now)


def tick(app: Flask, specs: list[JobSpec], data: RequestsData) -> dict[str, tuple[float, int]]:
    """Run every due job once, as ``run_due_jobs`` does; milliseconds and result per job."""
    out: dict[str, tuple[float, int]] = {}
    for spec in specs:
        now = moment(data)
        if not spec.is_due(now, app.config):
            continue
        start = time.perf_counter()
        done = run_job(app, spec, now)
        out[spec.id] = ((time.perf_counter() - start) * 1000, done)
    return out


# --- the baseline ----------------------------------------------------------------------------


def due_row_queries(
    backend: str, now: datetime, config: dict[str, Any], admin_ids: list[int]
) -> dict[str, str]:
    """Per job, the SQL that selects the rows it has to work on at ``now``."""

    def ts(value: datetime) -> str:
        value = value.astimezone(UTC)
        if backend == "sqlite":
            return f"'{value.replace(tzinfo=None).isoformat(sep=' ')}'"
        return f"'{value.isoformat()}'::timestamptz"

    def day(value: date) -> str:
        return f"'{value.isoformat()}'" + ("" if backend == "sqlite" else "::date")

    def as_text(column: str) -> str:
        return column if backend == "sqlite" else f"{column}::text"

    today = now.astimezone(ZONE).date()
    offsets = sorted(set(config["SCHEDULER_REMINDER_DAYS"]))
    running = "status IN ('unverified', 'verified', 'in_progress')"
    offset_case = " ".join(
        f"WHEN {day(today + timedelta(days=d))} THEN '{min(o for o in offsets if o >= d)}'"
        for d in range(max(offsets) + 1)
    )
    expiry = now - timedelta(days=config["VERIFICATION_UNVERIFIED_EXPIRY_DAYS"])
    retention = years_before(now, config["RETENTION_CLOSED_REQUEST_YEARS"])
    who = [str(i) for i in admin_ids] or ["team"]
    escalated = " AND ".join(
        "EXISTS (SELECT 1 FROM email_outbox o WHERE o.dedupe_key = 'escalation:' || r.id "
        f"|| ':{today.isoformat()}:{w}')"
        for w in who
    )
    return {
        "heartbeat": "SELECT * FROM scheduler_heartbeats WHERE instance = 'bench'",
        "expire_unverified": "SELECT * FROM requests WHERE status = 'unverified' AND "
        f"created_at <= {ts(expiry)} ORDER BY id LIMIT 200",
        "expire_exports": f"SELECT * FROM exports WHERE expires_at <= {ts(now)} AND "
        "purged_at IS NULL AND state <> 'building' ORDER BY id LIMIT 200",
        "reminders": "SELECT r.id, r.reference, r.right, r.status, r.due_legal, r.assignee_id "
        f"FROM requests r WHERE r.{running} AND r.due_legal >= {day(today)} AND "
        f"r.due_legal <= {day(today + timedelta(days=max(offsets)))} AND NOT EXISTS ("
        "SELECT 1 FROM email_outbox o WHERE o.dedupe_key = 'reminder:' || r.id || ':' || "
        f"{as_text('r.due_legal')} || ':' || CASE r.due_legal {offset_case} END)",
        "escalations": "SELECT r.id, r.reference, r.right, r.status, r.due_legal, "
        f"r.assignee_id FROM requests r WHERE r.{running} AND r.due_legal < {day(today)} "
        f"AND NOT ({escalated})",
        "digest": "SELECT s.id FROM staff_users s WHERE s.role IN ('admin', 'handler') AND "
        "s.active AND NOT EXISTS (SELECT 1 FROM email_outbox o WHERE o.dedupe_key = "
        f"'digest:' || s.id || ':{today.isoformat()}')",
        "retention": f"SELECT * FROM requests WHERE closed_at IS NOT NULL AND anonymized_at IS NULL "
        f"AND closed_at < {ts(retention)} ORDER BY closed_at, id LIMIT 100",
        "purge_rate_limits": "SELECT id FROM rate_limit_counters WHERE window_start < "
        f"{ts(now - RATE_LIMIT_KEEP)}",
        "erasures": "SELECT * FROM request_plans WHERE \"right\" = 'erasure' AND ("
        f"(state = 'approved' AND execute_after <= {ts(now)}) OR (state = 'executing' AND "
        f"(claimed_until IS NULL OR claimed_until < {ts(now)}))) ORDER BY execute_after, id",
        "erasure_followups": "SELECT * FROM erasure_followups WHERE done_at IS NULL AND "
        f"due_on < {day(today)} ORDER BY due_on, plan_id, position",
        "build_answers": "SELECT * FROM exports WHERE state = 'building' AND "
        f"(claimed_until IS NULL OR claimed_until < {ts(now)}) ORDER BY id LIMIT 1",
        "outbox": "SELECT * FROM email_outbox WHERE status IN ('pending', 'sending') AND "
        "((status = 'pending' AND next_attempt_at "
        f"<= {ts(now)}) OR (status = 'sending' AND claimed_until < {ts(now)})) "
        f"ORDER BY next_attempt_at, id LIMIT {config['OUTBOX_BATCH_SIZE']}",
    }


def raw_times(
    backend: str, url: str, queries: dict[str, str], rounds: int
) -> dict[str, list[float]]:
    """Milliseconds per round for each query, run ``rounds`` times (after one round to warm up)."""
    names = list(queries)
    if backend == "postgresql":
        times = psql_timings(url, [queries[name] for name in names] * (rounds + 1))
        result: dict[str, list[float]] = {name: [] for name in names}
        for i, value in enumerate(times[len(names) :]):
            result[names[i % len(names)]].append(value)
        return result
    conn = sqlite3.connect(make_url(url).database or "")
    try:
        result = {name: [] for name in names}
        for number in range(rounds + 1):
            for name in names:
                start = time.perf_counter()
                conn.execute(queries[name]).fetchall()
                if number:
                    result[name].append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return result


# --- the workload ------------------------------------------------------------------------------


def _admin_ids(url: str) -> list[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                int(i)
                for i in conn.execute(
                    text("SELECT id FROM staff_users WHERE role = 'admin' AND active ORDER BY id")
                ).scalars()
            ]
    finally:
        engine.dispose()


def _reset(url: str, watermark: int) -> None:
    """Delete what earlier runs queued: every run starts from the same morning."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM email_outbox WHERE id > :w"), {"w": watermark})
    finally:
        engine.dispose()


def _drain(url: str, watermark: int, now: datetime) -> None:
    """Mark the day's queued emails sent, as the outbox leaves them once the backlog is out."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE email_outbox SET status = 'sent', sent_at = :now, attempts = 1, "
                    "claimed_until = NULL WHERE id > :w AND status = 'pending'"
                ),
                {"w": watermark, "now": now if "postgresql" in url else now.replace(tzinfo=None)},
            )
    finally:
        engine.dispose()


def _max_outbox_id(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT coalesce(max(id), 0) FROM email_outbox")).scalar_one()
            )
    finally:
        engine.dispose()


def run(ctx: Context, notes: list[str]) -> list[Figure]:
    data = requests_database(ctx)
    watermark = _max_outbox_id(data.url)
    admins = _admin_ids(data.url)
    first: dict[str, list[float]] = {}
    steady: dict[str, list[float]] = {}
    first_total: list[float] = []
    steady_total: list[float] = []
    queued: list[int] = []
    batch: list[float] = []
    sent: list[int] = []
    base_first: dict[str, list[float]] = {}
    base_steady: dict[str, list[float]] = {}
    with smtp_sink() as port:
        app = ctx.make_app(data.url, SMTP_PORT=port, SMTP_TIMEOUT=10.0)
        specs = job_specs(app.config)
        config = dict(app.config)
        for number in range(ctx.size.repeat):
            log(f"scheduler: run {number + 1} of {ctx.size.repeat}")
            if number < FIRST_TICK_RUNS:
                _reset(data.url, watermark)
                queries = due_row_queries(ctx.backend, moment(data), config, admins)
                for name, values in raw_times(ctx.backend, data.url, queries, 5).items():
                    base_first.setdefault(name, []).append(statistics.median(values))
                result = tick(app, specs, data)
                first_total.append(sum(seconds for seconds, _ in result.values()))
                queued.append(sum(result[name][1] for name in DAILY_MAIL if name in result))
                for name, (seconds, _done) in result.items():
                    first.setdefault(name, []).append(seconds)
                outbox = next(spec for spec in specs if spec.id == "outbox")
                start = time.perf_counter()
                sent.append(run_job(app, outbox, moment(data)))
                batch.append((time.perf_counter() - start) * 1000)
                _drain(data.url, watermark, moment(data))
            runs = [tick(app, specs, data) for _ in range(STEADY_TICKS)]
            steady_total.append(statistics.median(sum(s for s, _ in r.values()) for r in runs))
            for name in runs[0]:
                steady.setdefault(name, []).append(statistics.median(r[name][0] for r in runs))
            queries = due_row_queries(ctx.backend, moment(data), config, admins)
            for name, values in raw_times(ctx.backend, data.url, queries, 5).items():
                base_steady.setdefault(name, []).append(statistics.median(values))
        _reset(data.url, watermark)

    base_steady_total = [
        sum(base_steady[name][i] for name in base_steady) for i in range(ctx.size.repeat)
    ]
    base_first_total = [
        sum(base_first[name][i] for name in base_first) for i in range(len(first_total))
    ]
    figures = [
        Figure(
            TITLE,
            "steady-state tick, all jobs",
            "ms",
            steady_total,
            baseline=base_steady_total,
            baseline_name="raw SQL of the due rows",
            target="≤ 1 s",
            check=lambda f: f.median <= TARGET_MS,
        ),
        Figure(
            TITLE,
            f"first tick of the day, all jobs ({len(first_total)} runs)",
            "ms",
            first_total,
            baseline=base_first_total,
            baseline_name="raw SQL of the due rows",
            note="queues the day's reminders, escalations and digests",
        ),
    ]
    figures.append(
        Figure(
            TITLE,
            f"outbox: one batch of the backlog ({max(sent, default=0)} emails to the sink)",
            "ms",
            batch,
            baseline=base_first.get("outbox"),
            baseline_name="raw SQL of the batch",
        )
    )
    for name in steady:
        figures.append(
            Figure(
                TITLE,
                f"steady: {name}",
                "ms",
                steady[name],
                baseline=base_steady.get(name),
                baseline_name="raw SQL",
            )
        )
    for name in (*DAILY_MAIL, "outbox"):
        if name in first:
            figures.append(
                Figure(
                    TITLE,
                    f"first of the day: {name}",
                    "ms",
                    first[name],
                    baseline=base_first.get(name),
                    baseline_name="raw SQL",
                )
            )
    emails = int(statistics.median(queued)) if queued else 0
    notes.append(
        f"{data.counts.get('open', 0):,} open requests of {ctx.size.requests:,}, "
        f"{data.counts.get('overdue', 0):,} of them past their legal due date, "
        f"{data.counts.get('outbox', 0):,} emails already in the outbox. The first tick of "
        f"the day queued {emails:,} emails (reminders, escalations, digests); the outbox "
        f"sends {config['OUTBOX_BATCH_SIZE']} per run to a local SMTP sink."
    )
    notes.append(
        "After the first tick the outbox sends one more batch from the backlog (timed on its "
        "own), then the day's emails are marked sent as the outbox leaves them once the "
        "backlog is out, and the steady state is the median of "
        f"{STEADY_TICKS} ticks that follow, per run: every job looks and finds nothing due. "
        "Raw SQL: each job's due-row query (written out in bench/workloads/scheduler.py) "
        + (
            "run in one psql session with \\timing"
            if ctx.backend == "postgresql"
            else "run with Python's sqlite3 module"
        )
        + ", median of 5 runs; its total is the sum over the jobs."
    )
    return figures
