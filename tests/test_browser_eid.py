"""e-legitimation and staff single sign-on in a real browser (Debian's chromium) through a
real OpenID provider. Screenshots land in tests/artifacts."""

import pytest

from dsr import accounts, identity
from dsr.audit import Actor
from dsr.db import get_db
from dsr.models import AssuranceLevel, Request, Right, StaffRole
from tests.conftest import STAFF_PASSWORD
from tests.rights_support import subject_request
from tests.support import LiveServer

pytestmark = pytest.mark.browser


def test_a_subject_identifies_with_eid_in_chromium(
    make_app, fresh_database, browser, artifacts, backend, start_provider
):
    app = make_app(DATABASE_URL=fresh_database)
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        provider = start_provider(base=server.url)
        app.config.update(provider.eid_settings())
        with app.app_context(), get_db(app).transaction() as session:
            request = subject_request(session, Right.access)
            token = identity.issue_status_token(session, request)
            request_id = request.id

        context = browser.new_context(
            locale="sv-SE", timezone_id="Europe/Stockholm", viewport={"width": 390, "height": 844}
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{server.url}/status/{token}")
        section = page.locator("#eid")
        assert section.get_by_role("heading", name="Legitimera dig med e-legitimation").is_visible()
        assert "BankID eller Freja eID" in section.inner_text()
        section.screenshot(path=str(artifacts / f"eid-offer-phone-{backend}.png"))
        page.screenshot(path=str(artifacts / f"eid-status-phone-{backend}.png"), full_page=True)

        page.get_by_role("button", name="Legitimera dig med e-legitimation").click()
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        page.get_by_label("Identitet").fill("astrid")
        page.get_by_role("button", name="Legitimera", exact=True).click()
        page.wait_for_url(f"{server.url}/status/{token}#eid")
        assert (
            "Tack. Du har legitimerat dig med e-legitimation."
            in page.locator(".flashes").inner_text()
        )
        assert "Du legitimerade dig med e-legitimation den" in page.locator("#eid").inner_text()
        assert "Du legitimerade dig med e-legitimation." in page.locator(".timeline").inner_text()
        page.screenshot(path=str(artifacts / f"eid-done-phone-{backend}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=str(artifacts / f"eid-done-desktop-{backend}.png"), full_page=True)

        # Cancelling at the provider: a clear page with the way back.
        with app.app_context(), get_db(app).transaction() as session:
            other = subject_request(
                session, Right.erasure, subject_email="maria.andersson@example.com"
            )
            other_token = identity.issue_status_token(session, other)
        page.goto(f"{server.url}/status/{other_token}")
        page.get_by_role("button", name="Legitimera dig med e-legitimation").click()
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        page.get_by_role("button", name="Avbryt").click()
        page.wait_for_url(f"{server.url}/eid/callback")
        assert page.locator("h1").inner_text() == "Du avbröt legitimeringen"
        page.screenshot(
            path=str(artifacts / f"eid-cancelled-desktop-{backend}.png"), full_page=True
        )
        page.get_by_role("link", name="Tillbaka till ditt ärende").click()
        page.wait_for_url(f"{server.url}/status/{other_token}#eid")
        context.close()

        with app.app_context(), get_db(app).transaction() as session:
            done = session.get(Request, request_id)
            assert done.assurance == AssuranceLevel.eid_verified
            assert done.subject_pnr_masked == "19640823-****"


def test_staff_sign_in_with_the_company_provider_in_chromium(
    make_app, fresh_database, browser, artifacts, backend, start_provider
):
    app = make_app(DATABASE_URL=fresh_database)
    with app.app_context(), get_db(app).transaction() as session:
        accounts.create_staff(
            session,
            "hanna@staff.test",
            StaffRole.handler,
            name="Hanna Handläggare",
            password=STAFF_PASSWORD,
            actor=Actor.system("test"),
        )
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        provider = start_provider(base=server.url)
        app.config.update(provider.staff_settings())
        context = browser.new_context(locale="sv-SE", viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{server.url}/staff/dashboard")
        page.wait_for_url("**/staff/login**")
        page.screenshot(path=str(artifacts / f"sso-login-phone-{backend}.png"), full_page=True)
        page.get_by_role("button", name="Logga in med Testföretagets konto").click()
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        page.get_by_label("Identitet").fill("hanna@staff.test")
        page.get_by_role("button", name="Legitimera", exact=True).click()
        page.wait_for_url(f"{server.url}/staff/dashboard")
        assert "Hanna Handläggare · Handläggare" in page.content()
        page.get_by_role("button", name="Logga ut").click()
        page.wait_for_url(f"{server.url}/staff/login")

        context.close()

        # Passwords off: the page offers the provider only. (A browser of its own: the first
        # still has its session at the provider, which would sign Hanna in again at once.)
        app.config["STAFF_SSO_LOCAL_PASSWORDS"] = False
        context = browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{server.url}/staff/login")
        assert page.get_by_label("Lösenord").count() == 0
        page.screenshot(
            path=str(artifacts / f"sso-only-login-desktop-{backend}.png"), full_page=True
        )
        page.get_by_role("button", name="Logga in med Testföretagets konto").click()
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        page.get_by_label("Identitet").fill("someone-else@staff.test")
        page.get_by_role("button", name="Legitimera", exact=True).click()
        page.wait_for_url(f"{server.url}/staff/sso/callback")
        assert (
            "Det finns inget aktivt personalkonto här för someone-else@staff.test."
            in page.content()
        )
        page.screenshot(path=str(artifacts / f"sso-unknown-desktop-{backend}.png"), full_page=True)
        context.close()


def test_staff_are_warned_of_a_different_proven_personnummer_in_chromium(
    make_app, fresh_database, browser, artifacts, backend, start_provider
):
    app = make_app(DATABASE_URL=fresh_database)
    with app.app_context(), get_db(app).transaction() as session:
        accounts.create_staff(
            session,
            "hanna@staff.test",
            StaffRole.handler,
            name="Hanna Handläggare",
            password=STAFF_PASSWORD,
            actor=Actor.system("test"),
        )
        # Maria typed her own number; Astrid identifies on the request's page.
        request = subject_request(
            session,
            Right.access,
            subject_email="maria.andersson@example.com",
            personnummer="198503120423",
        )
        token = identity.issue_status_token(session, request)
        reference, request_id = request.reference, request.id
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        provider = start_provider(base=server.url)
        app.config.update(provider.eid_settings())
        context = browser.new_context(locale="sv-SE", viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{server.url}/status/{token}")
        page.get_by_role("button", name="Legitimera dig med e-legitimation").click()
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        page.get_by_label("Identitet").fill("astrid")
        page.get_by_role("button", name="Legitimera", exact=True).click()
        page.wait_for_url(f"{server.url}/status/{token}#eid")
        assert (
            "men med ett annat personnummer än det i din begäran"
            in page.locator("#eid").inner_text()
        )
        page.screenshot(path=str(artifacts / f"eid-mismatch-phone-{backend}.png"), full_page=True)
        context.close()

        context = browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{server.url}/staff/login")
        page.get_by_label("E-post").fill("hanna@staff.test")
        page.get_by_label("Lösenord").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Logga in", exact=True).click()
        page.goto(f"{server.url}/staff/requests/{reference}")
        warning = page.locator(".notice", has_text="skiljer sig från det i begäran")
        assert (
            "Styrkt med e-legitimation: 19640823-****. I begäran: 19850312-****."
            in warning.inner_text()
        )
        page.screenshot(
            path=str(artifacts / f"eid-mismatch-staff-desktop-{backend}.png"), full_page=True
        )
        warning.get_by_label("Varför").fill("Ringde henne: hon skrev fel nummer i formuläret.")
        warning.get_by_role("button", name="Använd det styrkta personnumret").click()
        page.wait_for_url(f"{server.url}/staff/requests/{reference}")
        assert "Begäran har nu personnumret som styrkts med e-legitimation." in page.content()
        context.close()
    with app.app_context(), get_db(app).transaction() as session:
        done = session.get(Request, request_id)
        assert done.assurance == AssuranceLevel.eid_verified
        assert done.subject_pnr_masked == "19640823-****"
