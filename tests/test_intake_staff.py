"""Staff registering requests that came by letter, phone, email or in person."""

from datetime import date

import pytest

from dsr import audit
from dsr.models import AssuranceLevel, Channel, RequestStatus, Right
from tests.intake_helpers import (
    all_requests,
    code_in,
    deliver,
    errors_on,
    events,
    queued,
    verify_path,
)
from tests.support import text_body

NOW = "2026-03-16T11:00:00+01:00"


def letter(**overrides):
    data = {
        "channel": "letter",
        "received_at": "2026-03-05T14:30",  # eleven days ago: the letter lay in the mailroom
        "language": "sv",
        "name": "Bertil Berg",
        "email": "bertil@example.se",
        "personnummer": "19640823-3234",
        "assurance": "staff_verified",
        "assurance_method": "known_contact",
        "assurance_note": "Underskrivet brev från adressen i kundregistret.",
        "acknowledge": "y",
        "scope": "everything",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_only_handlers_and_admins_may_register(app, client, login_as):
    assert client.get("/staff/intake/").status_code == 302  # to the login page
    login_as("auditor")
    assert client.get("/staff/intake/").status_code == 403
    assert client.get("/staff/intake/erasure").status_code == 403
    assert client.submit("/staff/intake/erasure", letter()).status_code == 403


@pytest.mark.parametrize("role", ["handler", "admin"])
def test_the_form_lists_the_rights_and_fields(client, login_as, role):
    login_as(role)
    html = client.get("/staff/intake/").get_data(as_text=True)
    assert '<a href="/staff/intake/erasure">Radera uppgifter om dig</a>' in html
    form = client.get("/staff/intake/erasure").get_data(as_text=True)
    for name in ("channel", "received_at", "name", "email", "assurance", "scope"):
        assert f'name="{name}"' in form
    assert 'type="datetime-local"' in form
    assert 'name="csrf_token"' in form


def test_a_letter_received_days_ago_gets_the_deadline_of_its_arrival(
    app, client, db, smtp, login_as, frozen_time
):
    frozen_time(NOW)
    handler = login_as("handler")
    response = client.submit("/staff/intake/erasure", letter())
    assert response.status_code == 302 and response.headers["Location"] == "/staff/intake/"
    [request] = all_requests(db)
    assert request.channel == Channel.letter
    assert request.received_at.isoformat() == "2026-03-05T13:30:00+00:00"
    assert request.due_legal == date(2026, 4, 7)  # from 5 March, not from today
    assert request.created_by_id == handler.id
    assert request.status == RequestStatus.verified
    assert request.assurance == AssuranceLevel.staff_verified
    assert request.assurance_method == "known_contact"
    assert request.subject_pnr_masked == "19640823-****"
    assert request.details["scope"] == "everything"
    page = client.get("/staff/intake/").get_data(as_text=True)
    assert f"Registrerad som {request.reference}. Lagstadgat sista svarsdatum: 2026-04-07." in page
    created, *_ = events(db, request)
    assert created.action == "request.created" and created.actor_label == handler.email
    assert [e.action for e in events(db, request, "identity.checked_by_staff")]
    assert audit.verify_chain(db) is None
    [message] = deliver(app, db, smtp, 1)
    text = text_body(message)
    assert "Mottaget: 2026-03-05" in text and "Vi svarar senast 2026-04-07." in text
    assert "Bekräfta din e-postadress" not in text  # staff checked the identity already


def test_a_request_received_in_the_future_is_refused(client, db, login_as, frozen_time):
    frozen_time(NOW)
    login_as("handler")
    response = client.submit("/staff/intake/erasure", letter(received_at="2026-03-17T09:00"))
    assert response.status_code == 422
    assert errors_on(response.get_data(as_text=True))["received_at"] == (
        "Mottagningstiden kan inte ligga i framtiden."
    )
    assert all_requests(db) == [] and queued(db) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("received_at", "", "Skriv när begäran kom till oss."),
        ("received_at", "5 mars", "Skriv datum och tid, t.ex. 2026-03-05 14:30."),
        (
            "received_at",
            "2024-03-05T09:00",
            "Mottagningsdagen kan inte ligga mer än ett år bakåt i tiden.",
        ),
        ("channel", "web", "Välj hur begäran kom till oss."),
        ("assurance_note", "", "Fältet måste fyllas i."),
        ("assurance_method", "", "Ange hur identiteten kontrollerades."),
        ("personnummer", "640823-3235", None),
        ("name", "", "Fältet måste fyllas i."),
    ],
)
def test_staff_input_is_checked(client, db, login_as, frozen_time, field, value, message):
    frozen_time(NOW)
    login_as("handler")
    response = client.submit("/staff/intake/erasure", letter(**{field: value}))
    assert response.status_code == 422
    errors = errors_on(response.get_data(as_text=True))
    assert field in errors
    if message:
        assert errors[field] == message
    assert all_requests(db) == []


