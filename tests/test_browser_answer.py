"""A subject downloads their answer in a real browser: Debian's chromium through Playwright.

The answer is made and released as staff would; the subject follows the link in the email
that says it is ready, asks for a code on the status page, reads it from the email, types
it, and gets the ZIP, which the test opens.
"""

import json
import re
import zipfile

import pytest

from dsr.audit import Actor
from dsr.db import get_db, utcnow
from dsr.exports import service
from dsr.exports.jobs import build_answers
from dsr.exports.sample import carry_out, file_verified_request
from dsr.models import Right
from dsr.notifications import deliver_pending
from tests.exports_support import pdf_text
from tests.rights_support import demo_profile, profile_in
from tests.support import LiveServer, text_body

pytestmark = pytest.mark.browser

CODE = re.compile(r"^\s+(\d{6})\s*$", re.M)


def send_queued_mail(app):
    with app.app_context(), get_db(app).transaction() as session:
        deliver_pending(session, utcnow(), app.config)


def test_the_subject_downloads_the_answer_with_an_emailed_code(
    make_app, fresh_database, page, artifacts, backend, databases, tmp_path, smtp
):
    app = make_app(DATABASE_URL=fresh_database)
    handler = Actor.system("handler")
    with (
        profile_in(app, demo_profile("default", backend, databases, tmp_path)),
        LiveServer(app) as server,
    ):
        app.config["BASE_URL"] = server.url  # the links in the emails lead to this server
        with app.app_context():
            database = get_db(app)
            with database.transaction() as session:
                request = file_verified_request(session, Right.access)
                carry_out(session, request, actor=handler)
                export_id = service.prepare(session, request, actor=handler).id
                reference = request.reference
            with database.transaction() as session:
                assert build_answers(session, utcnow(), app.config) == 1
            with database.transaction() as session:
                export = service.get(session, export_id)
                service.release(session, export, actor=handler)
                sha256 = export.sha256
        send_queued_mail(app)
        # The acknowledgement of the request, then the news that the answer is ready.
        _acknowledgement, ready = smtp.wait_for(2)
        assert ready["Subject"] == f"Ditt svar är klart ({reference})"
        status_url = re.search(rf"{re.escape(server.url)}/status/\S+", text_body(ready)).group(0)

        page.goto(status_url)
        answer = page.locator("#downloads")
        assert "Vårt svar är klart" in answer.inner_text()
        assert sha256 in answer.inner_text()
        page.get_by_role("button", name="Skicka en nedladdningskod till min e-post").click()
        page.wait_for_url(re.compile(r"/status/"))
        assert "Vi har skickat en nedladdningskod" in page.content()

        send_queued_mail(app)
        coded = smtp.wait_for(3)[-1]
        assert coded["Subject"] == f"Din nedladdningskod för {reference}"
        assert coded["To"] == "astrid.lindqvist@example.com"
        code = CODE.search(text_body(coded)).group(1)
        page.get_by_label("Nedladdningskod från e-postmeddelandet").fill(code)
        page.screenshot(path=str(artifacts / f"answer-download-{backend}.png"), full_page=True)
        with page.expect_download() as waiting:
            page.get_by_role("button", name="Hämta svaret").click()
        download = waiting.value
        assert download.suggested_filename == f"{reference}.zip"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)

    with zipfile.ZipFile(saved) as bundle:
        assert {"README.txt", "answer.json", "answer.pdf"} <= set(bundle.namelist())
        doc = json.loads(bundle.read("answer.json"))
        text = pdf_text(bundle.read("answer.pdf"))
    assert doc["request"]["reference"] == reference
    assert doc["subject"]["email"] == "astrid.lindqvist@example.com"
    assert "Astrid" in text and "Svar på din begäran" in text
