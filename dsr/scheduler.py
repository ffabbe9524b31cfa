"""The scheduler process: timed jobs as plain functions, run by APScheduler.

A job is ``fn(session, now, config) -> int`` (what it did, for the log). It selects the rows
that are due, claims them, does its work and returns; the runner owns the transaction and
commits once (the outbox commits per message instead, see ``dsr.notifications``). Tests call
the functions directly with a frozen ``now``.

Every job runs on an interval. The daily ones (reminders, escalations, digest, retention)
only run from ``scheduler.daily_hour`` local time on, and are idempotent per local day, so
the first run after that hour does the day's work and later runs, a restart, ``run-jobs``
from cron or a second scheduler find nothing left. Running them on an interval rather than
once at a fixed time means a scheduler that was down at that hour catches up when it is back.

Several schedulers may run against one PostgreSQL database; APScheduler's job table is shared,
so usually one of them picks up each run, and when two do, the claims make the work happen
once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import func, select
from sqlmodel import Session

from dsr.db import get_db, utcnow
from dsr.jobs.claims import INSTANCE, take_write_lock
from dsr.models import SchedulerHeartbeat

log = logging.getLogger(__name__)

Job = Callable[[Session, datetime, Mapping[str, Any]], int]

#: Name of APScheduler's job table in the service's own database (created by a migration).
JOBSTORE_TABLE = "apscheduler_jobs"

__all__ = ["INSTANCE", "JobSpec", "build", "job_specs", "run_due_jobs", "run_job", "status"]


def record_heartbeat(
    session: Session, now: datetime, config: Mapping[str, Any], instance: str = INSTANCE
) -> int:
    """Note that this scheduler is alive; ``/healthz`` and staff pages read it."""
    take_write_lock(session)
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
    #: How often the scheduler runs it.
    seconds: int
    #: Only from ``scheduler.daily_hour`` local time on (the job is idempotent per day).
    daily: bool = False

    def is_due(self, now: datetime, config: Mapping[str, Any]) -> bool:
        if not self.daily:
            return True
        local = now.astimezone(ZoneInfo(config["TIMEZONE"]))
        return local.hour >= config["SCHEDULER_DAILY_HOUR"]


def job_specs(config: Mapping[str, Any]) -> list[JobSpec]:
    """Every timed job of the service, in the order ``run-jobs`` runs them.

    The outbox comes last so that what the other jobs queued goes out in the same run.
    """
    from dsr.exports import jobs as answer_jobs
    from dsr.jobs import expiry, reminders, retention
    from dsr.notifications import deliver_pending
    from dsr.rights import jobs as rights_jobs

    poll = config["SCHEDULER_POLL_SECONDS"]
    return [
        JobSpec("heartbeat", record_heartbeat, config["SCHEDULER_HEARTBEAT_SECONDS"]),
        JobSpec("expire_unverified", expiry.expire_unverified, poll),
        JobSpec("expire_exports", expiry.expire_exports, poll),
        JobSpec("reminders", reminders.send_reminders, poll, daily=True),
        JobSpec("escalations", reminders.escalate_overdue, poll, daily=True),
        JobSpec("digest", reminders.send_digests, poll, daily=True),
        JobSpec("retention", retention.remove_personal_data, poll, daily=True),
        JobSpec("purge_rate_limits", retention.purge_rate_limits, poll),
        JobSpec("purge_sign_ins", retention.purge_sign_ins, poll),
        # Approved erasures once their grace period is over (and runs a crash interrupted).
        JobSpec("erasures", rights_jobs.run_due_erasures, 60),
        # Records kept by law, erased the day after their end date.
        JobSpec("erasure_followups", rights_jobs.run_erasure_followups, poll, daily=True),
        # Answers staff asked for, built off the request thread (progress on the row).
        JobSpec("build_answers", answer_jobs.build_answers, 10),
        JobSpec("outbox", deliver_pending, config["OUTBOX_POLL_SECONDS"]),
    ]


def run_job(app: Flask, spec: JobSpec, now: datetime | None = None) -> int:
    """Run one job in its own transaction: commit on success, roll back on failure."""
    with app.app_context():
        with get_db(app).transaction() as session:
            done = spec.fn(session, now or utcnow(), app.config)
        if done and spec.id != "heartbeat":
            log.info("job %s: %d done", spec.id, done)
        return done


def run_due_jobs(app: Flask, now: datetime | None = None) -> dict[str, int]:
    """Run every job that is due once (``flask dsr run-jobs``, cron, tests).

    Daily jobs before ``scheduler.daily_hour`` are left out of the result.
    """
    results: dict[str, int] = {}
    for spec in job_specs(app.config):
        moment = now or utcnow()
        if not spec.is_due(moment, app.config):
            continue
        try:
            results[spec.id] = run_job(app, spec, moment)
        except Exception:
            log.exception("job %s failed", spec.id)
            results[spec.id] = -1
    return results


_APP: Flask | None = None


def _job_entry(spec_id: str) -> None:
    """Module-level target APScheduler can store by reference; finds the app again."""
    app = _APP
    assert app is not None
    for spec in job_specs(app.config):
        if spec.id != spec_id:
            continue
        now = utcnow()
        if not spec.is_due(now, app.config):
            return
        try:
            run_job(app, spec, now)
        except Exception:
            # Logged here rather than by APScheduler so that the message names the job.
            log.exception("job %s failed; it runs again at its next time", spec.id)
        return


def build(app: Flask, *, blocking: bool) -> Any:
    """An APScheduler with the service's jobs, its job store in the app's database.

    Every job is due at once on start: a restarted scheduler catches up straight away.
    """
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    global _APP
    _APP = app
    with app.app_context():
        engine = get_db(app).engine
    jobstores = {"default": SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)}
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores=jobstores,
        timezone=ZoneInfo(app.config["TIMEZONE"]),
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    for spec in job_specs(app.config):
        scheduler.add_job(
            _job_entry,
            trigger="interval",
            seconds=spec.seconds,
            id=spec.id,
            name=spec.id,
            args=[spec.id],
            replace_existing=True,
            next_run_time=utcnow(),
        )
    return scheduler
