"""Pages in a real browser: Debian's chromium driven by Playwright."""

import pytest

from tests.support import LiveServer

pytestmark = pytest.mark.browser


def test_start_page_and_staff_login_in_chromium(make_app, fresh_database, page, artifacts, backend):
    app = make_app(DATABASE_URL=fresh_database, ENV="development")
    assert app.test_cli_runner().invoke(args=["dsr", "seed-demo"]).exit_code == 0
    with LiveServer(app) as server:
        page.goto(server.url + "/")
        assert page.locator("html").get_attribute("lang") == "sv"
        assert page.locator("h1").inner_text() == "Dina rättigheter till dina personuppgifter"
        page.screenshot(path=str(artifacts / f"start-{backend}.png"), full_page=True)

        page.get_by_role("button", name="English").click()
        assert page.locator("h1").inner_text() == "Your rights to your personal data"

        page.goto(server.url + "/staff/")
        assert "/staff/login" in page.url
        page.get_by_label("Email").fill("admin@example.com")
        page.get_by_label("Password").fill("dsr-demo-admin")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(server.url + "/staff/")
        assert "Ada Admin · Administrator" in page.content()
        page.screenshot(path=str(artifacts / f"staff-home-{backend}.png"), full_page=True)

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(server.url + "/staff/login")
