"""Administration: inviting staff by email, roles, deactivation."""

import re

import pytest
from sqlmodel import select

from dsr import notifications
from dsr.db import utcnow
from dsr.models import StaffRole, StaffUser
from tests.support import text_body


def send_mail(app, db):
    notifications.deliver_pending(db, utcnow(), app.config)
    db.commit()


@pytest.mark.parametrize("role", ["handler", "auditor"])
def test_only_admins_manage_staff(client, login_as, role, make_staff):
    login_as(role)
    other = make_staff("handler")
    assert client.get("/staff/admin/staff").status_code == 403
    assert (
        client.submit(
            "/staff/admin/staff", {"email": "new@staff.test", "role": "admin"}
        ).status_code
        == 403
    )
    assert (
        client.submit(f"/staff/admin/staff/{other.id}/role", {"role": "admin"}).status_code == 403
    )
    assert client.submit(f"/staff/admin/staff/{other.id}/active").status_code == 403


def test_invite_by_email_then_set_password_then_log_in(app, client, login_as, db, smtp):
    login_as("admin")
    response = client.submit(
        "/staff/admin/staff",
        {"email": "Nina@Example.se", "name": "Nina Nilsson", "role": "handler"},
    )
    assert response.status_code == 302
    user = db.exec(select(StaffUser).where(StaffUser.email == "nina@example.se")).one()
    assert user.password_hash is None and user.role == StaffRole.handler
    send_mail(app, db)
    [mail] = smtp.to("nina@example.se")
    link = re.search(r"http://dsr\.test(/staff/invite/\S+)", text_body(mail)).group(1)

    client.submit("/staff/logout")
    page = client.get(link)
    assert page.status_code == 200 and "Välj ditt lösenord" in page.get_data(as_text=True)
    mismatch = client.submit(
        link, {"password": "a long new password", "confirm": "something else entirely"}
    )
    assert mismatch.status_code == 200 and "Lösenorden är olika." in mismatch.get_data(as_text=True)
    done = client.submit(
        link, {"password": "a long new password", "confirm": "a long new password"}
    )
    assert done.status_code == 302
    # The link works once.
    assert client.get(link).status_code == 404
    login = client.submit(
        "/staff/login", {"email": "nina@example.se", "password": "a long new password"}
    )
    assert login.status_code == 302


def test_invite_refuses_an_existing_email(client, login_as, make_staff):
    login_as("admin")
    existing = make_staff("handler")
    response = client.submit(
        "/staff/admin/staff", {"email": existing.email, "role": "handler"}, follow_redirects=True
    )
    assert "Det finns redan ett personalkonto" in response.get_data(as_text=True)


def test_change_role_and_deactivate_end_existing_sessions(app, client, login_as, make_staff, db):
    login_as("admin")
    colleague = make_staff("handler")
    other = app.test_client()
    assert (
        other.submit(
            "/staff/login", {"email": colleague.email, "password": "correct horse battery staple"}
        ).status_code
        == 302
    )
    assert other.get("/staff/").status_code == 200

    client.submit(f"/staff/admin/staff/{colleague.id}/role", {"role": "auditor"})
    db.refresh(colleague)
    assert colleague.role == StaffRole.auditor
    assert other.get("/staff/").status_code == 302  # signed out by the change

    client.submit(f"/staff/admin/staff/{colleague.id}/active")
    db.refresh(colleague)
    assert colleague.active is False
    again = other.submit(
        "/staff/login", {"email": colleague.email, "password": "correct horse battery staple"}
    )
    assert again.status_code == 401
    client.submit(f"/staff/admin/staff/{colleague.id}/active")
    db.refresh(colleague)
    assert colleague.active is True


def test_the_last_admin_cannot_be_demoted_or_deactivated(client, login_as, db):
    me = login_as("admin")
    db.exec(select(StaffUser)).all()
    for other in db.exec(
        select(StaffUser).where(StaffUser.role == StaffRole.admin, StaffUser.id != me.id)
    ).all():
        other.active = False
        db.add(other)
    db.commit()
    demoted = client.submit(
        f"/staff/admin/staff/{me.id}/role", {"role": "handler"}, follow_redirects=True
    )
    assert "sista aktiva administratören" in demoted.get_data(as_text=True)
    db.refresh(me)
    assert me.role == StaffRole.admin
    deactivated = client.submit(f"/staff/admin/staff/{me.id}/active", follow_redirects=True)
    assert "sista aktiva administratören" in deactivated.get_data(as_text=True)
    db.refresh(me)
    assert me.active


def test_an_expired_invitation_link_is_refused(app, client, login_as, db, smtp, frozen_time):
    frozen_time("2026-11-21T10:00:00+01:00")
    login_as("admin")
    client.submit("/staff/admin/staff", {"email": "sen@example.se", "role": "auditor"})
    send_mail(app, db)
    link = re.search(
        r"http://dsr\.test(/staff/invite/\S+)", text_body(smtp.to("sen@example.se")[0])
    ).group(1)
    frozen_time("2026-11-24T11:00:00+01:00")  # 73 hours later
    assert client.get(link).status_code == 404


def test_api_tokens_are_created_shown_once_and_revoked(client, login_as, db, app):
    login_as("admin")
    page = client.submit("/staff/admin/tokens", {"name": "kundappen"})
    html = page.get_data(as_text=True)
    token = re.search(r'<code class="token">([^<]+)</code>', html).group(1)
    assert page.status_code == 200 and "visas inte igen" in html
    api = app.test_client()
    body = {"right": "access", "subject": {"email": "anna@example.se", "name": "Anna"}}
    filed = api.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"})
    assert filed.status_code == 201
    listing = client.get("/staff/admin/tokens").get_data(as_text=True)
    assert "kundappen" in listing and token not in listing

    from dsr.models import ApiToken

    row = db.exec(select(ApiToken).where(ApiToken.name == "kundappen")).one()
    client.submit(f"/staff/admin/tokens/{row.id}/revoke")
    refused = api.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


def test_api_token_names_are_checked(client, login_as):
    login_as("admin")
    client.submit("/staff/admin/tokens", {"name": "appen"})
    twice = client.submit("/staff/admin/tokens", {"name": "appen"})
    assert twice.status_code == 422 and "finns redan" in twice.get_data(as_text=True)
    odd = client.submit("/staff/admin/tokens", {"name": "min app!"})
    assert odd.status_code == 422


@pytest.mark.parametrize("role", ["handler", "auditor"])
def test_only_admins_manage_api_tokens(client, login_as, role):
    login_as(role)
    assert client.get("/staff/admin/tokens").status_code == 403
    assert client.submit("/staff/admin/tokens", {"name": "x"}).status_code == 403
