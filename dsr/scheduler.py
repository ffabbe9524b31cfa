"""The scheduler process: timed jobs as plain functions, run by APScheduler.

A job is ``fn(session, now, config) -> int`` (what it did, for the log). It selects the rows
that are due, claims them, does its work and returns; the runner owns the transaction and
commits once. Tests call the functions directly with a frozen ``now``.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlmodel import Session

from dsr.db import get_db, utcnow
from dsr.models import SchedulerHeartbeat

log = logging.getLogger(__name__)

Job = Callable[[Session, datetime, Mapping[str, Any]], int]

#: Name of APScheduler's job table in the service's own database (created by a migration).
JOBSTORE_TABLE = "apscheduler_jobs"

INSTANCE = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def record_heartbeat(
    session: Session, now: datetime, config: Mapping[str, Any], instance: str = INSTANCE
) -> int:
    """Note that this scheduler is alive; ``/healthz`` and staff pages read it."""
    beat = session.get(SchedulerHeartbeat, instance)
    if beat is None:
        beat = SchedulerHeartbeat(instance=instance, started_at=now, beat_at=now)
    beat.beat_at = now
    session.add(beat)
    return 1


@dataclass(frozen=True)
class SchedulerStatus:
    last_beat_at: datetime | None
    stale: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "last_heartbeat": self.last_beat_at.isoformat() if self.last_beat_at else None,
            "stale": self.stale,
        }


def status(session: Session, now: datetime, stale_after: timedelta) -> SchedulerStatus:
    last = session.scalar(select(func.max(SchedulerHeartbeat.beat_at)))
    return SchedulerStatus(last, last is None or now - last > stale_after)


@dataclass(frozen=True)
class JobSpec:
    id: str
    fn: Job
    trigger: str  # "interval" | "daily"
    seconds: int = 0


def job_specs(config: Mapping[str, Any]) -> list[JobSpec]:
    """Every timed job of the service, with when it runs."""
    from dsr.notifications import deliver_pending

    return [
        JobSpec("heartbeat", record_heartbeat, "interval", config["SCHEDULER_HEARTBEAT_SECONDS"]),
        JobSpec("outbox", deliver_pending, "interval", 15),
    ]


def run_job(app: Flask, spec: JobSpec, now: datetime | None = None) -> int:
    """Run one job in its own transaction: commit on success, roll back and log on failure."""
    with app.app_context():
        with get_db(app).transaction() as session:
            done = spec.fn(session, now or utcnow(), app.config)
        if done and spec.id != "heartbeat":
            log.info("job %s: %d done", spec.id, done)
        return done


def run_due_jobs(app: Flask, now: datetime | None = None) -> dict[str, int]:
    """Run every job once (``flask dsr run-jobs``, cron, tests)."""
    results: dict[str, int] = {}
    for spec in job_specs(app.config):
        try:
            results[spec.id] = run_job(app, spec, now)
        except Exception:
            log.exception("job %s failed", spec.id)
            results[spec.id] = -1
    return results


def _job_entry(spec_id: str) -> None:
    """Module-level target APScheduler can store by reference; finds the app again."""
    app = _APP
    assert app is not None
    for spec in job_specs(app.config):
        if spec.id == spec_id:
            run_job(app, spec)
            return


_APP: Flask | None = None


def build(app: Flask, *, blocking: bool) -> Any:
    """An APScheduler with the service's jobs, its job store in the app's database."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    global _APP
    _APP = app
    with app.app_context():
        engine = get_db(app).engine
    tz = app.config["TIMEZONE"]
    jobstores = {"default": SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)}
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores=jobstores,
        timezone=tz,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    for spec in job_specs(app.config):
        if spec.trigger == "interval":
            trigger_args: dict[str, Any] = {"trigger": "interval", "seconds": spec.seconds}
        else:
            trigger_args = {
                "trigger": "cron",
                "hour": app.config["SCHEDULER_DAILY_HOUR"],
                "minute": 0,
            }
        scheduler.add_job(
            _job_entry,
            id=spec.id,
            args=[spec.id],
            replace_existing=True,
            next_run_time=utcnow(),
            **trigger_args,
        )
    return scheduler
