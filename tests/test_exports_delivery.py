"""Delivering the answer: staff make, preview and release it; the subject downloads it with a
fresh emailed code; the file is sealed at rest, expires and is purged."""

import hashlib
import io
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from dsr.db import utcnow
from dsr.exports import service
from dsr.exports.jobs import build_answers
from dsr.jobs.expiry import expire_exports
from dsr.models import ExportState, ManualTask, RequestStatus, Right
from dsr.profiles import current_profile
from dsr.rights.base import digest
from tests.exports_support import (  # noqa: F401 - shop is a fixture
    answer_for,
    build,
    executed,
    exports,
    opened,
    shop,
)
from tests.intake_helpers import errors_on, events, queued
from tests.rights_support import HANDLER, NOW

pytestmark = pytest.mark.usefixtures("shop")

CODE = re.compile(r"^\s+(\d{6})\s*$", re.M)


def rename(profile, table, to):
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(profile.sources[0].url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(text(f"ALTER TABLE {table} RENAME TO {to}"))
    engine.dispose()


def page(client, reference):
    return client.get(f"/staff/requests/{reference}?lang=en").get_data(as_text=True)


def status_link(db, request):
    from dsr import identity

    token = identity.issue_status_token(db, request)
    db.commit()
    return f"/status/{token}"


def released(db, app, right=Right.objection):
    """A released answer. Objection by default: its short PDF is quick to make, and the
    delivery does not depend on the right."""
    request, export = answer_for(db, app, right)
    service.release(db, export, actor=HANDLER)
    db.commit()
    return request, export


def mail_body(db, kind):
    from dsr.crypto import decrypt
    from dsr.notifications import OUTBOX_LABEL

    (row,) = queued(db, kind)[-1:]
    return decrypt(row.body_text_encrypted, OUTBOX_LABEL)


def fresh_code(client, db, link):
    response = client.submit(f"{link}/answer/code", {}, follow_redirects=False)
    assert response.status_code == 302
    return CODE.search(mail_body(db, "download_code")).group(1)


def download(client, link, code):
    return client.submit(f"{link}/answer?lang=en", {"download_code": code})


# --- staff -------------------------------------------------------------------------------------


def test_staff_make_preview_and_release_the_answer(app, db, client, login_as):
    handler = login_as("handler")
    request, _row = executed(db, Right.access)
    assert "No answer yet" in page(client, request.reference)
    # Completing waits for the answer to be released.
    blocked = client.submit(
        f"/staff/requests/{request.reference}/complete?lang=en",
        {"summary": "Klart", "step": "send"},
    )
    assert "The answer has not been released to the subject." in blocked.get_data(as_text=True)

    made = client.submit(f"/staff/requests/{request.reference}/answer", {})
    assert made.status_code == 302
    html = page(client, request.reference)
    assert "Being made" in html and 'value="0"' in html
    # Asking again while it is being made changes nothing.
    client.submit(f"/staff/requests/{request.reference}/answer", {})
    assert len(exports(db, request)) == 1

    assert build_answers(db, utcnow(), app.config) == 1
    (export,) = exports(db, request)
    assert export.state == ExportState.ready and export.progress == 100
    assert export.size_bytes > 0 and len(export.sha256) == 64
    html = page(client, request.reference)
    assert "Ready" in html and export.sha256 in html

    pdf = client.submit(f"/staff/requests/{request.reference}/answer/{export.id}/preview/pdf", {})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert "inline" in pdf.headers["Content-Disposition"]
    doc = client.submit(f"/staff/requests/{request.reference}/answer/{export.id}/preview/json", {})
    assert doc.json["request"]["reference"] == request.reference
    previews = events(db, request, "export.previewed")
    assert [e.payload["file"] for e in previews] == ["answer.pdf", "answer.json"]
    assert all(e.actor_id == handler.id for e in previews)

    client.submit(f"/staff/requests/{request.reference}/answer/{export.id}/release", {})
    db.refresh(export)
    assert export.released_at == utcnow() and export.released_by_id == handler.id
    assert export.expires_at == utcnow() + timedelta(days=14)
    body = mail_body(db, "answer_ready")
    assert request.reference in body and "/status/" in body
    assert not CODE.search(body)  # nothing secret but the status link
    (event,) = events(db, request, "export.released")
    assert event.public and event.payload["sha256"] == export.sha256
    for task in db.exec(select(ManualTask).where(ManualTask.request_id == request.id)):
        client.submit(
            f"/staff/requests/{request.reference}/tasks/{task.id}",
            {"status": "done", "note": "Searched, nothing more found"},
        )
    done = client.submit(
        f"/staff/requests/{request.reference}/complete", {"summary": "Klart", "step": "send"}
    )
    assert done.status_code == 302
    db.refresh(request)
    assert request.status == RequestStatus.completed


def test_an_auditor_may_preview_but_not_make_or_release(app, db, client, login_as):
    request, export = answer_for(db, app, Right.objection)
    login_as("auditor")
    reference = request.reference
    assert client.submit(f"/staff/requests/{reference}/answer", {}).status_code == 403
    release = client.submit(f"/staff/requests/{reference}/answer/{export.id}/release", {})
    assert release.status_code == 403
    preview = client.submit(f"/staff/requests/{reference}/answer/{export.id}/preview/pdf", {})
    assert preview.status_code == 200
    # Another request's answer is not reachable through this one's page.
    other, _ = executed(db, Right.restriction)
    assert (
        client.submit(
            f"/staff/requests/{other.reference}/answer/{export.id}/preview/pdf", {}
        ).status_code
        == 404
    )


def test_a_failed_build_shows_why_and_is_made_again(app, db, client, login_as, tmp_path):
    login_as("handler")
    request, _row = executed(db, Right.access)
    client.submit(f"/staff/requests/{request.reference}/answer", {})
    # A table of the customer system is gone while the answer is made.
    rename(current_profile(), "login_events", "login_events_away")
    try:
        assert build_answers(db, utcnow(), app.config) == 1
    finally:
        rename(current_profile(), "login_events_away", "login_events")
    (failed,) = exports(db, request)
    assert failed.state == ExportState.failed and failed.error
    assert failed.path is None
    assert not list((Path(app.config["DATA_DIR"]) / "exports").glob("*.part"))
    html = page(client, request.reference)
    assert "Failed" in html and "Why it failed:" in html
    (event,) = events(db, request, "export.failed")
    assert event.reason == failed.error

    client.submit(f"/staff/requests/{request.reference}/answer", {})
    assert build_answers(db, utcnow(), app.config) == 1
    states = sorted(e.state.value for e in exports(db, request))
    assert states == ["failed", "ready"]


# --- the subject ----------------------------------------------------------------------------------


def test_the_subject_downloads_the_released_answer_with_a_fresh_code(app, db, client):
    request, export = answer_for(db, app, Right.portability)
    link = status_link(db, request)
    assert 'id="downloads"' not in client.get(link).get_data(as_text=True)
    service.release(db, export, actor=HANDLER)
    db.commit()
    html = client.get(f"{link}?lang=en").get_data(as_text=True)
    assert 'id="downloads"' in html and export.sha256 in html
    assert "Email me a download code" in html

    code = fresh_code(client, db, link)
    (mail,) = queued(db, "download_code")
    assert mail.carries_secret and mail.to_addr == request.subject_email
    assert "/status/" not in mail_body(db, "download_code")  # the code only, no link
    response = download(client, link, code)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert f'filename="{request.reference}.zip"' in response.headers["Content-Disposition"]
    assert hashlib.sha256(response.data).hexdigest() == export.sha256
    bundle = zipfile.ZipFile(io.BytesIO(response.data))
    assert {"README.txt", "answer.json", "answer.pdf"} <= set(bundle.namelist())
    db.refresh(export)
    assert export.download_count == 1
    (event,) = events(db, request, "export.downloaded")
    assert event.public and event.payload["sha256"] == export.sha256
    assert events(db, request, "export.code_sent")
    timeline = client.get(f"{link}?lang=en").get_data(as_text=True)
    assert "You downloaded the answer." in timeline

    # A code works once: the next download needs a new one.
    again = download(client, link, code)
    assert again.status_code == 422
    assert "was used" in errors_on(again.get_data(as_text=True))["download_code"]
    assert download(client, link, fresh_code(client, db, link)).status_code == 200
    db.refresh(export)
    assert export.download_count == 2


def test_five_wrong_codes_use_the_code_up(app, db, client):
    request, _export = released(db, app)
    link = status_link(db, request)
    code = fresh_code(client, db, link)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        response = download(client, link, wrong)
        assert response.status_code == 422
        assert f"Tries left: {left}" in errors_on(response.get_data(as_text=True))["download_code"]
    # The right code no longer helps.
    response = download(client, link, code)
    assert response.status_code == 422
    assert "Too many wrong codes" in errors_on(response.get_data(as_text=True))["download_code"]
    assert not events(db, request, "export.downloaded")


def test_an_expired_or_replaced_code_does_not_download(app, db, client, frozen_time):
    request, _export = released(db, app)
    link = status_link(db, request)
    code = fresh_code(client, db, link)
    frozen_time(NOW + timedelta(minutes=31))
    response = download(client, link, code)
    assert response.status_code == 422
    assert "expired" in errors_on(response.get_data(as_text=True))["download_code"]

    first = fresh_code(client, db, link)
    second = fresh_code(client, db, link)
    if first != second:
        assert download(client, link, first).status_code == 422
    assert download(client, link, second).status_code == 200


def test_another_requests_code_does_not_download_this_answer(app, db, client):
    access, _ = released(db, app, Right.objection)
    portability, _ = released(db, app, Right.restriction)
    access_link, portability_link = status_link(db, access), status_link(db, portability)
    others = fresh_code(client, db, portability_link)
    own = fresh_code(client, db, access_link)
    if others != own:
        response = download(client, access_link, others)
        assert response.status_code == 422
        assert "not right" in errors_on(response.get_data(as_text=True))["download_code"]
    assert download(client, access_link, own).status_code == 200
    # ... and the other request's code is still good for its own answer.
    assert download(client, portability_link, others).status_code == 200


def test_asking_for_codes_is_limited(app, db, client):
    request, _export = released(db, app)
    link = status_link(db, request)
    for _ in range(app.config["VERIFICATION_RESEND_PER_HOUR"]):
        fresh_code(client, db, link)
    assert client.submit(f"{link}/answer/code", {}).status_code == 429


def test_nothing_is_offered_without_a_released_answer(app, db, client):
    request, _export = answer_for(db, app, Right.objection)  # ready, not released
    link = status_link(db, request)
    client.submit(f"{link}/answer/code", {})
    assert queued(db, "download_code") == []
    response = client.submit(f"{link}/answer", {"download_code": "123456"})
    assert response.status_code == 302


# --- at rest, expiry and purge -------------------------------------------------------------------


def test_the_file_on_disk_is_sealed_and_a_damaged_file_is_never_served(app, db, client, login_as):
    request, export = released(db, app)
    path = service.bundle_path(export, app.config)
    sealed = path.read_bytes()
    assert not sealed.startswith(b"PK") and b"answer.json" not in sealed
    assert b"Astrid" not in sealed and b"19640823" not in sealed
    assert export.size_bytes == len(opened(app, export).fp.getvalue())

    link = status_link(db, request)
    code = fresh_code(client, db, link)
    path.write_bytes(sealed[: len(sealed) - 100])  # cut short
    response = client.submit(f"{link}/answer?lang=en", {"download_code": code})
    assert response.status_code == 302
    assert "cannot be read" in client.get(f"{link}?lang=en").get_data(as_text=True)
    db.refresh(export)
    assert export.download_count == 0

    changed = bytearray(sealed)
    changed[100] ^= 0x01  # inside the first chunk, where answer.json begins
    path.write_bytes(bytes(changed))
    login_as("handler")
    preview = client.submit(
        f"/staff/requests/{request.reference}/answer/{export.id}/preview/json?lang=en", {}
    )
    assert preview.status_code == 302
    assert "does not check out" in page(client, request.reference)
    assert not events(db, request, "export.previewed")


def test_the_answer_expires_and_its_file_is_purged(app, db, client, frozen_time):
    request, export = released(db, app)
    path = service.bundle_path(export, app.config)
    link = status_link(db, request)
    assert path.exists()
    frozen_time(export.expires_at - timedelta(seconds=1))
    assert expire_exports(db, utcnow(), app.config) == 0
    frozen_time(export.expires_at)
    assert expire_exports(db, utcnow(), app.config) == 1
    db.commit()
    db.refresh(export)
    assert export.state == ExportState.expired and export.purged_at is not None
    assert export.path is None and not path.exists()
    assert events(db, request, "export.expired")
    assert 'id="downloads"' not in client.get(link).get_data(as_text=True)
    assert client.submit(f"{link}/answer", {"download_code": "123456"}).status_code == 302


def test_an_answer_never_released_is_purged_too(app, db, frozen_time):
    _request, export = answer_for(db, app, Right.objection)
    path = service.bundle_path(export, app.config)
    assert export.expires_at == export.ready_at + timedelta(days=14)
    frozen_time(export.expires_at)
    assert expire_exports(db, utcnow(), app.config) == 1
    assert not path.exists()


def test_releasing_a_new_answer_replaces_the_old_one(app, db):
    request, old = released(db, app)
    old_path = service.bundle_path(old, app.config)
    new = build(db, app, request)
    service.release(db, new, actor=HANDLER)
    db.commit()
    db.refresh(old)
    assert old.state == ExportState.expired and not old_path.exists()
    assert service.offered(db, request).id == new.id
    (event,) = events(db, request, "export.replaced")
    assert event.payload == {"export_id": old.id, "state_before": "ready", "by": new.id}


def test_an_answer_made_before_a_later_step_is_not_released(app, db):
    from dsr import workflow
    from dsr.exports.sample import file_verified_request
    from dsr.models import TaskStatus
    from dsr.rights import service as plans
    from dsr.rights import steps

    review = file_verified_request(db, Right.human_review)
    row = plans.make_plan(db, review, actor=HANDLER)
    plans.approve(db, row, actor=HANDLER)
    plans.execute(db, row, actor=HANDLER)
    db.commit()
    export = build(db, app, review)
    for task in db.exec(select(ManualTask).where(ManualTask.request_id == review.id)):
        workflow.complete_task(db, task, status=TaskStatus.done, note="Checked", actor=HANDLER)
    steps.conclude_review(db, row, actor=HANDLER, result="changed", explanation="Fel uppgift.")
    db.commit()
    assert export.outcome_sha256 != digest(row.outcome)
    with pytest.raises(workflow.WorkflowError, match="Planen har ändrats"):
        service.release(db, export, actor=HANDLER)


def test_a_build_whose_scheduler_died_is_taken_again_and_finished(app, db):
    request, _row = executed(db, Right.access)
    export = service.prepare(db, request, actor=HANDLER)
    directory = Path(app.config["DATA_DIR"]) / "exports"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dead.zip.enc.part").write_bytes(b"half an answer")
    export.path = "dead.zip.enc"
    export.claimed_by = "a scheduler that died"
    export.claimed_until = utcnow() + timedelta(minutes=5)
    db.add(export)
    db.commit()
    # Its claim still runs: nobody else touches it.
    assert build_answers(db, utcnow(), app.config) == 0
    export.claimed_until = utcnow() - timedelta(seconds=1)
    db.add(export)
    db.commit()
    assert build_answers(db, utcnow(), app.config) == 1
    db.refresh(export)
    assert export.state == ExportState.ready and export.path != "dead.zip.enc"
    assert not (directory / "dead.zip.enc.part").exists()


def test_the_schema_is_served_where_the_document_says(client):
    response = client.get("/schema/answer-v1.json")
    assert response.status_code == 200
    assert response.mimetype == "application/schema+json"
    assert response.json["$id"] == "urn:dsr:schema:answer-v1"
    assert client.get("/schema/answer-v2.json").status_code == 404


def test_a_build_taken_over_by_another_scheduler_leaves_the_row_to_it(app, db):
    from dsr.rights.base import Environment

    request, _row = executed(db, Right.access)
    export = service.prepare(db, request, actor=HANDLER)
    db.commit()
    assert service.claim_next(db, "first", utcnow()).id == export.id
    path = export.path
    # The first scheduler was thought dead and another one claimed the answer meanwhile.
    export.claimed_by = "second"
    db.add(export)
    db.commit()
    assert not service.build(db, export, Environment.current(), owner="first")
    db.refresh(export)
    assert export.state == ExportState.building and export.claimed_by == "second"
    assert export.error is None and export.path == path
    assert not list((Path(app.config["DATA_DIR"]) / "exports").glob("*.part"))
    assert not events(db, request, "export.failed")


def test_a_download_without_a_code_asks_for_it(app, db, client):
    request, _export = released(db, app)
    link = status_link(db, request)
    response = client.submit(f"{link}/answer?lang=en", {"download_code": ""})
    assert response.status_code == 422
    assert "download_code" in errors_on(response.get_data(as_text=True))
