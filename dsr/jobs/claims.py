"""Claiming rows so that several schedulers never do the same piece of work twice.

PostgreSQL: a job selects its rows ``FOR UPDATE SKIP LOCKED``. A second scheduler running the
same job at the same moment skips the rows the first one holds, and once the first commits
those rows no longer match the job's query (their state changed), so nobody sees them again.

SQLite has a single writer. A job takes the write lock *before* it reads, so a second writer
waits for the first to commit and then reads the result; without that, both would read the
same rows and the second would fail when it tried to write.

Emails queued by jobs carry a ``dedupe_key`` (unique in the outbox): even a job run twice on
the same rows cannot queue the same email twice.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.sql.selectable import GenerativeSelect
from sqlmodel import Session

from dsr import audit
from dsr.audit import Actor
from dsr.models import AuditEvent

S = TypeVar("S", bound=GenerativeSelect)


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def take_write_lock(session: Session) -> None:
    """On SQLite, become the single writer now, before reading (a no-op on PostgreSQL).

    Any write statement makes SQLite take its write lock, even one that changes nothing.
    """
    if dialect(session) == "sqlite":
        session.execute(text("UPDATE reference_counters SET year = year WHERE 0"))


def claiming(session: Session, statement: S, *of: Any) -> S:
    """``statement`` made to claim the rows it returns until the transaction ends.

    ``of`` names the tables to lock when the query joins others (an outer join cannot be
    locked on PostgreSQL).
    """
    if dialect(session) == "postgresql":
        return statement.with_for_update(skip_locked=True, of=of or None)
    take_write_lock(session)
    return statement


def local_today(now: datetime, config: Any) -> date:
    """The calendar day ``now`` falls on in the controller's time zone."""
    return now.astimezone(ZoneInfo(config["TIMEZONE"])).date()


#: This process, as scheduler heartbeats and outbox claims name it.
INSTANCE = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def claim_token() -> str:
    """A name for one run's claims, unique even among runs of the same process."""
    return f"{INSTANCE}:{uuid.uuid4().hex[:8]}"[:100]


#: Who the audit log names for everything the scheduler does.
SCHEDULER = Actor.system("scheduler")


def record(session: Session, action: str, *, at: datetime, **fields: Any) -> AuditEvent:
    """An audit event by the scheduler at ``at``.

    The time is passed in UTC because the event's hash covers its time as text, and the
    database hands it back in UTC: a job run with a local ``now`` (tests do that) would
    otherwise write an event that no longer matches its own hash once it is read back.
    """
    return audit.record(session, action, SCHEDULER, at=at.astimezone(UTC), **fields)
