"""The audit log: every state change appended to a hash chain.

Each event's hash covers its own fields and the previous event's hash, so changing or
removing a row breaks every hash after it. Writers are serialised so that two transactions
never chain onto the same predecessor: on PostgreSQL with a transaction-scoped advisory lock,
on SQLite by taking the database's write lock before reading the chain's head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session, col

from dsr.db import utcnow
from dsr.models import ActorType, AuditEvent, Request, StaffUser

GENESIS_HASH = "0" * 64
#: Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
_ADVISORY_LOCK_ID = 0x64737261  # "dsra"


@dataclass(frozen=True)
class Actor:
    """Who did something. Build with the helpers below rather than by hand."""

    type: ActorType
    label: str
    id: int | None = None

    @classmethod
    def staff(cls, user: StaffUser) -> Actor:
        return cls(ActorType.staff, user.email, user.id)

    @classmethod
    def subject(cls) -> Actor:
        return cls(ActorType.subject, "subject")

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(ActorType.system, label)

    @classmethod
    def api(cls, token_id: int | None, name: str) -> Actor:
        return cls(ActorType.api, f"api:{name}", token_id)


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def payload_digest(payload: dict[str, Any] | None, reason: str | None = None) -> str:
    """Digest of an event's removable content: its reason and its payload."""
    content: Any = payload if reason is None else {"reason": reason, "payload": payload}
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def event_digest(event: AuditEvent) -> str:
    fields = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
        "actor_type": str(event.actor_type),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "request_id": event.request_id,
        "action": event.action,
        "payload_sha256": event.payload_sha256,
        "public": bool(event.public),
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def _lock_chain(session: Session) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
    elif bind.dialect.name == "sqlite":
        # A no-op write makes SQLite take its write lock now, before the head is read, so a
        # concurrent writer waits instead of chaining onto the same head.
        session.execute(text("UPDATE reference_counters SET year = year WHERE 0"))


def record(
    session: Session,
    action: str,
    actor: Actor,
    *,
    request: Request | None = None,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
    public: bool = False,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event. The caller's transaction commits it with the change it describes."""
    if request is not None and request.id is None:
        session.flush()
    _lock_chain(session)
    head = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash))
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    # Hashed as UTC, because that is how the database gives it back.
    event = AuditEvent(
        seq=seq,
        occurred_at=(at or utcnow()).astimezone(UTC),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        request_id=request.id if request is not None else None,
        action=action,
        reason=reason,
        payload=payload,
        payload_sha256=payload_digest(payload, reason),
        public=public,
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = event_digest(event)
    session.add(event)
    session.flush()
    return event


def remove_payload(session: Session, event: AuditEvent, at: datetime | None = None) -> None:
    """Drop an event's reason and payload (they can hold personal data); the chain still verifies."""
    event.payload = None
    event.reason = None
    event.payload_removed_at = at or utcnow()
    session.add(event)


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    event_id: int | None
    message: str

    def __str__(self) -> str:
        return f"event #{self.seq} (id {self.event_id}): {self.message}"


def iter_events(session: Session, batch: int = 5000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify_chain(session: Session) -> ChainProblem | None:
    """Walk the chain from the start; return the first problem, or None if it is intact."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    for event in iter_events(session):
        if event.seq != expected_seq:
            return ChainProblem(
                expected_seq,
                None,
                f"missing: the chain jumps from #{expected_seq - 1} to #{event.seq} "
                "(an event was deleted)",
            )
        if event.prev_hash != prev_hash:
            return ChainProblem(
                event.seq,
                event.id,
                "does not follow the event before it (one was removed or altered)",
            )
        if event.payload_removed_at is None:
            if payload_digest(event.payload, event.reason) != event.payload_sha256:
                return ChainProblem(event.seq, event.id, "reason or payload was altered or removed")
        elif event.payload is not None or event.reason is not None:
            return ChainProblem(event.seq, event.id, "content reappeared after it was removed")
        if event_digest(event) != event.hash:
            return ChainProblem(event.seq, event.id, "content was altered (hash mismatch)")
        prev_hash = event.hash
        expected_seq += 1
    return None
