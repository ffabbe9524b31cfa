"""Messages between staff and the subject, shown on the subject's status page."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlmodel import Session, col

from dsr import audit, workflow
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import MessageDirection, Request, RequestMessage, RequestStatus
from dsr.workflow import WorkflowError


def conversation(session: Session, request: Request) -> list[RequestMessage]:
    """Every message of the request, both ways, oldest first."""
    return list(
        session.scalars(
            select(RequestMessage)
            .where(RequestMessage.request_id == request.id)
            .order_by(col(RequestMessage.created_at), col(RequestMessage.id))
        )
    )


def subject_reply(
    session: Session, request: Request, body: str, *, now: datetime | None = None
) -> RequestMessage:
    """Store the subject's message. If the request was waiting for the subject, this is the
    answer: the clock starts again (LEGAL.md A9)."""
    now = now or utcnow()
    if not request.is_open:
        raise WorkflowError(_l("This request is closed. Please file a new request instead."))
    message = RequestMessage(
        request_id=request.id,
        direction=MessageDirection.from_subject,
        body=body,
        created_at=now,
    )
    session.add(message)
    session.flush()
    audit.record(
        session,
        "request.message_received",
        Actor.subject(),
        request=request,
        payload={"message_id": message.id},
        public=True,
        at=now,
    )
    if request.status == RequestStatus.awaiting_subject:
        # The reply is the answer the clock was waiting for.
        workflow.resume(session, request, actor=Actor.subject(), now=now)
    return message