def test_without_an_email_address_nothing_is_sent(client, db, login_as, frozen_time):
    frozen_time(NOW)
    login_as("handler")
    client.submit(
        "/staff/intake/access",
        letter(channel="phone", email="", assurance="none", scope=None, acknowledge=None),
    )
    [request] = all_requests(db)
    assert request.channel == Channel.phone and request.subject_email is None
    assert request.status == RequestStatus.unverified
    assert queued(db) == []


def test_an_unverified_request_gets_a_code_to_confirm_by_email(
    app, client, db, smtp, login_as, frozen_time
):
    frozen_time(NOW)
    login_as("handler")
    client.submit(
        "/staff/intake/access",
        letter(channel="email", language="en", assurance="none", scope=None),
    )
    [request] = all_requests(db)
    assert request.language == "en" and request.status == RequestStatus.unverified
    [message] = deliver(app, db, smtp, 1)
    assert message["Subject"] == f"We have received your request {request.reference}"
    assert code_in(message)
    subject = app.test_client()
    subject.submit(verify_path(message), {})
    db.refresh(request)
    assert request.status == RequestStatus.verified
    assert request.assurance == AssuranceLevel.email_verified


def test_the_acknowledgement_can_be_left_out(client, db, login_as, frozen_time):
    frozen_time(NOW)
    login_as("handler")
    client.submit("/staff/intake/erasure", letter(acknowledge=None))
    assert len(all_requests(db)) == 1 and queued(db) == []


def test_a_known_address_needs_an_address(client, db, login_as, frozen_time):
    frozen_time(NOW)
    login_as("handler")
    response = client.submit(
        "/staff/intake/erasure",
        letter(email="", assurance="email_verified", assurance_method="known_contact"),
    )
    assert errors_on(response.get_data(as_text=True))["email"] == (
        "Ange den e-postadress som är känd för att vara personens."
    )


def test_a_second_contact_about_an_open_request_is_linked_to_it(
    client, db, login_as, frozen_time, make_request
):
    frozen_time(NOW)
    existing = make_request(right=Right.erasure, subject_email="bertil@example.se")
    login_as("handler")
    client.submit("/staff/intake/erasure", letter())
    assert [r.id for r in all_requests(db)] == [existing.id]
    page = client.get("/staff/intake/").get_data(as_text=True)
    assert (
        f"Personen har redan en öppen begäran om den här rättigheten: {existing.reference}" in page
    )
    # The staff check done on this contact now covers the open request.
    db.refresh(existing)
    assert existing.assurance == AssuranceLevel.staff_verified
    assert existing.status == RequestStatus.verified
    assert [e.action for e in events(db, existing)][-3:] == [
        "request.submitted_again",
        "identity.checked_by_staff",
        "request.verified",
    ]


def test_the_staff_request_page_shows_what_was_asked_in_words(client, db, login_as, frozen_time):
    frozen_time(NOW)
    login_as("handler")
    nav = client.get("/staff/intake/").get_data(as_text=True)
    assert 'href="/staff/intake/" aria-current="page">Registrera en begäran</a>' in nav
    client.submit(
        "/staff/intake/objection",
        letter(
            scope=None,
            objection_to="other_processing",
            processing="Profilering för reklam",
            message="Ringde två gånger.",
        ),
    )
    [request] = all_requests(db)
    page = client.get(f"/staff/requests/{request.reference}").get_data(as_text=True)
    assert "<dt>Vad invänder du mot?</dt>" in page
    assert "Annan användning av mina uppgifter (beskriv den nedan)" in page
    assert "Profilering för reklam" in page and "Ringde två gånger." in page
    assert "Version" not in page and "None" not in page


def test_auditors_do_not_see_the_registration_link(client, login_as):
    login_as("auditor")
    page = client.get("/staff/", follow_redirects=True).get_data(as_text=True)
    assert 'class="staff-nav"' in page
    assert "/staff/intake/" not in page
