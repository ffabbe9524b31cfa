"""The plan pages through HTTP: who may do what, and what a handler sees."""

import json

import pytest
from sqlmodel import select

from dsr.audit import AuditEvent
from dsr.models import PlanState, Right
from dsr.rights import service
from tests.rights_support import (
    HANDLER,
    NOW,
    build_shop,
    profile_in,
    shop_profile,
    source_url,
    subject_request,
)


@pytest.fixture
def shop(app, db, backend, databases, tmp_path, frozen_time):
    frozen_time(NOW)
    url = source_url(backend, databases, tmp_path)
    build_shop(url)
    with profile_in(app, shop_profile(url)) as profile:
        yield profile


def page(client, request):
    return client.get(f"/staff/requests/{request.reference}/plan?lang=en").get_data(as_text=True)


def test_auditors_read_plans_and_change_nothing(shop, db, client, login_as):
    request = subject_request(db, Right.erasure)
    service.make_plan(db, request, actor=HANDLER)
    db.commit()
    login_as("auditor")
    html = page(client, request)
    assert "What the erasure does" in html and "Approve the plan" not in html
    for action in ("make", "approve", "execute", "cancel", "keep_table"):
        response = client.submit(
            f"/staff/requests/{request.reference}/plan/{action}", {"reason": "x"}
        )
        assert response.status_code == 403
    assert service.live_plan(db, request).state == PlanState.draft


def test_a_handler_plans_redacts_approves_and_executes_an_access_request(
    shop, db, client, login_as
):
    login_as("handler")
    request = subject_request(db, Right.access)
    db.commit()
    assert "No plan yet" in page(client, request)
    assert "Open the plan" in client.get(f"/staff/requests/{request.reference}?lang=en").get_data(
        as_text=True
    )
    client.submit(f"/staff/requests/{request.reference}/plan/make?lang=en", {})
    html = page(client, request)
    assert "What the answer contains" in html and "Orders" in html
    assert "Wrong size" in html  # the values, to decide on redactions
    client.submit(
        f"/staff/requests/{request.reference}/plan/redact?lang=en",
        {
            "table": "shop|messages",
            "key": json.dumps([2]),
            "column": "body",
            "reason": "Staff member's name",
        },
    )
    assert "Staff member&#39;s name" in page(client, request)
    client.submit(f"/staff/requests/{request.reference}/plan/approve?lang=en", {})
    client.submit(f"/staff/requests/{request.reference}/plan/execute?lang=en", {})
    db.expire_all()
    row = service.live_plan(db, request)
    assert row.state == PlanState.executed
    assert row.outcome["redactions"][0]["reason"] == "Staff member's name"
    html = page(client, request)
    assert "records in the answer" in html
    panel = client.get(f"/staff/requests/{request.reference}?lang=en").get_data(as_text=True)
    assert "Executed" in panel


def test_a_refusal_is_shown_and_nothing_is_stored(shop, db, client, login_as):
    login_as("handler")
    request = subject_request(db, Right.access)
    db.commit()
    response = client.submit(f"/staff/requests/{request.reference}/plan/approve?lang=en", {})
    assert response.status_code == 302
    assert "Make a plan first" in page(client, request)
    client.submit(f"/staff/requests/{request.reference}/plan/make?lang=en", {})
    client.submit(
        f"/staff/requests/{request.reference}/plan/redact?lang=en",
        {"table": "shop|messages", "key": "[1]", "column": "", "reason": ""},
    )
    html = page(client, request)
    assert "flash-error" in html and "Say why" in html
    db.expire_all()
    assert service.live_plan(db, request).plan["redactions"] == []
    assert (
        client.submit(f"/staff/requests/{request.reference}/plan/nonsense?lang=en", {}).status_code
        == 404
    )


def test_an_erasure_can_be_cancelled_in_its_grace_period(shop, db, client, login_as):
    login_as("handler")
    request = subject_request(db, Right.erasure)
    db.commit()
    client.submit(f"/staff/requests/{request.reference}/plan/make?lang=en", {})
    html = page(client, request)
    assert "keep by law" in html and "until 2032-12-31" in html
    client.submit(f"/staff/requests/{request.reference}/plan/approve?lang=en", {})
    html = page(client, request)
    assert "Grace period until" in html and "Execute the plan" not in html
    client.submit(f"/staff/requests/{request.reference}/plan/execute?lang=en", {})
    assert "grace period" in page(client, request)
    client.submit(
        f"/staff/requests/{request.reference}/plan/cancel?lang=en",
        {"reason": "Sent by mistake, says the subject"},
    )
    db.expire_all()
    assert service.history(db, request)[0].state == PlanState.cancelled
    assert "No plan yet" in page(client, request)
    assert "Sent by mistake, says the subject" in page(client, request)


def test_rectification_shows_the_proposal_next_to_the_current_value(shop, db, client, login_as):
    login_as("handler")
    request = subject_request(
        db,
        Right.rectification,
        details={"data_to_correct": "Phone", "correct_values": "070-999 88 77"},
    )
    db.commit()
    client.submit(f"/staff/requests/{request.reference}/plan/make?lang=en", {})
    client.submit(
        f"/staff/requests/{request.reference}/plan/correction?lang=en",
        {"column": "shop|customers|phone", "key": "", "proposed": "070-999 88 77"},
    )
    html = page(client, request)
    row_html = html[html.find("customers.phone") :][:600]
    assert "070-174 06 05" in row_html and "070-999 88 77" in row_html


def test_the_suppression_list_is_exported_by_handlers_and_the_export_logged(
    shop, db, client, login_as
):
    from dsr import suppression
    from dsr.models import SuppressionReason

    suppression.suppress(
        db, "astrid.lindqvist@example.com", reason=SuppressionReason.objection, actor=HANDLER
    )
    db.commit()
    login_as("auditor")
    html = client.get("/staff/suppression?lang=en").get_data(as_text=True)
    assert "1 address gets no direct marketing" in html
    assert client.submit("/staff/suppression/export", {}).status_code == 403
    login_as("handler")
    response = client.submit("/staff/suppression/export", {})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines == ["email_hmac_sha256", suppression.address_hash("astrid.lindqvist@example.com")]
    (event,) = db.exec(select(AuditEvent).where(AuditEvent.action == "suppression.exported")).all()
    assert event.payload == {"entries": 1}
