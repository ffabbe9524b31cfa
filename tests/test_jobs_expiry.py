"""Unverified requests expire (and the subject is told); answer files expire and are deleted."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dsr import audit, notifications
from dsr.jobs import expiry
from dsr.models import (
    AuditEvent,
    Export,
    ExportState,
    RequestStatus,
    TokenPurpose,
    VerificationToken,
)
from tests.support import text_body

SUBMITTED = datetime.fromisoformat("2026-03-01T10:00:00+01:00")


@pytest.fixture
def submitted(frozen_time):
    """Requests made now are made at SUBMITTED."""
    frozen_time(SUBMITTED)


def token_for(db, request):
    token = VerificationToken(
        purpose=TokenPurpose.verify_email,
        request_id=request.id,
        token_hash=f"hash-{request.id}",
        expires_at=SUBMITTED + timedelta(hours=24),
    )
    db.add(token)
    db.commit()
    return token


def test_an_unverified_request_expires_after_the_configured_days_and_the_subject_is_told(
    app, db, smtp, make_request, submitted, frozen_time
):
    request = make_request(subject_email="eva@example.se", language="en")
    token = token_for(db, request)

    day_13 = SUBMITTED + timedelta(days=13, hours=23)
    assert expiry.expire_unverified(db, day_13, app.config) == 0
    day_14 = SUBMITTED + timedelta(days=14)
    frozen_time(day_14)
    assert expiry.expire_unverified(db, day_14, app.config) == 1
    db.commit()
    assert expiry.expire_unverified(db, day_14 + timedelta(hours=1), app.config) == 0

    db.refresh(request)
    db.refresh(token)
    assert request.status == RequestStatus.expired
    assert request.closed_at == day_14
    assert token.revoked_at == day_14
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "request.expired")).one()
    assert event.request_id == request.id and event.public
    assert event.actor_label == "scheduler"
    assert audit.verify_chain(db) is None

    assert notifications.deliver_pending(db, day_14, app.config) == 1
    [message] = smtp.wait_for(1)
    assert message["To"] == "eva@example.se"
    assert message["Subject"] == f"Your request {request.reference} has been closed"
    body = text_body(message)
    assert "on 2026-03-01, but the email address was not confirmed within 14 days" in body
    assert "http://dsr.test/?lang=en" in body


def test_the_expiry_notice_is_in_swedish_for_a_swedish_request(
    app, db, smtp, make_request, submitted
):
    request = make_request(language="sv")
    later = SUBMITTED + timedelta(days=15)
    expiry.expire_unverified(db, later, app.config)
    notifications.deliver_pending(db, later, app.config)
    [message] = smtp.wait_for(1)
    assert message["Subject"] == f"Ditt ärende {request.reference} har avslutats"


def test_verified_and_closed_requests_do_not_expire(app, db, make_request, submitted):
    make_request(status=RequestStatus.verified)
    make_request(status=RequestStatus.withdrawn, closed_at=SUBMITTED)
    later = SUBMITTED + timedelta(days=60)
    assert expiry.expire_unverified(db, later, app.config) == 0


def test_the_expiry_period_is_a_setting(app, db, make_request, submitted):
    make_request()
    config = dict(app.config, VERIFICATION_UNVERIFIED_EXPIRY_DAYS=3)
    assert expiry.expire_unverified(db, SUBMITTED + timedelta(days=3), config) == 1


def test_a_request_without_an_email_address_expires_silently(app, db, make_request, submitted):
    make_request(subject_email=None)
    assert expiry.expire_unverified(db, SUBMITTED + timedelta(days=20), app.config) == 1
    assert db.scalars(select(notifications.EmailOutbox)).all() == []


# --- answer files ----------------------------------------------------------------------


def export_file(app, db, request, name, *, expires_at, state=ExportState.ready):
    directory = Path(app.config["DATA_DIR"]) / "exports"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(b"encrypted answer")
    export = Export(
        request_id=request.id,
        state=state,
        path=name,
        size_bytes=16,
        progress=100,
        expires_at=expires_at,
        # A failed answer always says why.
        error="The source could not be read." if state == ExportState.failed else None,
    )
    db.add(export)
    db.commit()
    return export, directory / name


def test_an_expired_answer_is_deleted_and_its_link_stops(app, db, make_request, submitted):
    request = make_request(status=RequestStatus.completed, closed_at=SUBMITTED)
    ends = SUBMITTED + timedelta(days=14)
    old, old_file = export_file(app, db, request, "a.zip.enc", expires_at=ends)
    current, current_file = export_file(
        app, db, request, "b.zip.enc", expires_at=ends + timedelta(days=1)
    )

    assert expiry.expire_exports(db, ends - timedelta(seconds=1), app.config) == 0
    assert expiry.expire_exports(db, ends, app.config) == 1
    db.commit()
    assert expiry.expire_exports(db, ends + timedelta(hours=1), app.config) == 0

    db.refresh(old)
    db.refresh(current)
    assert not old_file.exists() and current_file.exists()
    assert old.state == ExportState.expired and old.purged_at == ends and old.path is None
    assert current.state == ExportState.ready
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "export.expired")).one()
    assert event.request_id == request.id and event.payload["export_id"] == old.id


def test_a_file_already_gone_does_not_stop_the_purge(app, db, make_request, submitted):
    request = make_request(status=RequestStatus.completed, closed_at=SUBMITTED)
    export, path = export_file(app, db, request, "c.zip.enc", expires_at=SUBMITTED)
    path.unlink()
    assert expiry.expire_exports(db, SUBMITTED + timedelta(days=1), app.config) == 1
    db.refresh(export)
    assert export.purged_at is not None


def test_a_failed_build_is_purged_but_keeps_its_state(app, db, make_request, submitted):
    request = make_request(status=RequestStatus.in_progress)
    export, path = export_file(
        app, db, request, "d.zip.enc", expires_at=SUBMITTED, state=ExportState.failed
    )
    expiry.expire_exports(db, SUBMITTED + timedelta(days=1), app.config)
    db.refresh(export)
    assert not path.exists()
    assert export.state == ExportState.failed and export.purged_at is not None


def test_a_stored_name_never_leads_outside_the_exports_directory(
    app, db, make_request, submitted, tmp_path
):
    request = make_request(status=RequestStatus.completed, closed_at=SUBMITTED)
    outside = Path(app.config["DATA_DIR"]) / "keep-me.txt"
    outside.write_text("not an export")
    export = Export(
        request_id=request.id,
        state=ExportState.ready,
        path="../keep-me.txt",
        expires_at=SUBMITTED,
    )
    db.add(export)
    db.commit()
    expiry.expire_exports(db, SUBMITTED + timedelta(days=1), app.config)
    assert outside.exists()
