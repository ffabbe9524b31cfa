"""A handler's day in a real browser: queue, request page, a question answered by the subject
on the status page, an extension, a refusal with reasons. Screenshots land in tests/artifacts."""

import re
from datetime import timedelta

import pytest

from dsr import accounts
from dsr.audit import Actor
from dsr.db import get_db, utcnow
from dsr.models import AssuranceLevel, Channel, Request, RequestStatus, Right, StaffRole
from dsr.notifications import deliver_pending
from dsr.workflow import recompute_due
from tests.conftest import STAFF_PASSWORD
from tests.support import LiveServer, text_body

pytestmark = pytest.mark.browser


def send_queued_mail(app):
    with app.app_context(), get_db(app).transaction() as session:
        deliver_pending(session, utcnow(), app.config)


def seed(app):
    """A handler, an overdue request and one due in a few days, both confirmed."""
    from dsr.intake import next_reference

    with app.app_context(), get_db(app).transaction() as session:
        accounts.create_staff(
            session,
            "hanna@staff.test",
            StaffRole.handler,
            name="Hanna Handläggare",
            password=STAFF_PASSWORD,
            actor=Actor.system("test"),
        )
        made = {}
        for label, days_ago, right in (("overdue", 40, Right.access), ("soon", 27, Right.erasure)):
            received = utcnow() - timedelta(days=days_ago)
            request = Request(
                reference=next_reference(session, received.year),
                right=right,
                channel=Channel.web,
                status=RequestStatus.verified,
                assurance=AssuranceLevel.email_verified,
                language="sv",
                received_at=received,
                verified_at=received,
                subject_name=f"Person {label}",
                subject_email=f"{label}@example.se",
                due_target=received.date(),
                due_legal=received.date(),
                first_due_legal=received.date(),
            )
            session.add(request)
            session.flush()
            recompute_due(session, request)
            made[label] = request.reference
        return made


def review_and_send(page):
    page.get_by_role("button", name="Granska e-postmeddelandet").click()
    assert page.get_by_role("heading", name="E-postmeddelandet till den registrerade").is_visible()
    page.get_by_role("button", name="Skicka och spara").click()


def test_handler_works_a_request_with_the_subject_in_chromium(
    make_app, fresh_database, browser, artifacts, backend, smtp
):
    app = make_app(DATABASE_URL=fresh_database)
    refs = seed(app)
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        staff_ctx = browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
        page = staff_ctx.new_page()
        page.set_default_timeout(10_000)

        page.goto(server.url + "/staff/")
        page.get_by_label("E-post").fill("hanna@staff.test")
        page.get_by_label("Lösenord").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Logga in").click()
        page.wait_for_url(server.url + "/staff/")

        # The queue, filtered to what is overdue (the filter lands in the URL).
        page.get_by_label("Svarsdag", exact=True).select_option("overdue")
        page.get_by_role("button", name="Filtrera").click()
        page.wait_for_url(re.compile(r"due=overdue"))
        rows = page.locator("table.queue tbody tr")
        assert rows.count() == 1 and refs["overdue"] in rows.first.inner_text()
        assert "försenad" in rows.first.inner_text()
        page.screenshot(path=str(artifacts / f"staff-queue-{backend}.png"), full_page=True)

        # Open it and ask the subject a question; the clock stops.
        page.get_by_role("link", name=refs["overdue"]).click()
        page.get_by_role("link", name="Begär komplettering").click()
        page.get_by_label("Din fråga till den registrerade").fill(
            "Gäller det även ert gamla kundkonto?"
        )
        review_and_send(page)
        assert "Frågan är skickad" in page.content()
        assert page.locator(".status-line").inner_text().startswith("Väntar på den registrerade")

        # The subject answers on the status page, reached from the email.
        send_queued_mail(app)
        [question] = smtp.wait_for(1)
        status_url = re.search(rf"{re.escape(server.url)}/status/\S+", text_body(question)).group(0)
        subject_ctx = browser.new_context(locale="sv-SE")
        subject = subject_ctx.new_page()
        subject.goto(status_url)
        assert "Gäller det även ert gamla kundkonto?" in subject.content()
        subject.get_by_label("Ditt meddelande").fill("Ja, det gamla kontot också, tack.")
        subject.get_by_role("button", name="Skicka meddelande").click()
        assert "Ja, det gamla kontot också, tack." in subject.content()
        subject_ctx.close()

        # Back with the handler: the answer is there and the clock runs again.
        page.reload()
        assert "Ja, det gamla kontot också, tack." in page.content()
        assert not page.locator(".status-line").inner_text().startswith("Väntar")

        # Too late to extend: the original due date has passed, and the page says so.
        page.get_by_role("link", name="Förläng tidsfristen").click()
        page.get_by_label("Varför mer tid behövs (skickas till den registrerade)").fill(
            "Många system berörs."
        )
        review_and_send(page)
        assert "har passerat; tidsfristen kan inte längre förlängas" in page.content()

        # Refuse, with reasons, the right to complain and the right to go to court.
        page.goto(f"{server.url}/staff/requests/{refs['overdue']}/refuse")
        page.get_by_label("Grund", exact=True).select_option("unidentifiable")
        page.get_by_label("Skäl (skickas till den registrerade)").fill(
            "Vi hittar ingen kund med de uppgifter du lämnat och kan därför inte lämna ut något."
        )
        review_and_send(page)
        assert "Avslaget är registrerat" in page.content()
        page.screenshot(path=str(artifacts / f"staff-request-{backend}.png"), full_page=True)
        send_queued_mail(app)
        refusal = [m for m in smtp.wait_for(2) if "avslås" in str(m["Subject"])][0]
        assert "Integritetsskyddsmyndigheten" in text_body(refusal)

        # A request still within its first month can be extended.
        page.goto(f"{server.url}/staff/?due=due_soon")
        page.get_by_role("link", name=refs["soon"]).click()
        page.get_by_role("link", name="Förläng tidsfristen").click()
        page.get_by_label("Varför mer tid behövs (skickas till den registrerade)").fill(
            "Uppgifterna finns i flera system som måste gås igenom för hand."
        )
        review_and_send(page)
        assert "Tidsfristen är förlängd" in page.content()
        assert "Förlängd" in page.content()

        page.goto(server.url + "/staff/dashboard")
        assert page.get_by_role("heading", name="Översikt").is_visible()
        page.screenshot(path=str(artifacts / f"staff-dashboard-{backend}.png"), full_page=True)
        staff_ctx.close()
