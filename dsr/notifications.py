"""Email: rendered from templates into a database outbox, sent after commit.

``queue_email`` writes one ``EmailOutbox`` row in the caller's transaction, so an email exists
exactly when the change that causes it is committed. The scheduler's outbox job
(``deliver_pending``) sends pending rows over SMTP, retries failures with backoff and, after
``outbox.max_attempts``, gives up and alerts every active admin. Bodies are encrypted at rest
and dropped after sending when they carry a secret (verification codes, private links).

Sending exactly once
--------------------
An email must never be lost and should never arrive twice, even with several schedulers and
even when one of them is killed. ``deliver_pending`` therefore works one row at a time in
three steps, each its own short transaction:

1. **Claim.** Pick the next due row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, under the write
   lock on SQLite), set it to ``sending`` with ``claimed_by`` (this run) and
   ``claimed_until`` (now + ``outbox.claim_seconds``), count the attempt, commit. From here on
   no other scheduler touches the row while the claim lasts.
2. **Send** it over SMTP, outside any transaction (the database is never locked while we wait
   for the mail server).
3. **Record** the outcome with a compare-and-set on ``claimed_by`` and commit at once:
   ``sent``; or back to ``pending`` with a backoff; or ``dead``.

A crash before step 1 commits leaves the row ``pending``. A crash between 1 and 3 leaves it
``sending``; when the claim runs out another run takes it again, so nothing is lost. Counting
the attempt at the claim means a message that kills its sender every time still ends ``dead``
instead of looping.

The one window that no design can close is between the server's "250 accepted" and the
commit of step 3: a crash exactly there sends the email again after the claim runs out. It is
kept as short as possible (the commit follows the reply immediately, one message at a time,
never a batch), and the retry carries the same ``Message-ID`` (stored on the row when it is
queued), so mail systems and clients that drop duplicates by Message-ID show it once. A claim
that runs out while its sender is still alive would also send twice; the claim is taken per
message, so ``claim_seconds`` only has to outlast one SMTP conversation, which the SMTP
timeout bounds far below it.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, and_, any_, bindparam, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from dsr import audit, crypto
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.jobs import claims
from dsr.jobs.claims import claim_token, claiming
from dsr.models import UNSENT_SQL, EmailOutbox, OutboxStatus, Request, StaffRole, StaffUser

log = logging.getLogger(__name__)

OUTBOX_LABEL = "outbox"
#: Stands in for the subject's private status link in a draft a handler reviews; replaced by
#: a freshly issued link when the email is queued.
STATUS_LINK_PLACEHOLDER = "[status-link]"
#: The alert admins get when an email is given up on (never alerted about itself).
DEAD_ALERT_KIND = "outbox_dead"


class OutboxError(Exception):
    """An outbox action that cannot be done; the message is for the admin."""


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


def new_message_id(mail_from: str) -> str:
    """A globally unique Message-ID in the sender's domain, fixed for the row's lifetime."""
    domain = mail_from.rpartition("@")[2].strip(" >") or "dsr.invalid"
    return f"<{uuid.uuid4().hex}.outbox@{domain}>"


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
    twice fails at flush (``queue_email_once`` turns that into a no-op).
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
        message_id=new_message_id(current_app.config["MAIL_FROM"]),
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def queued_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` are already in the outbox (queued, sent or given up on)."""
    wanted = list(keys)
    found: set[str] = set()
    column = col(EmailOutbox.dedupe_key)
    if claims.dialect(session) == "postgresql":
        # One array parameter: a job checks tens of thousands of keys in a few statements.
        for start in range(0, len(wanted), 10_000):
            chunk = wanted[start : start + 10_000]
            matches = column == any_(bindparam("keys", chunk, type_=ARRAY(String())))
            found.update(key for key in session.scalars(select(column).where(matches)) if key)
        return found
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(key for key in session.scalars(select(column).where(column.in_(chunk))) if key)
    return found


def queue_email_once(
    session: Session,
    kind: str,
    to: str,
    *,
    dedupe_key: str,
    language: str,
    context: Mapping[str, Any] | None = None,
    request: Request | None = None,
) -> EmailOutbox | None:
    """Queue an email unless one with ``dedupe_key`` exists; None when it did.

    Safe against a concurrent transaction queueing the same key: on PostgreSQL the insert
    waits for that transaction and, if it committed, fails inside a savepoint, which is
    rolled back without disturbing the caller's transaction.
    """
    if queued_keys(session, [dedupe_key]):
        return None
    try:
        with session.begin_nested():
            return queue_email(
                session,
                kind,
                to,
                language=language,
                context=context,
                request=request,
                dedupe_key=dedupe_key,
            )
    except IntegrityError:
        if queued_keys(session, [dedupe_key]):
            return None
        raise


