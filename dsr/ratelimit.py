"""Fixed-window rate limits kept in the service's own database.

Keeping the counters in the database (rather than in process memory) makes a limit hold
across several app instances without another server to run. Keys never contain raw
addresses: IPs and emails are keyed hashes. The caller commits right after counting, before
doing the work being limited, so a rejected or failing attempt still counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from dsr.crypto import keyed_hash
from dsr.db import utcnow
from dsr.models import RateLimitCounter


@dataclass(frozen=True)
class Limit:
    """At most ``count`` hits per ``window`` for one key."""

    count: int
    window: timedelta


class RateLimited(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


def key_for(scope: str, kind: str, value: str) -> str:
    """``submit:ip:<hash>``: the hash keeps the counter table free of personal data."""
    return f"{scope}:{kind}:{keyed_hash(value.strip().lower(), 'ratelimit')[:40]}"


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def current(session: Session, key: str, limit: Limit, now: datetime | None = None) -> int:
    start = _window_start(now or utcnow(), limit.window)
    hits = session.scalar(
        select(col(RateLimitCounter.hits)).where(
            RateLimitCounter.key == key,
            RateLimitCounter.window_start == start,
        )
    )
    return int(hits or 0)


def exceeded(session: Session, key: str, limit: Limit, now: datetime | None = None) -> bool:
    return current(session, key, limit, now) >= limit.count


def hit(session: Session, key: str, limit: Limit, now: datetime | None = None) -> None:
    """Count one hit; raise :class:`RateLimited` if the window was already full."""
    now = now or utcnow()
    start = _window_start(now, limit.window)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = (
        insert(RateLimitCounter)
        .values(key=key, window_start=start, hits=1)
        .on_conflict_do_update(
            index_elements=["key", "window_start"],
            set_={"hits": RateLimitCounter.hits + 1},
        )
        .returning(col(RateLimitCounter.hits))
    )
    hits = session.execute(upsert).scalar_one()
    if hits > limit.count:
        raise RateLimited(start + limit.window - now)


def commit_counts(session: Session) -> None:
    """Commit a transaction that did nothing but count hits, without waiting for the disk.

    On PostgreSQL the commit is asynchronous (``synchronous_commit`` off for this
    transaction only): it is visible to every other transaction at once, and only a crash of
    the database server within a fraction of a second could lose it, which costs no more
    than a few uncounted hits. Use it only when the transaction holds counts alone.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    session.commit()


def purge_expired(session: Session, older_than: timedelta, now: datetime | None = None) -> int:
    """Drop counters of windows that ended long ago (run by the scheduler)."""
    cutoff = (now or utcnow()) - older_than
    result = session.execute(delete(RateLimitCounter).where(RateLimitCounter.window_start < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
