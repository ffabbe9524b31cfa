"""Staff login, logout, roles, CSRF and throttling, through HTTP as a browser would."""

import re

import pytest
from sqlalchemy import select

from dsr.models import AuditEvent, StaffRole
from tests.conftest import STAFF_PASSWORD


def test_login_page_is_served_in_swedish_by_default(client):
    response = client.get("/staff/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="sv">' in html
    assert "Inloggning för personal" in html
    assert 'name="csrf_token"' in html


def test_staff_pages_require_login(client):
    response = client.get("/staff/")
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]


def test_login_and_logout(client, make_staff):
    user = make_staff(StaffRole.handler, name="Hanna")
    response = client.submit(
        "/staff/login", {"email": user.email.upper(), "password": STAFF_PASSWORD}
    )
    assert response.status_code == 302
    page = client.get("/staff/")
    assert page.status_code == 200
    assert "Hanna · Handläggare" in page.get_data(as_text=True)

    response = client.submit("/staff/logout")
    assert response.status_code == 302
    assert client.get("/staff/").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client, make_staff):
    user = make_staff()
    response = client.submit("/staff/login", {"email": user.email, "password": STAFF_PASSWORD})
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("dsr_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_wrong_password_and_unknown_email_get_the_same_answer(client, make_staff):
    user = make_staff()
    wrong = client.submit("/staff/login", {"email": user.email, "password": "not the password"})
    unknown = client.submit(
        "/staff/login", {"email": "nobody@staff.test", "password": "whatever it is"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "Fel e-postadress eller lösenord." in wrong.get_data(as_text=True)
    assert "Fel e-postadress eller lösenord." in unknown.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, make_staff):
    user = make_staff()
    response = client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD})
    assert response.status_code == 400
    assert client.get("/staff/").status_code == 302


def test_logout_is_a_post_with_csrf(client, login_as):
    login_as(StaffRole.handler)
    assert client.get("/staff/logout").status_code == 405
    assert client.post("/staff/logout").status_code == 400
    assert client.get("/staff/").status_code == 200


@pytest.mark.parametrize("known", [True, False])
def test_login_is_throttled_after_repeated_failures(app, client, make_staff, known):
    user = make_staff()
    email = user.email if known else "ghost@staff.test"
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert (
            client.submit(
                "/staff/login", {"email": email, "password": "wrong password!"}
            ).status_code
            == 401
        )
    throttled = client.submit("/staff/login", {"email": email, "password": STAFF_PASSWORD})
    assert throttled.status_code == 429
    assert "För många misslyckade försök" in throttled.get_data(as_text=True)
    if known:
        # Even the right password does not get in while throttled.
        assert client.get("/staff/").status_code == 302


def test_failed_logins_of_real_accounts_are_audited(client, make_staff, db):
    user = make_staff()
    client.submit("/staff/login", {"email": user.email, "password": "wrong password!"})
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == user.id)).all()
    assert "staff.login_failed" in actions


def test_deactivated_staff_are_logged_out_and_cannot_log_in(client, login_as, db):
    user = login_as(StaffRole.handler)
    assert client.get("/staff/").status_code == 200
    user = db.merge(user)
    user.active = False
    user.session_version += 1
    db.commit()
    assert client.get("/staff/").status_code == 302
    response = client.submit("/staff/login", {"email": user.email, "password": STAFF_PASSWORD})
    assert response.status_code == 401


@pytest.mark.parametrize("role", list(StaffRole))
def test_every_role_can_log_in_and_sees_its_role(client, login_as, role):
    login_as(role)
    html = client.get("/staff/").get_data(as_text=True)
    label = {
        "admin": "Administratör",
        "handler": "Handläggare",
        "auditor": "Granskare (endast läsning)",
    }[role]
    assert label in html


def test_next_parameter_cannot_redirect_off_site(client, make_staff):
    user = make_staff()
    response = client.submit(
        "/staff/login",
        {"email": user.email, "password": STAFF_PASSWORD, "next": "//evil.example/x"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"


def test_passwords_are_stored_as_argon2_hashes(make_staff):
    user = make_staff()
    assert user.password_hash.startswith("$argon2id$")
    assert STAFF_PASSWORD not in user.password_hash


def test_language_switch_is_a_post_and_changes_the_pages(client):
    assert re.search(r'<html lang="sv">', client.get("/").get_data(as_text=True))
    response = client.submit("/language", {"lang": "en", "next": "/staff/login"})
    assert response.status_code == 302 and response.headers["Location"] == "/staff/login"
    html = client.get("/staff/login").get_data(as_text=True)
    assert '<html lang="en">' in html and "Staff login" in html


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("handler", 403), ("auditor", 403)])
def test_only_admins_see_the_configuration(client, login_as, role, status):
    login_as(role)
    response = client.get("/staff/admin/config")
    assert response.status_code == status
    if status == 200:
        html = response.get_data(as_text=True)
        assert "smtp.host" in html
        assert "test-secret-key" not in html
