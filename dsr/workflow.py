"""What happens to a request after intake: the decisions that move its deadline and state.

Every function here takes the session, changes the request, appends audit events and queues
the emails the change requires, all in the caller's transaction; none of them commits. A
refused action raises :class:`WorkflowError` with a message fit to show staff.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlmodel import Session, col

from dsr import audit, deadlines, identity, notifications
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import (
    CloseReason,
    ManualTask,
    MessageDirection,
    PauseReason,
    RefusalGrounds,
    RefusalScope,
    Request,
    RequestMessage,
    RequestPause,
    RequestStatus,
    StaffUser,
    TaskStatus,
)


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


def _write_to_subject(
    session: Session,
    request: Request,
    kind: str,
    context: dict[str, Any],
    now: datetime,
    email_subject: str | None,
    email_text: str | None,
) -> None:
    """Queue ``kind`` to the subject with a fresh private link to their status page.

    ``email_subject``/``email_text`` are the handler's edited version, if they edited it.
    """
    notifications.queue_email(
        session,
        kind,
        request.subject_email or "",
        language=request.language,
        context={**context, "status_url": identity.status_url(session, request, now)},
        request=request,
        carries_secret=True,
        subject=email_subject,
        text=email_text,
    )


def require_open(request: Request) -> None:
    if not request.is_open:
        raise WorkflowError(_l("The request is closed."))


def pauses(session: Session, request: Request) -> list[RequestPause]:
    if request.id is None:  # not stored yet (intake computing its first due dates)
        return []
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
        _write_to_subject(
            session,
            request,
            "extension_notice",
            extension_context(request, reason, after),
            now,
            email_subject,
            email_text,
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
        _write_to_subject(
            session,
            request,
            "information_request",
            {
                "request": request,
                "question": question,
            },
            now,
            email_subject,
            email_text,
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


# --- assignment, messages, decisions -----------------------------------------------------------


def assign(
    session: Session,
    request: Request,
    assignee: StaffUser | None,
    *,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Give the request to a handler (or nobody). Auditors cannot own requests."""
    now = now or utcnow()
    require_open(request)
    if assignee is not None and (not assignee.active or not assignee.can_act):
        raise WorkflowError(_l("Requests can only be assigned to active handlers and admins."))
    previous = request.assignee_id
    new = assignee.id if assignee is not None else None
    if previous == new:
        return
    request.assignee_id = new
    request.updated_at = now
    session.add(request)
    audit.record(
        session,
        "request.assigned",
        actor,
        request=request,
        payload={"from": previous, "to": new, "to_email": assignee.email if assignee else None},
        at=now,
    )


def start_work(
    session: Session, request: Request, *, actor: Actor, now: datetime | None = None
) -> None:
    """A verified request becomes in progress once someone acts on it."""
    if request.status == RequestStatus.verified:
        request.status = RequestStatus.in_progress
        request.updated_at = now or utcnow()
        session.add(request)
        audit.record(session, "request.started", actor, request=request, public=True, at=now)


def message_subject(
    session: Session,
    request: Request,
    *,
    body: str,
    actor: Actor,
    author: StaffUser | None,
    now: datetime | None = None,
    email_subject: str | None = None,
    email_text: str | None = None,
) -> RequestMessage:
    """Write to the subject: the message appears on the status page and is emailed."""
    now = now or utcnow()
    require_open(request)
    body = (body or "").strip()
    if not body:
        raise WorkflowError(_l("The message is empty."))
    if not request.subject_email:
        raise WorkflowError(_l("There is no email address to write to."))
    message = RequestMessage(
        request_id=request.id,
        direction=MessageDirection.to_subject,
        author_id=author.id if author else None,
        body=body,
        created_at=now,
    )
    session.add(message)
    session.flush()
    audit.record(
        session,
        "request.message_sent",
        actor,
        request=request,
        payload={"message_id": message.id},
        public=True,
        at=now,
    )
    _write_to_subject(
        session,
        request,
        "staff_message",
        {"request": request, "body": body},
        now,
        email_subject,
        email_text,
    )
    return message


def _close(request: Request, status: RequestStatus, now: datetime) -> None:
    request.status = status
    request.closed_at = now
    request.updated_at = now


