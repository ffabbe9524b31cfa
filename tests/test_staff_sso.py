"""Single sign-on for staff through a real OpenID provider (oidc-provider on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, func, select

from dsr.models import AuditEvent, OidcLogin, StaffRole, StaffUser
from tests.conftest import STAFF_PASSWORD
from tests.oidc import come_back


@pytest.fixture
def sso_on(app: Any, oidc_provider: Any) -> Iterator[Any]:
    settings = oidc_provider.staff_settings()
    before = {key: app.config.get(key) for key in [*settings, "STAFF_SSO_LOCAL_PASSWORDS"]}
    app.config.update(settings)
    app.extensions.pop("dsr.oidc", None)
    yield oidc_provider
    app.config.update(before)
    app.extensions.pop("dsr.oidc", None)


def start(client: Any, next_path: str = "") -> str:
    login_page = client.get("/staff/login" + (f"?next={next_path}" if next_path else ""))
    html = login_page.get_data(as_text=True)
    assert "Logga in med Testföretagets konto" in html
    response = client.submit("/staff/sso/start", {"next": next_path})
    assert response.status_code == 303, response.get_data(as_text=True)
    return str(response.headers["Location"])


def sso_events(db: Any, action: str) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
        )
    )


def staff_count(db: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(StaffUser)))


def test_an_existing_account_signs_in_and_keeps_its_role(db, client, sso_on, make_staff):
    user = make_staff(StaffRole.auditor, email="revisor@staff.test")
    count = staff_count(db)
    url = start(client, "/staff/dashboard")
    assert url.startswith(sso_on.issuer + "/auth?") and "code_challenge_method=S256" in url
    back = come_back(client, sso_on.sign_in(url, "Revisor@Staff.test"))
    assert back.status_code == 302
    assert back.headers["Location"] == "/staff/dashboard"
    page = client.get("/staff/")
    assert page.status_code == 200
    assert f"{user.name} · Granskare" in page.get_data(as_text=True)

    db.expire_all()
    user = db.get(StaffUser, user.id)
    assert user.role == StaffRole.auditor
    assert user.last_login_at is not None
    assert staff_count(db) == count
    login = sso_events(db, "staff.login")[-1]
    assert login.actor_id == user.id and login.payload == {"method": "sso"}
    assert (
        db.scalars(select(OidcLogin).order_by(col(OidcLogin.id).desc())).first().outcome
        == "succeeded"
    )

    # Logging out ends the session here.
    client.submit("/staff/logout", {})
    assert client.get("/staff/").status_code == 302


@pytest.mark.parametrize(
    ("login", "reason", "shown"),
    [
        (
            "nobody@staff.test",
            "unknown_account",
            "Det finns inget aktivt personalkonto här för nobody@staff.test.",
        ),
        (
            "unverified:handler-sso@staff.test",
            "email_unverified",
            "bekräftar inte att handler-sso@staff.test är din adress",
        ),
    ],
    ids=["unknown", "unverified"],
)
def test_an_unknown_or_unverified_address_is_refused(
    db, client, sso_on, make_staff, login, reason, shown
):
    make_staff(StaffRole.handler, email="handler-sso@staff.test")
    count = staff_count(db)
    response = come_back(client, sso_on.sign_in(start(client), login))
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert shown in html
    assert client.get("/staff/").status_code == 302  # not logged in
    assert staff_count(db) == count  # no account made
    failed = sso_events(db, "staff.sso_failed")[-1]
    assert failed.payload["reason"] == reason
    assert failed.payload["email"] == login.removeprefix("unverified:")


def test_a_deactivated_account_cannot_sign_in(db, client, sso_on, make_staff):
    from dsr import accounts
    from dsr.audit import Actor

    user = make_staff(StaffRole.handler, email="former@staff.test")
    make_staff(StaffRole.admin)
    accounts.set_active(db, user, False, actor=Actor.system("test"))
    db.commit()
    response = come_back(client, sso_on.sign_in(start(client), "former@staff.test"))
    assert response.status_code == 403
    assert client.get("/staff/").status_code == 302
    failed = sso_events(db, "staff.sso_failed")[-1]
    assert failed.payload["reason"] == "unknown_account" and failed.actor_id == user.id


def test_cancelling_at_the_provider_logs_nobody_in(db, client, sso_on):
    response = come_back(client, sso_on.sign_in(start(client), None))
    assert response.status_code == 200
    assert "Du avbröt inloggningen." in response.get_data(as_text=True)
    assert sso_events(db, "staff.sso_failed")[-1].payload["reason"] == "cancelled"
    assert client.get("/staff/").status_code == 302


def test_a_replayed_sign_in_is_refused(db, client, app, sso_on, make_staff):
    make_staff(StaffRole.handler, email="handler-replay@staff.test")
    callback = sso_on.sign_in(start(client), "handler-replay@staff.test")
    assert come_back(client, callback).status_code == 302
    other = app.test_client()
    replay = come_back(other, callback)
    assert replay.status_code == 400
    assert sso_events(db, "staff.sso_failed")[-1].payload["reason"] == "replayed_state"
    assert other.get("/staff/").status_code == 302


def test_passwords_can_be_turned_off(db, client, app, sso_on, make_staff, smtp):
    user = make_staff(StaffRole.admin, email="boss@staff.test")
    app.config["STAFF_SSO_LOCAL_PASSWORDS"] = False
    html = client.get("/staff/login").get_data(as_text=True)
    assert 'name="password"' not in html
    refused = client.submit("/staff/login", {"email": user.email, "password": STAFF_PASSWORD})
    assert refused.status_code == 403
    assert "Lösenord är avstängda här. Logga in med Testföretagets konto." in refused.get_data(
        as_text=True
    )
    assert client.get("/staff/").status_code == 302
    # Invitations then say how to sign in rather than offering a password.
    assert come_back(client, sso_on.sign_in(start(client), "boss@staff.test")).status_code == 302
    invited = client.submit(
        "/staff/admin/staff", {"email": "new@staff.test", "name": "Ny", "role": "handler"}
    )
    assert invited.status_code == 302
    from dsr import crypto
    from dsr.models import EmailOutbox
    from dsr.notifications import OUTBOX_LABEL

    mail = db.scalars(select(EmailOutbox).where(EmailOutbox.to_addr == "new@staff.test")).one()
    body = crypto.decrypt(mail.body_text_encrypted, OUTBOX_LABEL)
    assert "Logga in med Testföretagets konto här:" in body
    assert "http://dsr.test/staff/login" in body and "/staff/invite/" not in body
    assert mail.carries_secret is False


def test_a_provider_that_cannot_be_reached_is_a_clear_page(db, client, app, sso_on):
    from tests.support import free_port

    app.config["STAFF_SSO_ISSUER"] = f"http://127.0.0.1:{free_port()}"
    response = client.submit("/staff/sso/start", {})
    assert response.status_code == 502
    assert "Identitetsleverantören gick inte att nå" in response.get_data(as_text=True)
    assert sso_events(db, "staff.sso_failed")[-1].payload["reason"] == "provider_unreachable"
