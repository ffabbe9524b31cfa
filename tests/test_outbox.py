"""The outbox job: claims, retries, giving up with an alert, and the admin's outbox page."""

import threading
from datetime import datetime, timedelta

from sqlalchemy import select

from dsr import audit, notifications
from dsr.db import get_db
from dsr.jobs.claims import take_write_lock
from dsr.models import AuditEvent, EmailOutbox, OutboxStatus, StaffRole
from dsr.scheduler import run_due_jobs
from tests.support import SMTPSink, text_body, wait_until

NOW = datetime.fromisoformat("2026-03-10T09:00:00+01:00")

DEAD_CONTEXT = {
    "attempts": 8,
    "to": "anna@example.se",
    "subject": "Ditt ärende",
    "reference": "DSR-2026-000042",
    "error": "550 <no such user>",
}


EXPIRED_CONTEXT = {
    "reference": "DSR-2026-000042",
    "days": 14,
    "received_at": NOW,
    "start_url": "http://dsr.test/?lang=sv",
}


def queue(db, to="anna@example.se", **kw):
    """An email to a subject (one telling them their request expired)."""
    kind = kw.pop("kind", "request_expired")
    row = notifications.queue_email(
        db,
        kind,
        to,
        language=kw.pop("language", "sv"),
        context=kw.pop("context", EXPIRED_CONTEXT if kind == "request_expired" else DEAD_CONTEXT),
        **kw,
    )
    db.commit()
    return row


def person(make_staff, db, role, *, language="sv", active=True):
    user = make_staff(role)
    user.language = language
    user.active = active
    db.add(user)
    db.commit()
    return user


def down(app, **extra):
    """The app's configuration with a mail server that refuses connections."""
    return dict(app.config, SMTP_PORT=1, **extra)


def test_every_email_carries_the_message_id_stored_when_it_was_queued(app, db, smtp, frozen_time):
    frozen_time(NOW)
    now = NOW
    row = queue(db)
    stored = row.message_id
    assert stored and stored.endswith("@dsr.test>")
    # The first attempt fails; the retry carries the same Message-ID, so a duplicate (should
    # one ever happen) is recognisable as one.
    assert notifications.deliver_pending(db, now, down(app)) == 0
    assert notifications.deliver_pending(db, now + timedelta(minutes=2), app.config) == 1
    [message] = smtp.wait_for(1)
    assert message["Message-ID"] == stored
    db.refresh(row)
    assert row.status == OutboxStatus.sent and row.attempts == 2
    assert "connect" in row.last_error  # the history stays visible to admins


def test_an_email_claimed_by_another_scheduler_is_left_alone_until_the_claim_runs_out(
    app, db, smtp, frozen_time
):
    frozen_time(NOW)
    now = NOW
    row = queue(db)
    row.status = OutboxStatus.sending
    row.claimed_by = "other-host:123:abc"
    row.claimed_until = now + timedelta(minutes=5)
    row.attempts = 1
    db.add(row)
    db.commit()

    assert notifications.deliver_pending(db, now, app.config) == 0
    assert notifications.deliver_pending(db, now + timedelta(minutes=4), app.config) == 0
    assert smtp.messages == []

    # The other scheduler died without a word: once its claim has run out, the email goes.
    assert notifications.deliver_pending(db, now + timedelta(minutes=6), app.config) == 1
    assert len(smtp.wait_for(1)) == 1
    db.refresh(row)
    assert row.status == OutboxStatus.sent and row.attempts == 2
    assert row.claimed_by != "other-host:123:abc" and row.claimed_until is None


def test_a_batch_sends_no_more_than_the_batch_size(app, db, smtp, frozen_time):
    frozen_time(NOW)
    now = NOW
    for i in range(5):
        queue(db, to=f"person{i}@example.se")
    config = dict(app.config, OUTBOX_BATCH_SIZE=3)
    assert notifications.deliver_pending(db, now, config) == 3
    assert notifications.deliver_pending(db, now, config) == 2
    assert notifications.deliver_pending(db, now, config) == 0
    assert len(smtp.wait_for(5)) == 5
    assert len({m["To"] for m in smtp.messages}) == 5


