"""Keeping nothing longer than needed: personal data of long-closed requests, old counters.

LEGAL.md D: the accountability record of a request is kept for
``retention.closed_request_years`` after it closed. Then everything that identifies the
person goes: name, email, phone, personnummer, what they wrote, what was written to them,
tokens, email bodies, the words staff wrote about the case (reasons, notes, which may
name or describe the person), and the reasons and payloads of the request's audit events.
What stays is anonymous and still answers "how many requests of which kind, answered how
fast, with what outcome": right, regime, channel, dates, status, outcome and grounds. The
audit chain stays verifiable because an event's hash covers its reason and payload only
through ``payload_sha256`` (see ``dsr.audit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, null, or_, select, text, update
from sqlalchemy.orm import lazyload
from sqlmodel import Session, col

from dsr import audit, ratelimit
from dsr.jobs.claims import claiming, record
from dsr.jobs.expiry import purge_export
from dsr.models import (
    NOT_ANONYMIZED_SQL,
    AuditEvent,
    EmailOutbox,
    Export,
    ManualTask,
    OidcLogin,
    OutboxStatus,
    Request,
    RequestMessage,
    RequestPause,
    RequestPlan,
    VerificationToken,
)

#: Requests anonymised per run; the next run continues.
BATCH = 100
#: Rate-limit windows are at most a day long; counters older than this are history.
RATE_LIMIT_KEEP = timedelta(days=2)
#: Put where an address or subject line of an email to the subject used to be.
REMOVED = "(removed)"


def years_before(moment: datetime, years: int) -> datetime:
    """The same instant ``years`` calendar years earlier (29 February becomes the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def remove_personal_data(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Anonymise requests closed more than ``retention.closed_request_years`` ago."""
    years = config["RETENTION_CLOSED_REQUEST_YEARS"]
    cutoff = years_before(now, years)
    requests = session.scalars(
        claiming(
            session,
            select(Request)
            .options(lazyload(Request.assignee))
            .where(
                # The index's condition word for word, so the database uses it.
                text(NOT_ANONYMIZED_SQL),
                col(Request.closed_at) < cutoff,
                col(Request.anonymized_at).is_(None),
            )
            # Longest closed first, along the index (by id, the database would walk every
            # anonymised request to find none left).
            .order_by(col(Request.closed_at), col(Request.id))
            .limit(BATCH),
            Request,
        )
    ).all()
    for request in requests:
        anonymize(session, request, now, config, years=years)
    return len(requests)


def anonymize(
    session: Session,
    request: Request,
    now: datetime,
    config: Mapping[str, Any],
    *,
    years: int,
) -> None:
    """Remove the personal data of one closed request, keeping its anonymous facts."""
    subject_email = request.subject_email
    request.subject_name = None
    request.subject_email = None
    request.subject_phone = None
    request.subject_pnr_encrypted = None
    request.subject_pnr_hmac = None
    request.subject_pnr_masked = None
    request.eid_pnr_encrypted = None
    request.eid_pnr_masked = None
    request.details = {}
    request.assurance_note = None
    # Free text written about the case. Where a constraint needs the field filled (an
    # extension or refusal must have had a reason), a marker says it was removed.
    if request.extension_reason is not None:
        request.extension_reason = REMOVED
    if request.refusal_reason is not None:
        request.refusal_reason = REMOVED
    request.refusal_justification = None
    request.close_note = None
    request.anonymized_at = now
    request.updated_at = now
    session.add(request)

    messages = session.execute(
        update(RequestMessage)
        .where(RequestMessage.request_id == request.id, col(RequestMessage.body).is_not(None))
        .values(body=None)
    ).rowcount  # type: ignore[attr-defined]
    # What was asked of the subject is a message to them too.
    session.execute(
        update(RequestPause).where(RequestPause.request_id == request.id).values(question="")
    )
    # Plans list record keys, masked identities and, for rectification, the values the
    # subject proposed; the steps they took are in the audit chain's anonymous facts.
    session.execute(
        update(RequestPlan)
        .where(RequestPlan.request_id == request.id)
        .values(plan={}, execution=null(), outcome=null(), error=None)
    )
    session.execute(
        update(RequestPlan)
        .where(RequestPlan.request_id == request.id, col(RequestPlan.cancel_reason).is_not(None))
        .values(cancel_reason=REMOVED)
    )
    session.execute(
        update(ManualTask)
        .where(ManualTask.request_id == request.id, col(ManualTask.note).is_not(None))
        .values(note=REMOVED, instructions="")
    )
    tokens = session.execute(
        delete(VerificationToken).where(VerificationToken.request_id == request.id)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(delete(OidcLogin).where(OidcLogin.request_id == request.id))
    emails = _strip_outbox(session, request, subject_email, now)

    exports = session.scalars(
        select(Export).where(Export.request_id == request.id, col(Export.purged_at).is_(None))
    ).all()
    for export in exports:
        purge_export(session, export, now, config)

    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.request_id == request.id,
            col(AuditEvent.payload_removed_at).is_(None),
            or_(col(AuditEvent.payload).is_not(None), col(AuditEvent.reason).is_not(None)),
        )
    ).all()
    for event in events:
        audit.remove_payload(session, event, at=now)

    record(
        session,
        "request.anonymized",
        request=request,
        reason=f"Closed more than {years} years ago (retention).",
        payload={
            "audit_payloads_removed": len(events),
            "messages_removed": messages,
            "tokens_removed": tokens,
            "emails_stripped": emails,
            "exports_purged": len(exports),
        },
        at=now,
    )


def _strip_outbox(
    session: Session, request: Request, subject_email: str | None, now: datetime
) -> int:
    rows = session.scalars(select(EmailOutbox).where(EmailOutbox.request_id == request.id)).all()
    for row in rows:
        row.body_text_encrypted = None
        row.body_html_encrypted = None
        if subject_email and row.to_addr.lower() == subject_email.lower():
            row.to_addr = REMOVED
            row.subject = REMOVED
        if row.status in (OutboxStatus.pending, OutboxStatus.sending):
            # Nothing is left to send; an email that never went cannot go now.
            row.status = OutboxStatus.dead
            row.claimed_until = None
            row.last_error = "personal data removed by retention before it was sent"
        session.add(row)
    return len(rows)


def purge_rate_limits(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Drop rate-limit counters of windows that ended long ago."""
    return ratelimit.purge_expired(session, RATE_LIMIT_KEEP, now=now)


#: How long a sign-in at an identity provider is kept after it expired: a day in which a
#: late callback is still told it was used or expired rather than unknown.
SIGN_IN_KEEP = timedelta(days=1)


def purge_sign_ins(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Drop sign-ins at identity providers (``OidcLogin``) a day after they expired."""
    result = session.execute(delete(OidcLogin).where(OidcLogin.expires_at < now - SIGN_IN_KEEP))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
