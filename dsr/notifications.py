"""Email: rendered from templates into a database outbox, sent after commit.

``queue_email`` writes one ``EmailOutbox`` row in the caller's transaction, so an email exists
exactly when the change that causes it is committed. The scheduler's outbox job sends pending
rows over SMTP. Bodies are encrypted at rest and dropped after sending when they carry a
secret (verification codes, private links).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import select
from sqlmodel import Session

from dsr import crypto
from dsr.db import utcnow
from dsr.models import EmailOutbox, OutboxStatus, Request

OUTBOX_LABEL = "outbox"
#: Stands in for the subject's private status link in a draft a handler reviews; replaced by
#: a freshly issued link when the email is queued.
STATUS_LINK_PLACEHOLDER = "[status-link]"


def render(kind: str, language: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of ``templates/email/<kind>.*`` in ``language``.

    The HTML part goes through Flask's autoescaping like any page; the text part is plain.
    """
    from dsr.profiles import current_profile

    full = {
        "base_url": current_app.config["BASE_URL"],
        "controller": current_profile().controller,
        "language": language,
        **context,
    }
    with force_locale(language):
        subject = render_template(f"email/{kind}.subject.txt", **full).strip()
        text = render_template(f"email/{kind}.txt", **full)
        html = render_template(f"email/{kind}.html", **full)
    return " ".join(subject.split()), text, html


def queue_email(
    session: Session,
    kind: str,
    to: str,
    *,
    language: str,
    context: Mapping[str, Any] | None = None,
    request: Request | None = None,
    dedupe_key: str | None = None,
    carries_secret: bool = False,
    subject: str | None = None,
    text: str | None = None,
) -> EmailOutbox:
    """Render and queue one email in the caller's transaction.

    ``subject``/``text`` replace the rendered ones when a handler edited the message before
    sending. ``dedupe_key`` makes "send this once" a unique constraint: queueing the same key
    twice fails at flush.
    """
    context = context or {}
    rendered_subject, rendered_text, html = render(kind, language, context)
    if text is not None:
        text = text.replace(STATUS_LINK_PLACEHOLDER, str(context.get("status_url", "")))
    row = EmailOutbox(
        kind=kind,
        to_addr=to,
        language=language,
        subject=(subject or rendered_subject)[:255],
        body_text_encrypted=crypto.encrypt(
            text if text is not None else rendered_text, OUTBOX_LABEL
        ),
        # A hand-edited text replaces the HTML too, so both parts say the same thing.
        body_html_encrypted=None if text is not None else crypto.encrypt(html, OUTBOX_LABEL),
        carries_secret=carries_secret,
        request_id=request.id if request is not None else None,
        dedupe_key=dedupe_key,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def build_message(row: EmailOutbox, config: Mapping[str, Any], now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = row.to_addr
    message["Subject"] = row.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = row.message_id or make_msgid(idstring=f"dsr-outbox-{row.id}")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(crypto.decrypt(row.body_text_encrypted or "", OUTBOX_LABEL))
    if row.body_html_encrypted:
        message.add_alternative(
            crypto.decrypt(row.body_html_encrypted, OUTBOX_LABEL), subtype="html"
        )
    return message


def smtp_connection(config: Mapping[str, Any]) -> smtplib.SMTP:
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT"]
    security = config["SMTP_SECURITY"]
    connection: smtplib.SMTP
    if security == "ssl":
        connection = smtplib.SMTP_SSL(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = smtplib.SMTP(host, port, timeout=timeout)
        if security == "starttls":
            connection.starttls(context=ssl.create_default_context())
    if config.get("SMTP_USER"):
        connection.login(config["SMTP_USER"], config.get("SMTP_PASSWORD", ""))
    return connection


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts``: 1, 2, 4, ... minutes, at most six hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def deliver_pending(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Send every pending email that is due; return how many were sent."""
    rows = session.scalars(
        select(EmailOutbox)
        .where(EmailOutbox.status == OutboxStatus.pending, EmailOutbox.next_attempt_at <= now)
        .order_by(EmailOutbox.id)
        .limit(config["OUTBOX_BATCH_SIZE"])
    ).all()
    if not rows:
        return 0
    sent = 0
    try:
        connection = smtp_connection(config)
    except (OSError, smtplib.SMTPException) as exc:
        for row in rows:
            _failed(row, f"connect: {exc}", now, config)
        return 0
    with connection:
        for row in rows:
            message = build_message(row, config, now)
            try:
                connection.send_message(message)
            except (OSError, smtplib.SMTPException) as exc:
                _failed(row, str(exc), now, config)
                continue
            row.message_id = message["Message-ID"]
            row.status = OutboxStatus.sent
            row.sent_at = now
            row.attempts += 1
            if row.carries_secret:
                row.body_text_encrypted = None
                row.body_html_encrypted = None
            session.add(row)
            sent += 1
    return sent


def _failed(row: EmailOutbox, error: str, now: datetime, config: Mapping[str, Any]) -> None:
    row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= config["OUTBOX_MAX_ATTEMPTS"]:
        row.status = OutboxStatus.dead
    else:
        row.next_attempt_at = now + backoff(row.attempts)
