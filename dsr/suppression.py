"""The suppression list: addresses that get no direct marketing again (Art. 21(2)-(3), 7(3)).

An address is stored only as a keyed hash: HMAC-SHA256 of the address trimmed and
lower-cased, under a key derived from the secret key for this purpose alone
(``dsr.crypto.keyed_hash`` with the label ``suppression``). The list can be exported as a
CSV of those hashes for the marketing tools; a tool checks an address by computing the same
HMAC with the suppression key (``flask --app app dsr suppression-key``) and looking it up.
The key opens nothing else: it cannot decrypt personnummer, sign sessions or forge tokens.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from dsr import audit, crypto
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import Request, SuppressionEntry, SuppressionReason

LABEL = "suppression"
CSV_HEADER = "email_hmac_sha256"


def normalize(address: str) -> str:
    return address.strip().lower()


def address_hash(address: str) -> str:
    """The hash an address is listed under (and that marketing tools compute to check it)."""
    return crypto.keyed_hash(normalize(address), LABEL)


def tool_key() -> str:
    """The HMAC key, hex-encoded, that a marketing tool needs to check addresses itself."""
    from flask import current_app

    return crypto.derive_key(str(current_app.config["SECRET_KEY"]), f"hmac:{LABEL}").hex()


def is_suppressed(session: Session, address: str) -> bool:
    return (
        session.scalars(
            select(SuppressionEntry).where(SuppressionEntry.email_hash == address_hash(address))
        ).first()
        is not None
    )


def suppress(
    session: Session,
    address: str,
    *,
    reason: SuppressionReason,
    actor: Actor,
    request: Request | None = None,
    now: datetime | None = None,
) -> SuppressionEntry:
    """Put the address on the list (once; a second time returns the existing entry)."""
    now = now or utcnow()
    hashed = address_hash(address)
    existing = session.scalars(
        select(SuppressionEntry).where(SuppressionEntry.email_hash == hashed)
    ).first()
    if existing is not None:
        return existing
    entry = SuppressionEntry(
        email_hash=hashed,
        reason=reason,
        request_id=request.id if request is not None else None,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:
        # Listed a moment ago by another transaction.
        found = session.scalars(
            select(SuppressionEntry).where(SuppressionEntry.email_hash == hashed)
        ).one()
        return found
    audit.record(
        session,
        "suppression.added",
        actor,
        request=request,
        payload={"reason": reason.value, "entry": entry.id},
        public=request is not None,
        at=now,
    )
    return entry


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SuppressionEntry)) or 0)


def export_csv(session: Session, *, actor: Actor, now: datetime | None = None) -> str:
    """Every listed hash, one per line under a header, sorted; the export is logged."""
    hashes = sorted(session.scalars(select(col(SuppressionEntry.email_hash))).all())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([CSV_HEADER])
    for value in hashes:
        writer.writerow([value])
    audit.record(session, "suppression.exported", actor, payload={"entries": len(hashes)}, at=now)
    return out.getvalue()
