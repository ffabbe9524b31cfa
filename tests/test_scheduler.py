"""The runner: which jobs run when, `flask dsr run-jobs`, and the in-process scheduler."""

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text

from dsr import scheduler
from dsr.db import get_db, utcnow
from dsr.models import (
    EmailOutbox,
    Export,
    ExportState,
    RequestStatus,
    SchedulerHeartbeat,
    StaffRole,
)
from tests.support import wait_until

#: 06:30 and 07:30 in Stockholm (UTC+1 in March); the daily hour is 7.
BEFORE_SEVEN = datetime.fromisoformat("2026-03-10T05:30:00+00:00")
AFTER_SEVEN = datetime.fromisoformat("2026-03-10T06:30:00+00:00")
DAILY = {"reminders", "escalations", "digest", "retention", "erasure_followups"}


def overdue_request(db, make_request, days=2):
    request = make_request(
        received_at=AFTER_SEVEN - timedelta(days=40), status=RequestStatus.in_progress
    )
    request.due_target = request.due_legal = AFTER_SEVEN.date() - timedelta(days=days)
    db.add(request)
    db.commit()
    return request


def test_every_job_is_listed_with_its_schedule(app):
    specs = {spec.id: spec for spec in scheduler.job_specs(app.config)}
    assert list(specs) == [
        "heartbeat",
        "expire_unverified",
        "expire_exports",
        "reminders",
        "escalations",
        "digest",
        "retention",
        "purge_rate_limits",
        "purge_sign_ins",
        "erasures",
        "erasure_followups",
        "build_answers",
        "outbox",
    ]
    assert {i for i, s in specs.items() if s.daily} == DAILY
    assert specs["outbox"].seconds == app.config["OUTBOX_POLL_SECONDS"]
    assert specs["heartbeat"].seconds == app.config["SCHEDULER_HEARTBEAT_SECONDS"]
    assert specs["erasures"].seconds == 60
    # Answers are built off the request thread, soon after staff ask for them.
    assert specs["build_answers"].seconds == 10


def test_daily_jobs_wait_for_the_daily_hour_in_stockholm(app, db, frozen_time):
    frozen_time(BEFORE_SEVEN)
    early = scheduler.run_due_jobs(app, BEFORE_SEVEN)
    assert DAILY.isdisjoint(early) and "outbox" in early
    frozen_time(AFTER_SEVEN)
    assert set(scheduler.run_due_jobs(app, AFTER_SEVEN)) >= DAILY


def test_running_the_jobs_again_the_same_day_sends_nothing_new(
    app, db, smtp, make_staff, make_request, frozen_time
):
    frozen_time(AFTER_SEVEN)
    make_staff(StaffRole.admin)
    overdue_request(db, make_request)
    first = scheduler.run_due_jobs(app, AFTER_SEVEN)
    assert first["escalations"] == 1 and first["digest"] == 1 and first["outbox"] == 2
    for hours in (0, 1, 12):
        later = AFTER_SEVEN + timedelta(hours=hours)
        frozen_time(later)
        again = scheduler.run_due_jobs(app, later)
        assert {k: v for k, v in again.items() if k != "heartbeat"} == dict.fromkeys(
            set(again) - {"heartbeat"}, 0
        )
    assert len(smtp.wait_for(2)) == 2
    next_morning = AFTER_SEVEN + timedelta(days=1)
    frozen_time(next_morning)
    assert scheduler.run_due_jobs(app, next_morning)["escalations"] == 1


def test_run_jobs_from_the_command_line(app, db, smtp, make_staff, make_request, frozen_time):
    frozen_time(AFTER_SEVEN)
    make_staff(StaffRole.admin)
    overdue_request(db, make_request)
    result = app.test_cli_runner().invoke(args=["dsr", "run-jobs"])
    assert result.exit_code == 0, result.output
    assert "escalations: 1" in result.output and "outbox: 2" in result.output
    frozen_time(BEFORE_SEVEN + timedelta(days=1))
    result = app.test_cli_runner().invoke(args=["dsr", "run-jobs"])
    assert result.exit_code == 0, result.output
    assert "digest: not yet (daily, from 7:00)" in result.output


def test_a_failing_job_is_rolled_back_and_the_others_still_run(
    app, db, smtp, make_staff, make_request, frozen_time
):
    frozen_time(AFTER_SEVEN)
    make_staff(StaffRole.admin)
    request = overdue_request(db, make_request)
    # A directory where an answer file should be: deleting it fails.
    directory = Path(app.config["DATA_DIR"]) / "exports" / "not-a-file"
    directory.mkdir(parents=True, exist_ok=True)
    export = Export(
        request_id=request.id,
        state=ExportState.ready,
        path="not-a-file",
        expires_at=AFTER_SEVEN - timedelta(days=1),
    )
    db.add(export)
    db.commit()

    result = app.test_cli_runner().invoke(args=["dsr", "run-jobs"])
    assert result.exit_code == 1
    assert "expire_exports: FAILED" in result.output
    assert "escalations: 1" in result.output
    db.refresh(export)
    assert export.purged_at is None and export.state == ExportState.ready
    directory.rmdir()


def test_the_in_process_scheduler_stores_its_jobs_and_beats(make_app, fresh_database, smtp):
    app = make_app(DATABASE_URL=fresh_database, SCHEDULER_HEARTBEAT_SECONDS=1)
    runner = scheduler.build(app, blocking=False)
    runner.start()
    try:

        def beating() -> bool:
            with app.app_context(), get_db(app).transaction() as session:
                return session.get(SchedulerHeartbeat, scheduler.INSTANCE) is not None

        wait_until(beating)
        with app.app_context(), get_db(app).transaction() as session:
            stored = set(session.scalars(text("SELECT id FROM apscheduler_jobs")).all())
            status = scheduler.status(session, utcnow(), timedelta(minutes=5))
        assert stored == {spec.id for spec in scheduler.job_specs(app.config)}
        assert not status.stale
    finally:
        runner.shutdown(wait=True)
        with app.app_context(), get_db(app).transaction() as session:
            assert session.scalars(select(EmailOutbox)).all() == []


def test_a_claim_must_outlast_an_smtp_conversation():
    import pytest

    from dsr import config

    with pytest.raises(config.ConfigError, match="claim_seconds"):
        config.load(
            environ={},
            overrides={"ENV": "development", "SMTP_TIMEOUT": 10.0, "OUTBOX_CLAIM_SECONDS": 30},
        )
