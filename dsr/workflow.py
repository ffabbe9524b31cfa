"""What happens to a request after intake: the decisions that move its deadline and state.

Every function here takes the session, changes the request, appends audit events and queues
the emails the change requires, all in the caller's transaction; none of them commits. A
refused action raises :class:`WorkflowError` with a message fit to show staff.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlmodel import Session, col

from dsr import audit, deadlines, identity, notifications
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import PauseReason, Request, RequestPause, RequestStatus


class WorkflowError(Exception):
    """An action the rules do not allow right now; ``str()`` is safe to show staff."""

    def __init__(self, message: LazyString | str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


def _config() -> Mapping[str, Any]:
    return current_app.config


def _zone() -> ZoneInfo:
    return ZoneInfo(_config()["TIMEZONE"])


def require_open(request: Request) -> None:
    if not request.is_open:
        raise WorkflowError(_l("The request is closed."))


def pauses(session: Session, request: Request) -> list[RequestPause]:
    return list(
        session.scalars(
            select(RequestPause)
            .where(RequestPause.request_id == request.id)
            .order_by(col(RequestPause.started_at))
        )
    )


def open_pause(session: Session, request: Request) -> RequestPause | None:
    return next((p for p in pauses(session, request) if p.ended_at is None), None)


def total_paused_days(session: Session, request: Request) -> int:
    """Whole days of finished pauses: what has moved the deadline so far."""
    finished = [(p.started_at, p.ended_at) for p in pauses(session, request) if p.ended_at]
    return deadlines.paused_days(finished, utcnow(), _zone())


def recompute_due(session: Session, request: Request) -> tuple[deadlines.Due, deadlines.Due]:
    """Set the request's due dates from what was decided; return (before, after).

    Called only on the events that change them: intake, extension, resume.
    """
    before = deadlines.Due(request.due_target, request.due_legal)
    paused = total_paused_days(session, request)
    eves = bool(_config()["DEADLINES_EVES_ARE_HOLIDAYS"])
    received = deadlines.received_date(request.received_at, _zone())
    first, current = (
        deadlines.due_for_date(
            received,
            regime=request.regime,
            extended=extended,
            paused_days=paused,
            eves_are_holidays=eves,
        )
        for extended in (False, request.extended_at is not None)
    )
    request.first_due_legal = first.legal
    request.due_target, request.due_legal = current.target, current.legal
    session.add(request)
    return before, current


def _due_payload(before: deadlines.Due, after: deadlines.Due) -> dict[str, str]:
    return {
        "due_legal_before": before.legal.isoformat(),
        "due_legal_after": after.legal.isoformat(),
        "due_target_after": after.target.isoformat(),
    }


def extension_context(request: Request, reason: str, new_due: deadlines.Due) -> dict[str, Any]:
    return {"request": request, "reason": reason, "due_legal": new_due.legal}


def extend(
    session: Session,
    request: Request,
    *,
    reason: str,
    actor: Actor,
    now: datetime | None = None,
    email_subject: str | None = None,
    email_text: str | None = None,
) -> deadlines.Due:
    """Extend the deadline by two months (Art. 12(3)) and queue the notice with the reasons.

    Refused without a reason, on a closed request, a second time, and once the first legal
    due date has passed: the notice must reach the subject within the first month.
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    require_open(request)
    if not reason:
        raise WorkflowError(_l("An extension needs a reason; it is sent to the subject."))
    if request.extended_at is not None:
        raise WorkflowError(
            _l("The request has already been extended; it can be extended only once.")
        )
    today = deadlines.today(_zone(), now)
    if today > request.first_due_legal:
        raise WorkflowError(
            _l(
                "The original due date (%(date)s) has passed; the deadline can no longer be extended.",  # noqa: E501
                date=request.first_due_legal.isoformat(),
            )
        )
    request.extended_at = now
    request.extension_reason = reason
    request.updated_at = now
    before, after = recompute_due(session, request)
    audit.record(
        session,
        "request.extended",
        actor,
        request=request,
        reason=reason,
        payload=_due_payload(before, after),
        public=True,
        at=now,
    )
    if request.subject_email:
        notifications.queue_email(
            session,
            "extension_notice",
            request.subject_email,
            language=request.language,
            context={
                **extension_context(request, reason, after),
                "status_url": identity.status_url(session, request, now),
            },
            request=request,
            carries_secret=True,
            subject=email_subject,
            text=email_text,
        )
    return after


def pause(
    session: Session,
    request: Request,
    *,
    reason: PauseReason,
    question: str,
    actor: Actor,
    now: datetime | None = None,
    email_subject: str | None = None,
    email_text: str | None = None,
) -> RequestPause:
    """Ask the subject for information and stop the clock until they answer (LEGAL.md A9).

    A question asked later than ``deadlines.late_pause_days`` after receipt is flagged: the
    law expects such questions without undue delay.
    """
    now = now or utcnow()
    question = (question or "").strip()
    require_open(request)
    if not question:
        raise WorkflowError(_l("Write what you need from the subject."))
    if open_pause(session, request) is not None:
        raise WorkflowError(_l("The request is already waiting for the subject."))
    received = deadlines.received_date(request.received_at, _zone())
    late = (deadlines.today(_zone(), now) - received).days > _config()["DEADLINES_LATE_PAUSE_DAYS"]
    paused = RequestPause(
        request_id=request.id,
        reason=reason,
        question=question,
        started_at=now,
        asked_late=late,
        asked_by_id=actor.id if actor.type == "staff" else None,
        status_before=request.status,
    )
    session.add(paused)
    request.status = RequestStatus.awaiting_subject
    request.updated_at = now
    session.add(request)
    session.flush()
    audit.record(
        session,
        "request.paused",
        actor,
        request=request,
        reason=question,
        payload={"pause_reason": reason.value, "asked_late": late},
        public=True,
        at=now,
    )
    if request.subject_email:
        notifications.queue_email(
            session,
            "information_request",
            request.subject_email,
            language=request.language,
            context={
                "request": request,
                "question": question,
                "status_url": identity.status_url(session, request, now),
            },
            request=request,
            carries_secret=True,
            subject=email_subject,
            text=email_text,
        )
    return paused


def resume(
    session: Session,
    request: Request,
    *,
    actor: Actor,
    now: datetime | None = None,
    note: str | None = None,
) -> deadlines.Due:
    """Restart the clock: the deadline moves by the whole days the request waited."""
    now = now or utcnow()
    paused = open_pause(session, request)
    if paused is None:
        raise WorkflowError(_l("The request is not waiting for the subject."))
    paused.ended_at = now
    session.add(paused)
    request.status = paused.status_before or RequestStatus.in_progress
    request.updated_at = now
    session.flush()
    before, after = recompute_due(session, request)
    days = deadlines.paused_days([(paused.started_at, now)], now, _zone())
    audit.record(
        session,
        "request.resumed",
        actor,
        request=request,
        reason=note,
        payload={**_due_payload(before, after), "paused_days": days},
        public=True,
        at=now,
    )
    return after
