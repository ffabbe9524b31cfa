"""Schedulers as real processes against one database: every email exactly once.

These tests start ``flask --app app dsr scheduler`` as separate OS processes, pointed at a
fresh database and at an SMTP sink in this process, and look at what the sink received.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from dsr import deadlines, notifications
from dsr.db import get_db, utcnow
from dsr.intake import next_reference
from dsr.models import (
    Channel,
    EmailOutbox,
    OutboxStatus,
    Request,
    RequestStatus,
    Right,
    StaffRole,
)
from tests.conftest import TEST_SECRET
from tests.support import SMTPSink, wait_until

ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"


def process_env(database_url: str, data_dir: Path, smtp_port: int, **settings: Any) -> dict:
    """The environment of a scheduler process: this test's database and mail sink."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
    env.update(
        DSR_ENV="testing",
        DSR_SECRET_KEY=TEST_SECRET,
        DSR_DATABASE_URL=database_url,
        DSR_DATA_DIR=str(data_dir),
        DSR_BASE_URL="http://dsr.test",
        DSR_SMTP_HOST="127.0.0.1",
        DSR_SMTP_PORT=str(smtp_port),
        DSR_MAIL_FROM="dsr@dsr.test",
        DSR_MAIL_PRIVACY_TEAM="privacy-team@dsr.test",
        DSR_MAIL_DEV_MAILBOX="false",
        DSR_PROFILE="default",
        # Daily jobs may run at any hour, and every job runs every second.
        DSR_SCHEDULER_DAILY_HOUR="0",
        DSR_SCHEDULER_POLL_SECONDS="1",
        DSR_OUTBOX_POLL_SECONDS="1",
        DSR_OUTBOX_BATCH_SIZE="1000",
    )
    env.update({f"DSR_{key}": str(value) for key, value in settings.items()})
    return env


