"""Helpers for the intake, identity, status and API tests: filling forms, reading emails."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlmodel import Session, select

from dsr.db import utcnow
from dsr.models import AuditEvent, EmailOutbox, Request, Right
from dsr.notifications import deliver_pending
from tests.support import SMTPSink, text_body

#: Valid form data per right (besides name and email).
VALID_DETAILS: dict[Right, dict[str, str]] = {
    Right.access: {},
    Right.rectification: {
        "data_to_correct": "Min adress",
        "correct_values": "Storgatan 1, 111 22 Stockholm",
    },
    Right.erasure: {"scope": "everything"},
    Right.restriction: {"grounds": "accuracy_contested"},
    Right.portability: {"delivery": "controller", "recipient_url": "https://ny.example.se/in"},
    Right.objection: {"objection_to": "direct_marketing"},
    Right.consent_withdrawal: {"consent": "Nyhetsbrevet"},
    Right.human_review: {"decision": "Kreditbeslutet den 1 mars", "viewpoint": "Inkomsten saknas."},
}

#: What each right's details become in Request.details for VALID_DETAILS.
STORED_DETAILS: dict[Right, dict[str, Any]] = {
    Right.access: {"version": 1, "message": None},
    Right.rectification: {
        "version": 1,
        "data_to_correct": "Min adress",
        "correct_values": "Storgatan 1, 111 22 Stockholm",
        "message": None,
    },
    Right.erasure: {"version": 1, "scope": "everything", "data_to_erase": None, "message": None},
    Right.restriction: {
        "version": 1,
        "grounds": "accuracy_contested",
        "data_to_restrict": None,
        "message": None,
    },
    Right.portability: {
        "version": 1,
        "delivery": "controller",
        "recipient_url": "https://ny.example.se/in",
        "message": None,
    },
    Right.objection: {
        "version": 1,
        "objection_to": "direct_marketing",
        "processing": None,
        "grounds": None,
        "message": None,
    },
    Right.consent_withdrawal: {"version": 1, "consent": "Nyhetsbrevet", "message": None},
    Right.human_review: {
        "version": 1,
        "decision": "Kreditbeslutet den 1 mars",
        "viewpoint": "Inkomsten saknas.",
        "message": None,
    },
}

CSRF_IN_PAGE = re.compile(r'(name="csrf-token" content="|name="csrf_token"[^>]*value=")[^"]+')
CODE = re.compile(r"^\s+(\d{6})\s*$", re.M)
VERIFY_LINK = re.compile(r"http://dsr\.test(/verify/[A-Za-z0-9_\-]+)\?lang=(sv|en)")
STATUS_LINK = re.compile(r"http://dsr\.test(/status/[A-Za-z0-9_\-]+)")


def form_data(right: Right, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "Anna Andersson", "email": "anna.andersson@example.se"}
    data.update(VALID_DETAILS[right])
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def submit(client: Any, right: Right | str = Right.access, **overrides: Any) -> Any:
    return client.submit(f"/request/{Right(right).value}", form_data(Right(right), **overrides))


def all_requests(db: Session) -> list[Request]:
    db.expire_all()
    return list(db.exec(select(Request).order_by(Request.id)).all())


def queued(db: Session, kind: str | None = None) -> list[EmailOutbox]:
    db.expire_all()
    query = select(EmailOutbox).order_by(EmailOutbox.id)
    if kind is not None:
        query = query.where(EmailOutbox.kind == kind)
    return list(db.exec(query).all())


def events(db: Session, request: Request, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.request_id == request.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(db.exec(query.order_by(AuditEvent.seq)).all())


def deliver(app: Flask, db: Session, smtp: SMTPSink, count: int) -> list[Any]:
    """Send what is queued through real SMTP and wait until the sink holds ``count``."""
    deliver_pending(db, utcnow(), app.config)
    db.commit()
    return smtp.wait_for(count)


def code_in(message: Any) -> str:
    match = CODE.search(text_body(message))
    assert match, text_body(message)
    return match.group(1)


def verify_path(message: Any) -> str:
    match = VERIFY_LINK.search(text_body(message))
    assert match, text_body(message)
    return match.group(1)


def status_path(message: Any) -> str:
    match = STATUS_LINK.search(text_body(message))
    assert match, text_body(message)
    return match.group(1)


def without_csrf(html: str) -> str:
    return CSRF_IN_PAGE.sub(r"\1CSRF", html)


def errors_on(html: str) -> dict[str, str]:
    """Field id -> error text, as the page shows them next to the fields."""
    return dict(re.findall(r'<p class="error" id="([\w-]+)-error">(.*?)</p>', html, flags=re.S))