def test_giving_up_alerts_every_active_admin_in_their_language(
    app, db, smtp, make_staff, make_request, frozen_time
):
    frozen_time(NOW)
    now = NOW
    swedish = person(make_staff, db, StaffRole.admin, language="sv")
    english = person(make_staff, db, StaffRole.admin, language="en")
    person(make_staff, db, StaffRole.admin, active=False)
    make_staff(StaffRole.handler)
    request = make_request()
    row = queue(db, request=request, to="anna@example.se")
    config = down(app, OUTBOX_MAX_ATTEMPTS=3)
    for attempt in range(3):
        notifications.deliver_pending(db, now, config)
        db.refresh(row)
        now = row.next_attempt_at if attempt < 2 else now
    assert row.status == OutboxStatus.dead and row.attempts == 3

    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "email.given_up")).one()
    assert event.request_id == request.id and event.payload["attempts"] == 3

    assert notifications.deliver_pending(db, now, app.config) == 2
    smtp.wait_for(2)
    [to_swedish] = smtp.to(swedish.email)
    [to_english] = smtp.to(english.email)
    assert to_swedish["Subject"] == (
        f"Ett e-postmeddelande kunde inte levereras ({request.reference})"
    )
    assert to_english["Subject"] == f"An email could not be delivered ({request.reference})"
    body = text_body(to_english)
    assert "after 3 attempts" in body and "anna@example.se" in body and "connect" in body
    assert len(smtp.messages) == 2


def test_an_alert_that_cannot_be_delivered_raises_no_further_alert(
    app, db, make_staff, frozen_time
):
    frozen_time(NOW)
    now = NOW
    make_staff(StaffRole.admin)
    alert = queue(db, kind=notifications.DEAD_ALERT_KIND, to="admin@dsr.test")
    notifications.deliver_pending(db, now, down(app, OUTBOX_MAX_ATTEMPTS=1))
    db.refresh(alert)
    assert alert.status == OutboxStatus.dead
    assert db.scalars(select(EmailOutbox).where(EmailOutbox.id != alert.id)).all() == []


def test_without_admins_the_privacy_team_is_alerted(app, db, smtp, frozen_time):
    frozen_time(NOW)
    now = NOW
    queue(db)
    notifications.deliver_pending(db, now, down(app, OUTBOX_MAX_ATTEMPTS=1))
    alerts = db.scalars(select(EmailOutbox).where(EmailOutbox.status == OutboxStatus.pending)).all()
    assert [a.to_addr for a in alerts] == ["privacy-team@dsr.test"]


def test_an_email_whose_sender_keeps_dying_is_given_up_on(app, db, smtp, frozen_time):
    """A message that crashes its sender must not be retried for ever."""
    frozen_time(NOW)
    now = NOW
    row = queue(db)
    row.status = OutboxStatus.sending
    row.claimed_by = "crashed:1:abc"
    row.claimed_until = now - timedelta(seconds=1)
    row.attempts = app.config["OUTBOX_MAX_ATTEMPTS"]
    db.add(row)
    db.commit()
    notifications.deliver_pending(db, now, app.config)
    db.refresh(row)
    assert row.status == OutboxStatus.dead
    assert "no outcome" in row.last_error
    assert all(m["To"] != "anna@example.se" for m in smtp.messages)


def test_a_body_that_cannot_be_decrypted_is_a_failed_attempt_not_a_crash(
    app, db, smtp, frozen_time
):
    frozen_time(NOW)
    now = NOW
    broken = queue(db)
    broken.body_text_encrypted = "not-a-fernet-token"
    db.add(broken)
    db.commit()
    fine = queue(db, to="bertil@example.se")
    assert notifications.deliver_pending(db, now, app.config) == 1
    db.refresh(broken)
    db.refresh(fine)
    assert broken.status == OutboxStatus.pending and "decrypted" in broken.last_error
    assert fine.status == OutboxStatus.sent


def test_queue_email_once_queues_a_key_only_once(app, db):
    first = notifications.queue_email_once(
        db,
        "outbox_dead",
        "x@dsr.test",
        dedupe_key="once:1",
        language="sv",
        context=DEAD_CONTEXT,
    )
    again = notifications.queue_email_once(
        db,
        "outbox_dead",
        "x@dsr.test",
        dedupe_key="once:1",
        language="sv",
        context=DEAD_CONTEXT,
    )
    db.commit()
    assert first is not None and again is None
    assert len(db.scalars(select(EmailOutbox)).all()) == 1


