"""Art. 19: telling recipients about a rectification, erasure or restriction, and naming them.

After such a plan runs, every recipient and processor in the profile that gets notices
(``notify_changes``) has a notify task on the request (``dsr.sources.manual``). A recipient
with a ``privacy_email`` in the profile is emailed at once and its task is finished with a
note saying so; the others are notified by a handler, who finishes the task with a note.
:func:`recipients_for_subject` lists the recipients and what became of each notice, for the
subject's status page (Art. 19, second sentence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlmodel import Session

from dsr import audit, notifications, workflow
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import AuditEvent, ManualTask, Request, Right, TaskKind, TaskStatus
from dsr.profiles import Profile, current_profile

ART19_RIGHTS = frozenset({Right.rectification, Right.erasure, Right.restriction})


@dataclass(frozen=True)
class RecipientNotice:
    """One recipient of the subject's data, and the Art. 19 notice it got for a request."""

    name: str
    kind: str
    service: str
    countries: tuple[str, ...]
    #: pending | done | not_applicable (the handler found nothing to tell) | not_notified
    #: (the recipient does not get notices, e.g. an authority) | none (no notice for this right)
    status: str
    notified_at: datetime | None = None
    #: email | by_hand
    method: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "service": self.service,
            "countries": list(self.countries),
            "status": self.status,
            "notified_at": self.notified_at.isoformat() if self.notified_at else None,
            "method": self.method,
        }


def _notify_tasks(session: Session, request: Request) -> dict[str, ManualTask]:
    return {
        task.target: task
        for task in session.scalars(
            select(ManualTask).where(
                ManualTask.request_id == request.id, ManualTask.kind == TaskKind.notify
            )
        )
    }


def emailed_note(address: str, language: str) -> str:
    """The task's note when the service emailed the notice itself, in the subject's language
    (the answer shows it to them)."""
    with force_locale(language):
        return _("Emailed to %(address)s by the service.", address=address)


def notify_recipients(
    session: Session,
    request: Request,
    env: Any,
    *,
    actor: Actor,
    categories: Sequence[str] = (),
    now: datetime | None = None,
) -> int:
    """Email the recipients that have a privacy address; returns how many were emailed.

    Their notify tasks (created with the right's manual tasks) are finished with a note;
    the others stay open for a handler. Idempotent: a finished task is not emailed again.
    """
    now = now or utcnow()
    profile: Profile = env.profile
    tasks = _notify_tasks(session, request)
    described = [profile.categories[c].description for c in categories if c in profile.categories]
    sent = 0
    for recipient in profile.recipients:
        task = tasks.get(recipient.name)
        if task is None or task.status != TaskStatus.open or not recipient.privacy_email:
            continue
        notifications.queue_email(
            session,
            "recipient_notice",
            recipient.privacy_email,
            language=str(env.config["DEFAULT_LANGUAGE"]),
            context={
                "request": request,
                "recipient": recipient,
                "right": request.right.value,
                "categories": described,
            },
            request=request,
        )
        workflow.complete_task(
            session,
            task,
            status=TaskStatus.done,
            note=emailed_note(recipient.privacy_email, request.language),
            actor=actor,
            now=now,
        )
        audit.record(
            session,
            "art19.notified",
            actor,
            request=request,
            payload={"recipient": recipient.name, "method": "email", "right": request.right.value},
            at=now,
        )
        sent += 1
    return sent


def _emailed_recipients(session: Session, request: Request) -> set[str]:
    """Recipients the service itself emailed an Art. 19 notice for this request."""
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.request_id == request.id, AuditEvent.action == "art19.notified"
        )
    )
    return {
        str(e.payload["recipient"])
        for e in events
        if e.payload and e.payload.get("method") == "email"
    }


def recipients_for_subject(
    session: Session, request: Request, profile: Profile | None = None
) -> list[RecipientNotice]:
    """The recipients of the subject's data and, for this request, their Art. 19 notice."""
    profile = profile or current_profile()
    tasks = _notify_tasks(session, request) if request.right in ART19_RIGHTS else {}
    emailed = _emailed_recipients(session, request)
    listed = []
    for recipient in profile.recipients:
        task = tasks.get(recipient.name)
        status, method, when = "none", None, None
        if request.right in ART19_RIGHTS:
            status = "pending" if recipient.notify_changes else "not_notified"
        if task is not None:
            status = {
                TaskStatus.open: "pending",
                TaskStatus.done: "done",
                TaskStatus.not_applicable: "not_applicable",
            }[task.status]
            when = task.completed_at
            if task.status == TaskStatus.done:
                method = "email" if recipient.name in emailed else "by_hand"
        listed.append(
            RecipientNotice(
                name=recipient.name,
                kind=recipient.kind.value,
                service=recipient.service,
                countries=recipient.countries,
                status=status,
                notified_at=when,
                method=method,
            )
        )
    return listed