def refuse(
    session: Session,
    request: Request,
    *,
    scope: RefusalScope,
    grounds: RefusalGrounds,
    reason: str,
    justification: str | None,
    actor: Actor,
    now: datetime | None = None,
    email_subject: str | None = None,
    email_text: str | None = None,
) -> None:
    """Refuse all or part of a request, telling the subject why and how to complain.

    Art. 12(4): reasons, the right to complain to IMY and to a court. A refusal as manifestly
    unfounded or excessive (Art. 12(5)) must be justified in writing: the controller bears
    the burden of proof. A full refusal closes the request; a partial one records the
    decision and the rest of the request goes on.
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    justification = (justification or "").strip() or None
    require_open(request)
    if not reason:
        raise WorkflowError(_l("A refusal needs its reasons; they are sent to the subject."))
    if (
        grounds in (RefusalGrounds.manifestly_unfounded, RefusalGrounds.excessive)
        and not justification
    ):
        raise WorkflowError(
            _l(
                "Refusing a request as manifestly unfounded or excessive needs a documented justification."
            )
        )
    if request.refusal_scope == RefusalScope.full:
        raise WorkflowError(_l("The request has already been refused."))
    open_pause_row = open_pause(session, request)
    if open_pause_row is not None and scope == RefusalScope.full:
        open_pause_row.ended_at = now
        session.add(open_pause_row)
    request.refusal_scope = scope
    request.refusal_reason = reason
    request.refusal_grounds = grounds
    request.refusal_justification = justification
    request.updated_at = now
    if scope == RefusalScope.full:
        _close(request, RequestStatus.refused, now)
    session.add(request)
    audit.record(
        session,
        "request.refused" if scope == RefusalScope.full else "request.partially_refused",
        actor,
        request=request,
        reason=reason,
        payload={"grounds": grounds.value, "justification": justification},
        public=True,
        at=now,
    )
    if request.subject_email:
        _write_to_subject(
            session,
            request,
            "refusal",
            {
                "request": request,
                "reason": reason,
                "partial": scope == RefusalScope.partial,
            },
            now,
            email_subject,
            email_text,
        )


#: Checks that must pass before a request can be completed; later modules add theirs
#: (e.g. "the plan was executed"). Each returns None or a message saying what is missing.
COMPLETION_CHECKS: list[Callable[[Session, Request], LazyString | str | None]] = []


def completion_blockers(session: Session, request: Request) -> list[str]:
    """Everything that stands between the request and its completion, in words."""
    blockers: list[str] = []
    if request.status in (RequestStatus.unverified,):
        blockers.append(str(_l("The subject's identity has not been verified.")))
    if request.status == RequestStatus.awaiting_subject:
        blockers.append(str(_l("The request is waiting for the subject.")))
    if not identity.meets(request, identity.required_assurance(request.right)):
        blockers.append(str(_l("The identity assurance reached is too low for this right.")))
    open_tasks = session.scalar(
        select(func.count())
        .select_from(ManualTask)
        .where(ManualTask.request_id == request.id, ManualTask.status == TaskStatus.open)
    )
    if open_tasks:
        blockers.append(str(_l("%(n)d manual task(s) are still open.", n=open_tasks)))
    for check in COMPLETION_CHECKS:
        problem = check(session, request)
        if problem:
            blockers.append(str(problem))
    return blockers


def complete(
    session: Session,
    request: Request,
    *,
    summary: str,
    actor: Actor,
    now: datetime | None = None,
    email_subject: str | None = None,
    email_text: str | None = None,
) -> None:
    """Close the request as answered, once its work is done, and send the completion email."""
    now = now or utcnow()
    require_open(request)
    blockers = completion_blockers(session, request)
    if blockers:
        raise WorkflowError(" ".join(blockers))
    _close(request, RequestStatus.completed, now)
    session.add(request)
    audit.record(
        session,
        "request.completed",
        actor,
        request=request,
        reason=(summary or "").strip() or None,
        public=True,
        at=now,
    )
    if request.subject_email:
        _write_to_subject(
            session,
            request,
            "completion",
            {
                "request": request,
                "summary": (summary or "").strip(),
            },
            now,
            email_subject,
            email_text,
        )


def withdraw(
    session: Session, request: Request, *, note: str, actor: Actor, now: datetime | None = None
) -> None:
    """The subject took the request back (told by them in writing, by phone, ...)."""
    now = now or utcnow()
    require_open(request)
    note = (note or "").strip()
    if not note:
        raise WorkflowError(_l("Note how and when the subject withdrew the request."))
    paused = open_pause(session, request)
    if paused is not None:
        paused.ended_at = now
        session.add(paused)
    _close(request, RequestStatus.withdrawn, now)
    session.add(request)
    audit.record(
        session, "request.withdrawn", actor, request=request, reason=note, public=True, at=now
    )
    if request.subject_email:
        notifications.queue_email(
            session,
            "withdrawn",
            request.subject_email,
            language=request.language,
            context={"request": request},
            request=request,
        )


def close_as(
    session: Session,
    request: Request,
    *,
    reason: CloseReason,
    note: str,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Close without an answer: spam, or a duplicate of another request (with a reason)."""
    now = now or utcnow()
    require_open(request)
    note = (note or "").strip()
    if not note:
        raise WorkflowError(_l("Say why the request is closed this way."))
    paused = open_pause(session, request)
    if paused is not None:
        paused.ended_at = now
        session.add(paused)
    request.close_reason = reason
    request.close_note = note
    _close(request, RequestStatus.closed, now)
    session.add(request)
    audit.record(
        session, f"request.closed_{reason.value}", actor, request=request, reason=note, at=now
    )


def complete_task(
    session: Session,
    task: ManualTask,
    *,
    status: TaskStatus,
    note: str,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Mark a manual task done or not applicable, with a note saying what was done."""
    now = now or utcnow()
    note = (note or "").strip()
    if status == TaskStatus.open:
        raise WorkflowError(_l("Choose done or not applicable."))
    if not note:
        raise WorkflowError(_l("Note what was done (or why the task does not apply)."))
    if task.status != TaskStatus.open:
        raise WorkflowError(_l("The task is already finished."))
    task.status = status
    task.note = note
    task.completed_at = now
    task.completed_by_id = actor.id if actor.type == "staff" else None
    session.add(task)
    request = session.get(Request, task.request_id)
    audit.record(
        session,
        "task.completed",
        actor,
        request=request,
        reason=note,
        payload={
            "task_id": task.id,
            "kind": task.kind.value,
            "target": task.target,
            "status": status.value,
        },
        at=now,
    )
