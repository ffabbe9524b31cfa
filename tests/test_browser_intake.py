"""A subject files a request in Swedish in a real browser, confirms it from the email, and
follows it: Debian's chromium driven by Playwright against a live server."""

import re

import pytest

from dsr.db import get_db, utcnow
from dsr.notifications import deliver_pending
from tests.intake_helpers import CODE
from tests.support import LiveServer, text_body

pytestmark = pytest.mark.browser


def send_queued_mail(app):
    with app.app_context(), get_db(app).transaction() as session:
        deliver_pending(session, utcnow(), app.config)


def test_file_verify_and_follow_a_request_in_chromium(
    make_app, fresh_database, page, artifacts, backend, smtp
):
    app = make_app(DATABASE_URL=fresh_database)
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url  # the links in the email lead to this server
        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        page.goto(server.url + "/")
        assert page.locator("html").get_attribute("lang") == "sv"
        page.get_by_role("link", name="Radera uppgifter om dig").click()
        assert page.locator("h1").inner_text() == "Radera uppgifter om dig"

        # Sending it empty shows what is missing, next to each field and in a summary.
        page.get_by_role("button", name="Skicka begäran").click()
        summary = page.get_by_role("alert")
        assert "Ditt namn: Fältet måste fyllas i." in summary.inner_text()
        page.screenshot(path=str(artifacts / f"intake-errors-{backend}.png"), full_page=True)

        page.get_by_label("Ditt namn").fill("Anna Andersson")
        page.get_by_label("Din e-postadress").fill("anna.andersson@example.se")
        page.get_by_label("Personnummer eller samordningsnummer (frivilligt)").fill("640823-3234")
        page.get_by_label("Allt ni har om mig").check()
        page.screenshot(path=str(artifacts / f"intake-form-{backend}.png"), full_page=True)
        page.get_by_role("button", name="Skicka begäran").click()
        page.wait_for_url(server.url + "/request/sent")
        assert page.locator("h1").inner_text() == "Titta i din e-post"
        page.screenshot(path=str(artifacts / f"intake-sent-{backend}.png"), full_page=True)

        send_queued_mail(app)
        [message] = smtp.wait_for(1)
        assert message["To"] == "anna.andersson@example.se"
        text = text_body(message)
        reference = re.search(r"DSR-\d{4}-\d{6}", message["Subject"]).group(0)
        code = CODE.search(text).group(1)
        status_url = re.search(rf"{re.escape(server.url)}/status/\S+", text).group(0)

        # Typing the code and pressing Enter is enough: no mouse needed.
        page.get_by_label("Kod från e-postmeddelandet").fill(code)
        page.get_by_label("Kod från e-postmeddelandet").press("Enter")
        page.wait_for_url(re.compile(r"/status/"))
        content = page.content()
        assert "Tack. Din e-postadress är bekräftad." in content
        assert page.locator("h1").inner_text() == f"Ditt ärende {reference}"
        assert "Mottaget och bekräftat; väntar på handläggning" in content
        assert "3234" not in content  # the personnummer never shows on the subject's page
        page.screenshot(path=str(artifacts / f"status-{backend}.png"), full_page=True)

        # The private link in the email leads to the same page; a message can be sent there.
        page.goto(status_url)
        assert page.locator("h1").inner_text() == f"Ditt ärende {reference}"
        page.get_by_label("Ditt meddelande").fill("Gäller även mitt gamla konto.")
        page.get_by_role("button", name="Skicka meddelande").click()
        page.wait_for_url(status_url)
        assert "Gäller även mitt gamla konto." in page.content()
        assert "Ditt meddelande har skickats." in page.content()

        page.get_by_role("button", name="English").click()
        assert page.locator("h1").inner_text() == f"Your request {reference}"
        page.screenshot(path=str(artifacts / f"status-en-{backend}.png"), full_page=True)