@dataclass
class Scheduler:
    """One ``flask dsr scheduler`` (or ``run-jobs``) process, its output kept in a file."""

    env: dict
    log: Path
    command: str = "scheduler"
    process: subprocess.Popen | None = None

    def start(self) -> Scheduler:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(FLASK), "--app", "app", "dsr", self.command],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait(self, timeout: float = 180) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> int | None:
        """SIGTERM, then wait: the scheduler finishes the jobs it is running and exits."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def outbox_counts(app) -> Counter:
    with app.app_context(), get_db(app).transaction() as session:
        rows = session.execute(
            select(col(EmailOutbox.status), func.count()).group_by(col(EmailOutbox.status))
        ).all()
    return Counter({OutboxStatus(status): count for status, count in rows})


def outbox_rows(app) -> list[EmailOutbox]:
    with app.app_context(), get_db(app).transaction() as session:
        rows = session.scalars(select(EmailOutbox).order_by(col(EmailOutbox.id))).all()
        session.expunge_all()
    return list(rows)


def all_sent(app, expected: int):
    def check() -> bool:
        counts = outbox_counts(app)
        return counts[OutboxStatus.sent] == expected and sum(counts.values()) == expected

    return check


def explain(*schedulers: Scheduler) -> str:
    return "\n\n".join(f"--- scheduler {s.pid} ---\n{s.output()[-4000:]}" for s in schedulers)


# --- two schedulers, several hundred reminders -------------------------------------------


@dataclass
class GatedSink(SMTPSink):
    """Holds every message until ``senders`` different connections are waiting at once.

    So both schedulers are certainly sending at the same time, rather than one finishing
    before the other has started.
    """

    senders: int = 2
    waiting: set = field(default_factory=set)
    opened: bool = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.waiting.add(session.peer)
        while not self.opened:
            if len(self.waiting) >= self.senders:
                self.opened = True
            else:
                await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


def seed_deadlines(app, reminders: int, overdue: int) -> tuple[list[str], list[str]]:
    """Open requests due in three days (each owes one reminder) and overdue ones."""
    tz = deadlines.STOCKHOLM
    today = deadlines.today(tz)
    with app.app_context(), get_db(app).transaction() as session:
        from dsr import accounts
        from dsr.audit import Actor

        handler = accounts.create_staff(
            session, "hanna@dsr.test", StaffRole.handler, password=None, actor=Actor.system("t")
        )
        accounts.create_staff(
            session, "ada@dsr.test", StaffRole.admin, password=None, actor=Actor.system("t")
        )
        due_soon, late = [], []
        for i in range(reminders + overdue):
            is_late = i >= reminders
            due = today - timedelta(days=2) if is_late else today + timedelta(days=3)
            request = Request(
                reference=next_reference(session, today.year),
                right=Right.access,
                channel=Channel.web,
                status=RequestStatus.in_progress,
                received_at=utcnow() - timedelta(days=30),
                due_target=due,
                due_legal=due,
                first_due_legal=due,
                subject_email=f"subject{i}@example.se",
                # Half are assigned: reminders go to the handler or to the privacy team.
                assignee_id=handler.id if i % 2 else None,
            )
            session.add(request)
            (late if is_late else due_soon).append(request.reference)
    return due_soon, late


@pytest.mark.parametrize("command", ["scheduler", "run-jobs"])
def test_two_schedulers_send_every_reminder_and_every_email_exactly_once(
    make_app, fresh_database, tmp_path, command
):
    """Two long-running schedulers, or two cron runs of `run-jobs` started together."""
    sink = GatedSink().start()
    app = make_app(DATABASE_URL=fresh_database, SMTP_PORT=sink.port)
    due_soon, late = seed_deadlines(app, reminders=300, overdue=10)
    # 300 reminders, 10 escalations to the one admin, a digest for each of the two staff.
    expected = 300 + 10 + 2
    env = process_env(fresh_database, tmp_path, sink.port, SMTP_TIMEOUT=30)
    processes = [
        Scheduler(env, tmp_path / f"{command}{i}.log", command=command).start() for i in range(2)
    ]
    try:
        if command == "run-jobs":
            codes = [p.wait() for p in processes]
        else:
            wait_until(all_sent(app, expected), timeout=180)
            codes = [p.stop() for p in processes]
    except AssertionError:
        raise AssertionError(f"not all sent: {outbox_counts(app)}\n{explain(*processes)}")
    finally:
        for p in processes:
            p.stop()
        sink.stop()
    assert codes == [0, 0], explain(*processes)
    assert outbox_counts(app) == Counter({OutboxStatus.sent: expected}), explain(*processes)

    messages = sink.messages
    assert len(messages) == expected, explain(*processes)
    ids = Counter(m["Message-ID"] for m in messages)
    assert max(ids.values()) == 1
    rows = outbox_rows(app)
    assert set(ids) == {r.message_id for r in rows}

    subjects = Counter(str(m["Subject"]) for m in messages)
    for reference in due_soon:
        assert subjects[f"Förfaller om 3 dagar: {reference}"] == 1, reference
    for reference in late:
        assert subjects[f"Försenat med 2 dagar: {reference}"] == 1, reference
    digests = [m for m in messages if str(m["Subject"]).startswith("Ärenden ")]
    assert sorted(str(m["To"]) for m in digests) == ["ada@dsr.test", "hanna@dsr.test"]
    handler_reminders = [m for m in messages if m["To"] == "hanna@dsr.test"]
    assert len(handler_reminders) == 150 + 1

    # Both did part of the sending: the sink held the first message until both had one.
    senders = Counter(r.claimed_by.split(":")[1] for r in rows)
    assert set(senders) == {str(p.pid) for p in processes}, senders


# --- a scheduler killed in the middle of sending ----------------------------------------


@dataclass
class KillingSink(SMTPSink):
    """Kills a process with SIGKILL when its ``kill_at``-th message arrives, before
    accepting it: the sender dies waiting for the reply, as in a crash mid-send."""

    kill_pid: int | None = None
    kill_at: int = 0
    arrived: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.arrived += 1
        if self.kill_pid is not None and self.arrived == self.kill_at:
            os.kill(self.kill_pid, signal.SIGKILL)
            self.kill_pid = None
            return "451 4.3.0 Not accepted"
        return await super().handle_DATA(server, session, envelope)


def queue_many(app, count: int) -> None:
    with app.app_context(), get_db(app).transaction() as session:
        for i in range(count):
            notifications.queue_email(
                session,
                "request_expired",
                f"person{i}@example.se",
                language="sv",
                context={
                    "reference": f"DSR-2026-{i:06d}",
                    "days": 14,
                    "received_at": utcnow(),
                    "start_url": "http://dsr.test/",
                },
            )


def test_a_scheduler_killed_while_sending_loses_nothing_and_repeats_nothing(
    make_app, fresh_database, tmp_path
):
    sink = KillingSink().start()
    app = make_app(DATABASE_URL=fresh_database, SMTP_PORT=sink.port)
    total, kill_at = 120, 50
    queue_many(app, total)
    # A short claim, so that the restarted scheduler takes over the email the killed one
    # was sending within seconds rather than minutes.
    env = process_env(fresh_database, tmp_path, sink.port, SMTP_TIMEOUT=1, OUTBOX_CLAIM_SECONDS=6)
    first = Scheduler(env, tmp_path / "first.log")
    second = Scheduler(env, tmp_path / "second.log")
    try:
        first.start()
        sink.kill_at, sink.kill_pid = kill_at, first.pid
        assert first.process.wait(timeout=120) == -signal.SIGKILL, explain(first)

        # Killed mid-send: those before it are sent, it is still claimed, the rest wait.
        counts = outbox_counts(app)
        assert counts == Counter(
            {
                OutboxStatus.sent: kill_at - 1,
                OutboxStatus.sending: 1,
                OutboxStatus.pending: total - kill_at,
            }
        )
        assert len(sink.messages) == kill_at - 1

        second.start()
        try:
            wait_until(all_sent(app, total), timeout=120)
        except AssertionError:
            raise AssertionError(f"{outbox_counts(app)}\n{explain(first, second)}")
    finally:
        second.stop()
        if first.process is not None and first.process.poll() is None:
            first.process.kill()
        sink.stop()

    received = Counter(str(m["To"]) for m in sink.messages)
    assert received == Counter(f"person{i}@example.se" for i in range(total))
    rows = outbox_rows(app)
    assert Counter(m["Message-ID"] for m in sink.messages) == Counter(r.message_id for r in rows)
    [interrupted] = [r for r in rows if r.attempts == 2]
    assert all(r.attempts == 1 for r in rows if r.id != interrupted.id)


def test_run_jobs_as_a_process_sends_what_is_due_and_exits(
    make_app, fresh_database, tmp_path, smtp
):
    app = make_app(DATABASE_URL=fresh_database)
    queue_many(app, 3)
    result = subprocess.run(
        [str(FLASK), "--app", "app", "dsr", "run-jobs"],
        cwd=ROOT,
        env=process_env(fresh_database, tmp_path, smtp.port),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outbox: 3" in result.stdout
    assert sorted(str(m["To"]) for m in smtp.wait_for(3)) == [
        f"person{i}@example.se" for i in range(3)
    ]
    assert outbox_counts(app) == Counter({OutboxStatus.sent: 3})