def build_message(row: EmailOutbox, config: Mapping[str, Any], now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = row.to_addr
    message["Subject"] = row.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = row.message_id or new_message_id(config["MAIL_FROM"])
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


@dataclass(frozen=True)
class _Claim:
    """One row this run holds, with everything needed to send it outside a transaction."""

    id: int
    token: str
    carries_secret: bool
    message: EmailMessage | None
    #: Why the message could not be built (it is then recorded as a failed attempt).
    problem: str | None = None


def deliver_pending(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Send the emails that are due, one claimed row at a time; return how many were sent.

    Unlike other jobs this commits, several times: each claim and each outcome is committed
    on its own so that a crash loses nothing and repeats as little as possible (see the
    module's docstring). Call it with a session that holds no other work.
    """
    lease = timedelta(seconds=config["OUTBOX_CLAIM_SECONDS"])
    token = claim_token()
    started = time.monotonic()

    def clock() -> datetime:
        # ``now`` is when the run started (frozen in tests); a long run moves on from it.
        return now + timedelta(seconds=time.monotonic() - started)

    sent = 0
    connection: smtplib.SMTP | None = None
    try:
        for _ in range(config["OUTBOX_BATCH_SIZE"]):
            claim = _claim_next(session, clock(), lease, token, config)
            if claim is None:
                break
            if claim.message is None:
                _record_failure(session, claim, claim.problem or "unreadable", clock(), config)
                continue
            try:
                if connection is None:
                    connection = smtp_connection(config)
            except (OSError, smtplib.SMTPException) as exc:
                _record_failure(session, claim, f"connect: {exc}", clock(), config)
                # The server is unreachable: the other emails wait for the next run.
                break
            try:
                connection.send_message(claim.message)
            except (OSError, smtplib.SMTPException) as exc:
                _record_failure(session, claim, str(exc), clock(), config)
                # The conversation may be in any state now; start the next on a fresh one.
                _close(connection)
                connection = None
                continue
            if _record_sent(session, claim, clock()):
                sent += 1
    finally:
        _close(connection)
    return sent


def _close(connection: smtplib.SMTP | None) -> None:
    if connection is not None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            connection.quit()
        with contextlib.suppress(OSError):
            connection.close()


def _due(now: datetime) -> Any:
    return and_(
        # Says nothing the rest does not, but lets the database walk the small index of
        # unsent rows (its condition, word for word) instead of sorting the backlog.
        text(UNSENT_SQL),
        or_(
            and_(EmailOutbox.status == OutboxStatus.pending, EmailOutbox.next_attempt_at <= now),
            # Claimed by a sender that never reported back (it crashed or lost the database).
            and_(EmailOutbox.status == OutboxStatus.sending, col(EmailOutbox.claimed_until) < now),
        ),
    )


def _claim_next(
    session: Session,
    now: datetime,
    lease: timedelta,
    token: str,
    config: Mapping[str, Any],
) -> _Claim | None:
    while True:
        query = (
            select(EmailOutbox)
            .where(_due(now))
            .order_by(col(EmailOutbox.next_attempt_at), col(EmailOutbox.id))
            .limit(1)
        )
        row = session.scalars(
            claiming(session, query).execution_options(populate_existing=True)
        ).first()
        if row is None:
            session.commit()
            return None
        if row.status == OutboxStatus.sending:
            if row.attempts >= config["OUTBOX_MAX_ATTEMPTS"]:
                row.last_error = f"no outcome recorded after {row.attempts} attempts"
                _give_up(session, row, now, config)
                session.commit()
                continue
            log.warning(
                "email %s: the claim of %s ran out without an outcome; sending it again",
                row.id,
                row.claimed_by,
            )
        row.status = OutboxStatus.sending
        row.claimed_by = token
        row.claimed_until = now + lease
        row.attempts += 1
        if not row.message_id:
            row.message_id = new_message_id(config["MAIL_FROM"])
        message: EmailMessage | None = None
        problem = None
        try:
            message = build_message(row, config, now)
        except crypto.InvalidToken:
            problem = "the stored body cannot be decrypted (was the secret key changed?)"
        assert row.id is not None
        claim = _Claim(row.id, token, row.carries_secret, message, problem)
        session.commit()
        return claim


def _record_sent(session: Session, claim: _Claim, now: datetime) -> bool:
    values: dict[str, Any] = {
        "status": OutboxStatus.sent,
        "sent_at": now,
        "claimed_until": None,
    }
    if claim.carries_secret:
        values.update(body_text_encrypted=None, body_html_encrypted=None)
    result = session.execute(
        update(EmailOutbox)
        .where(
            EmailOutbox.id == claim.id,
            EmailOutbox.claimed_by == claim.token,
            EmailOutbox.status == OutboxStatus.sending,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        log.warning("email %s: sent, but its claim had run out; it may arrive twice", claim.id)
        return False
    return True


def _record_failure(
    session: Session, claim: _Claim, error: str, now: datetime, config: Mapping[str, Any]
) -> None:
    row = session.scalars(
        claiming(
            session,
            select(EmailOutbox).where(
                EmailOutbox.id == claim.id,
                EmailOutbox.claimed_by == claim.token,
                EmailOutbox.status == OutboxStatus.sending,
            ),
        ).execution_options(populate_existing=True)
    ).first()
    if row is None:
        log.warning("email %s: failed (%s) after its claim had run out", claim.id, error)
        session.commit()
        return
    row.last_error = error[:2000]
    if row.attempts >= config["OUTBOX_MAX_ATTEMPTS"]:
        _give_up(session, row, now, config)
    else:
        row.status = OutboxStatus.pending
        row.claimed_until = None
        row.next_attempt_at = now + backoff(row.attempts)
    session.commit()


def _give_up(session: Session, row: EmailOutbox, now: datetime, config: Mapping[str, Any]) -> None:
    """Mark ``row`` dead, tell every active admin, and note it on the request's record."""
    row.status = OutboxStatus.dead
    row.claimed_until = None
    session.add(row)
    request = session.get(Request, row.request_id) if row.request_id is not None else None
    log.error("email %s (%s) given up after %d attempts", row.id, row.kind, row.attempts)
    if request is not None:
        claims.record(
            session,
            "email.given_up",
            request=request,
            payload={"outbox_id": row.id, "kind": row.kind, "attempts": row.attempts},
            at=now,
        )
    if row.kind == DEAD_ALERT_KIND:
        return
    context = {
        "attempts": row.attempts,
        "to": row.to_addr,
        "subject": row.subject,
        "reference": request.reference if request is not None else None,
        "error": row.last_error or "",
    }
    for address, language, who in admin_recipients(session, config):
        queue_email_once(
            session,
            DEAD_ALERT_KIND,
            address,
            dedupe_key=f"{DEAD_ALERT_KIND}:{row.id}:{who}",
            language=language,
            context=context,
            request=request,
        )


def admin_recipients(session: Session, config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(address, language, key) of every active admin; the privacy team if there are none."""
    admins = session.scalars(
        select(StaffUser)
        .where(StaffUser.role == StaffRole.admin, col(StaffUser.active).is_(True))
        .order_by(col(StaffUser.id))
    ).all()
    if not admins:
        return [(config["MAIL_PRIVACY_TEAM"], config["DEFAULT_LANGUAGE"], "team")]
    return [(a.email, a.language, str(a.id)) for a in admins]


def retry(session: Session, row: EmailOutbox, actor: Actor, now: datetime) -> None:
    """Put an email that was given up on back in the queue, with a fresh set of attempts."""
    if row.status != OutboxStatus.dead:
        raise OutboxError(_l("Only emails that were given up on can be retried."))
    if row.body_text_encrypted is None:
        raise OutboxError(_l("This email's text has been removed; it cannot be sent again."))
    row.status = OutboxStatus.pending
    row.attempts = 0
    row.next_attempt_at = now
    row.claimed_until = None
    session.add(row)
    request = session.get(Request, row.request_id) if row.request_id is not None else None
    audit.record(
        session,
        "email.retried",
        actor,
        request=request,
        payload={"outbox_id": row.id, "kind": row.kind},
        at=now.astimezone(UTC),  # the event's hash covers its time as text, read back in UTC
    )