def test_emails_queued_while_the_mail_server_is_down_arrive_once_when_it_is_back(
    make_app, fresh_database, frozen_time
):
    frozen_time(NOW)
    now = NOW
    sink = SMTPSink().start()
    app = make_app(DATABASE_URL=fresh_database, SMTP_PORT=sink.port)
    sink.stop()
    try:
        with app.app_context(), get_db(app).transaction() as session:
            for i in range(12):
                notifications.queue_email(
                    session,
                    "outbox_dead",
                    f"person{i}@example.se",
                    language="sv",
                    context=DEAD_CONTEXT,
                )
        assert run_due_jobs(app, now)["outbox"] == 0
        with app.app_context(), get_db(app).transaction() as session:
            rows = session.scalars(select(EmailOutbox)).all()
            assert {r.status for r in rows} == {OutboxStatus.pending}
            assert max(r.attempts for r in rows) == 1

        sink.start()  # the same port again
        later = now + timedelta(minutes=2)
        assert run_due_jobs(app, later)["outbox"] == 12
        assert run_due_jobs(app, later + timedelta(hours=1))["outbox"] == 0
        messages = sink.wait_for(12)
        assert sorted(str(m["To"]) for m in messages) == sorted(
            f"person{i}@example.se" for i in range(12)
        )
        assert len({m["Message-ID"] for m in messages}) == 12
    finally:
        sink.stop()


# --- the admin page ------------------------------------------------------------------------


def dead_email(db, now, **kw):
    row = queue(db, **kw)
    row.status = OutboxStatus.dead
    row.attempts = 8
    row.last_error = "550 5.1.1 <anna@example.se>: Recipient address rejected"
    db.add(row)
    db.commit()
    return row


def test_admins_see_attempts_and_last_error(client, db, login_as, frozen_time):
    frozen_time(NOW)
    now = NOW
    login_as(StaffRole.admin)
    dead_email(db, now)
    page = client.get("/staff/admin/outbox/?status=dead&lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Recipient address rejected" in html
    assert "anna@example.se" in html
    assert ">8<" in html
    assert "Retry" in html


def test_only_admins_see_the_outbox(client, db, login_as):
    login_as(StaffRole.handler)
    assert client.get("/staff/admin/outbox/").status_code == 403


def test_an_admin_queues_a_dead_email_again_and_it_is_audited(
    app, client, db, login_as, smtp, make_request, frozen_time
):
    frozen_time(NOW)
    now = NOW
    admin = login_as(StaffRole.admin)
    request = make_request()
    row = dead_email(db, now, request=request)
    response = client.submit(f"/staff/admin/outbox/{row.id}/retry")
    assert response.status_code == 303
    db.refresh(row)
    assert row.status == OutboxStatus.pending and row.attempts == 0
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "email.retried")).one()
    assert event.actor_label == admin.email and event.request_id == request.id
    assert audit.verify_chain(db) is None
    assert notifications.deliver_pending(db, now, app.config) == 1
    assert smtp.wait_for(1)[0]["To"] == "anna@example.se"


def test_only_dead_emails_can_be_retried(client, db, login_as, frozen_time):
    frozen_time(NOW)
    login_as(StaffRole.admin)
    row = queue(db)
    response = client.submit(f"/staff/admin/outbox/{row.id}/retry?lang=en", follow_redirects=True)
    assert "Only emails that were given up on can be retried." in response.get_data(as_text=True)
    db.refresh(row)
    assert row.status == OutboxStatus.pending
    assert client.submit("/staff/admin/outbox/999999/retry").status_code == 404


def test_two_transactions_queueing_the_same_key_queue_it_once(make_app, fresh_database, backend):
    """Two schedulers' jobs racing for one email: the second waits, then finds it queued."""
    app = make_app(DATABASE_URL=fresh_database)
    database = get_db(app)
    outcome = {}

    def queue_it(session):
        take_write_lock(session)  # as the jobs do: on SQLite, wait for the writer first
        return notifications.queue_email_once(
            session,
            "request_expired",
            "anna@example.se",
            dedupe_key="request_expired:1",
            language="sv",
            context=EXPIRED_CONTEXT,
        )

    def second() -> None:
        with app.app_context(), database.transaction() as session:
            outcome["second"] = queue_it(session)

    with app.app_context():
        first = database.new_session()
        assert queue_it(first) is not None  # queued, not yet committed
        racer = threading.Thread(target=second)
        racer.start()
        if backend == "postgresql":
            # Commit only once the second transaction is stuck behind the first one's row.
            wait_until(lambda: waiting_for_a_lock(database.engine))
        first.commit()
        first.close()
        racer.join(timeout=30)
        assert not racer.is_alive()
        assert outcome == {"second": None}
        with database.transaction() as session:
            assert len(session.scalars(select(EmailOutbox)).all()) == 1


def waiting_for_a_lock(engine) -> bool:
    """Is a session of this database waiting for a lock? (Asked on a connection of its own:
    PostgreSQL shows a transaction the same activity snapshot throughout.)"""
    with engine.connect() as connection:
        waiting = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(waiting.scalar())
