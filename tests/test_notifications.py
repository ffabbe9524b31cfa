"""The email outbox: rendered in the recipient's language, encrypted at rest, sent over SMTP."""

from datetime import timedelta

from sqlalchemy import text
from sqlmodel import select

from dsr import notifications
from dsr.db import utcnow
from dsr.models import EmailOutbox, OutboxStatus
from tests.support import html_body, text_body

CONTEXT = {
    "attempts": 8,
    "to": "anna@example.se",
    "subject": "Ditt ärende",
    "reference": "DSR-2026-000042",
    "error": "550 <no such user>",
}


def queue(db, **kw):
    row = notifications.queue_email(
        db,
        "outbox_dead",
        kw.pop("to", "privacy-team@dsr.test"),
        language=kw.pop("language", "sv"),
        context=CONTEXT,
        **kw,
    )
    db.commit()
    return row


def test_queued_email_is_stored_encrypted(db, backend):
    row = queue(db)
    raw = db.execute(
        text("SELECT body_text_encrypted, body_html_encrypted FROM email_outbox WHERE id = :i"),
        {"i": row.id},
    ).one()
    assert "DSR-2026-000042" not in raw[0] and "DSR-2026-000042" not in raw[1]
    assert row.status == OutboxStatus.pending
    assert row.subject == "Ett e-postmeddelande kunde inte levereras (DSR-2026-000042)"


def test_delivery_sends_text_and_escaped_html_in_the_recipients_language(app, db, smtp):
    queue(db, language="sv")
    queue(db, language="en", to="admin@dsr.test")
    sent = notifications.deliver_pending(db, utcnow(), app.config)
    db.commit()
    assert sent == 2
    messages = smtp.wait_for(2)
    swedish = smtp.to("privacy-team@dsr.test")[0]
    english = smtp.to("admin@dsr.test")[0]
    assert swedish["Subject"] == "Ett e-postmeddelande kunde inte levereras (DSR-2026-000042)"
    assert english["Subject"] == "An email could not be delivered (DSR-2026-000042)"
    assert "efter 8 försök" in text_body(swedish)
    assert "550 <no such user>" in text_body(swedish)
    # In HTML the same text is escaped, never interpreted as markup.
    assert "550 &lt;no such user&gt;" in html_body(english)
    assert all(m["From"] == "dsr@dsr.test" for m in messages)
    rows = db.exec(select(EmailOutbox)).all()
    assert {r.status for r in rows} == {OutboxStatus.sent}


def test_secret_bodies_are_dropped_once_sent(app, db, smtp):
    row = queue(db, carries_secret=True)
    keep = queue(db)
    notifications.deliver_pending(db, utcnow(), app.config)
    db.commit()
    db.refresh(row)
    db.refresh(keep)
    assert (
        row.status == OutboxStatus.sent
        and row.body_text_encrypted is None
        and row.body_html_encrypted is None
    )
    assert keep.body_text_encrypted is not None


def test_smtp_down_keeps_the_email_and_retries_later(app, db):
    row = queue(db)
    down = dict(app.config, SMTP_PORT=1)
    now = utcnow()
    assert notifications.deliver_pending(db, now, down) == 0
    db.commit()
    db.refresh(row)
    assert row.status == OutboxStatus.pending
    assert row.attempts == 1 and "connect" in row.last_error
    assert row.next_attempt_at > now
    # Not due yet: nothing is tried.
    assert notifications.deliver_pending(db, now + timedelta(seconds=1), down) == 0
    db.refresh(row)
    assert row.attempts == 1


def test_gives_up_after_the_configured_attempts(app, db):
    row = queue(db)
    down = dict(app.config, SMTP_PORT=1, OUTBOX_MAX_ATTEMPTS=3)
    now = utcnow()
    for _ in range(3):
        notifications.deliver_pending(db, now, down)
        db.commit()
        db.refresh(row)
        now = row.next_attempt_at
    assert row.status == OutboxStatus.dead and row.attempts == 3


def test_dedupe_key_makes_a_second_queueing_fail(db):
    import pytest
    from sqlalchemy.exc import IntegrityError

    queue(db, dedupe_key="reminder:1:7")
    with pytest.raises(IntegrityError):
        notifications.queue_email(
            db,
            "outbox_dead",
            "x@dsr.test",
            language="sv",
            context=CONTEXT,
            dedupe_key="reminder:1:7",
        )
    db.rollback()
