"""The subject's status page: what it shows, who can see it, replies and the clock."""

from datetime import date

import pytest
from sqlmodel import select

from dsr import audit, crypto, identity, workflow
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import (
    MessageDirection,
    PauseReason,
    RequestMessage,
    RequestStatus,
    Right,
    TokenPurpose,
)
from tests.intake_helpers import errors_on, events, queued, without_csrf

RECEIVED = "2026-01-31T10:00:00+01:00"  # legal due 2026-03-02


@pytest.fixture
def handler(make_staff):
    return make_staff("handler")


def status_link(db, request):
    token = identity.issue_status_token(db, request)
    db.commit()
    return f"/status/{token}"


def test_the_page_shows_state_due_date_days_left_and_history(client, db, make_request, frozen_time):
    frozen_time(RECEIVED)
    request = make_request(
        received_at=utcnow(),
        right=Right.erasure,
        status=RequestStatus.verified,
        subject_pnr_masked="19640823-****",
    )
    audit.record(db, "request.created", Actor.subject(), request=request, public=True)
    audit.record(db, "request.verified", Actor.subject(), request=request, public=True)
    audit.record(db, "request.assigned", Actor.system(), request=request, reason="intern")
    db.commit()
    link = status_link(db, request)
    frozen_time("2026-02-20T09:00:00+01:00")
    response = client.get(link)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"Ditt ärende {request.reference}" in html
    assert "Radera uppgifter om dig" in html
    assert "Mottaget och bekräftat; väntar på handläggning" in html
    assert "2026-03-02" in html and "(10 dagar kvar)" in html
    assert "Vi tog emot din begäran." in html
    assert "Din begäran bekräftades och väntar på handläggning." in html
    # Internal events and personal data stay off the page.
    assert "intern" not in html
    assert "19640823" not in html and request.subject_email not in html
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_overdue_request_says_so(client, db, make_request, frozen_time):
    frozen_time(RECEIVED)
    request = make_request(received_at=utcnow(), status=RequestStatus.in_progress)
    link = status_link(db, request)
    frozen_time("2026-03-04T09:00:00+01:00")
    assert "2 dagar sen" in client.get(link).get_data(as_text=True)


def test_the_page_speaks_the_subjects_language_unless_they_choose(client, db, make_request):
    request = make_request(language="en", status=RequestStatus.verified)
    link = status_link(db, request)
    assert f"Your request {request.reference}" in client.get(link).get_data(as_text=True)
    assert f"Ditt ärende {request.reference}" in client.get(f"{link}?lang=sv").get_data(
        as_text=True
    )


def test_without_a_live_link_the_page_is_a_plain_404(client, db, make_request):
    request = make_request()
    link = status_link(db, request)
    garbage = client.get("/status/not-a-token-at-all")
    unknown = client.get("/status/" + "A" * 43)
    assert garbage.status_code == unknown.status_code == 404
    identity.revoke_tokens(db, TokenPurpose.status, request=request)
    db.commit()
    revoked = client.get(link)
    assert revoked.status_code == 404

    def normalised(response, path):
        return without_csrf(response.get_data(as_text=True).replace(path, "PATH"))

    assert (
        normalised(revoked, link)
        == normalised(garbage, "/status/not-a-token-at-all")
        == normalised(unknown, "/status/" + "A" * 43)
    )
    assert request.reference.encode() not in revoked.get_data()
    # Posting to a dead link changes nothing either.
    assert client.submit(f"{link}/reply", {"body": "Hej"}).status_code == 404


def test_anonymised_requests_have_no_page(client, db, make_request):
    request = make_request(anonymized_at=utcnow())
    assert client.get(status_link(db, request)).status_code == 404


def test_staff_messages_show_and_the_subject_can_reply(client, db, make_request, handler):
    request = make_request(status=RequestStatus.in_progress)
    db.add(
        RequestMessage(
            request_id=request.id,
            direction=MessageDirection.to_subject,
            author_id=handler.id,
            body="Vilket konto gäller det?\nVi har två.",
        )
    )
    db.commit()
    link = status_link(db, request)
    html = client.get(link).get_data(as_text=True)
    assert "Från oss" in html and "Vilket konto gäller det?\nVi har två." in html
    response = client.submit(f"{link}/reply", {"body": "Det privata kontot."})
    assert response.status_code == 302 and response.headers["Location"] == link
    page = client.get(link).get_data(as_text=True)
    assert "Ditt meddelande har skickats." in page
    assert "Från dig" in page and "Det privata kontot." in page
    assert "Du skickade ett meddelande till oss." in page
    [reply] = db.exec(
        select(RequestMessage).where(RequestMessage.direction == MessageDirection.from_subject)
    ).all()
    assert reply.body == "Det privata kontot." and reply.author_id is None
    [event] = events(db, request, "request.message_received")
    assert event.public and event.actor_label == "subject"
    assert event.payload == {"message_id": reply.id}  # the words stay out of the log
    assert request.status == RequestStatus.in_progress


def test_a_reply_while_the_request_waits_for_the_subject_restarts_the_clock(
    client, db, make_request, handler, frozen_time
):
    frozen_time(RECEIVED)
    request = make_request(received_at=utcnow(), status=RequestStatus.in_progress)
    frozen_time("2026-02-02T09:00:00+01:00")
    workflow.pause(
        db,
        request,
        reason=PauseReason.clarification,
        question="Vilket konto gäller det?",
        actor=Actor.staff(handler),
    )
    db.commit()
    link = status_link(db, request)
    frozen_time("2026-02-12T09:00:00+01:00")
    waiting = client.get(link).get_data(as_text=True)
    assert "Väntar på information från dig" in waiting
    assert "tiden står still tills du svarar" in waiting
    assert "Vilket konto gäller det?" in waiting  # the question, on the timeline
    client.submit(f"{link}/reply", {"body": "Det privata kontot."})
    db.refresh(request)
    assert request.status == RequestStatus.in_progress
    # Ten whole days paused move the unrolled date: 2026-02-28 + 10 = Tuesday 2026-03-10.
    assert request.due_legal == date(2026, 3, 10)
    [resumed] = events(db, request, "request.resumed")
    assert resumed.actor_label == "subject" and resumed.payload["paused_days"] == 10
    assert "Tiden började löpa igen." in client.get(link).get_data(as_text=True)
    assert audit.verify_chain(db) is None


def test_a_closed_request_takes_no_replies(client, db, make_request):
    request = make_request(status=RequestStatus.completed, closed_at=utcnow())
    link = status_link(db, request)
    page = client.get(link).get_data(as_text=True)
    assert 'action="' + link + '/reply"' not in page
    response = client.submit(f"{link}/reply", {"body": "Hallå?"})
    assert response.status_code == 302
    assert "Ärendet är avslutat." in client.get(link).get_data(as_text=True)
    assert events(db, request, "request.message_received") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("   ", "Fältet måste fyllas i."),
        ("x" * 5001, "Använd högst 5000 tecken (du använde 5001)."),
        ("hej\x00", "Ta bort styrtecknen (osynliga tecken)."),
    ],
)
def test_a_reply_is_checked_like_any_input(client, db, make_request, body, message):
    request = make_request(status=RequestStatus.in_progress)
    response = client.submit(f"{status_link(db, request)}/reply", {"body": body})
    assert response.status_code == 422
    assert errors_on(response.get_data(as_text=True))["body"] == message
    assert events(db, request, "request.message_received") == []


def test_replies_are_limited_per_hour(app, client, db, make_request, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_REPLY_PER_HOUR", 2)
    link = status_link(db, make_request(status=RequestStatus.in_progress))
    assert client.submit(f"{link}/reply", {"body": "1"}).status_code == 302
    assert client.submit(f"{link}/reply", {"body": "2"}).status_code == 302
    assert client.submit(f"{link}/reply", {"body": "3"}).status_code == 429


def test_an_unverified_request_can_be_confirmed_on_its_page(client, db, make_request):
    request = make_request()
    issued = identity.issue_email_verification(db, request)
    db.commit()
    link = status_link(db, request)
    html = client.get(link).get_data(as_text=True)
    assert "Bekräfta din e-postadress" in html and f'action="{link}/code"' in html
    wrong = client.submit(f"{link}/code", {"code": "000000" if issued.code != "000000" else "1"})
    assert errors_on(wrong.get_data(as_text=True))["code"] == "Koden stämmer inte. Försök kvar: 4."
    client.submit(f"{link}/code", {"code": issued.code})
    db.refresh(request)
    assert request.status == RequestStatus.verified
    assert "Bekräfta din e-postadress" not in client.get(link).get_data(as_text=True)


def test_a_new_code_can_be_asked_for_on_the_page(client, db, make_request):
    request = make_request()
    link = status_link(db, request)
    assert client.submit(f"{link}/resend", {}).status_code == 302
    [event] = events(db, request, "verification.resent")
    assert event.actor_label == "subject"
    [email] = queued(db, "verification")
    assert request.reference in crypto.decrypt(email.body_text_encrypted, "outbox")


def test_the_page_has_room_for_the_answer_later(client, db, make_request):
    html = client.get(status_link(db, make_request())).get_data(as_text=True)
    assert 'id="downloads"' not in html  # nothing to download yet


def test_every_form_on_the_subjects_pages_carries_a_csrf_token(client, db, make_request):
    from tests.support import iter_forms

    request = make_request()
    issued = identity.issue_email_verification(db, request)
    db.commit()
    pages = [
        "/",
        "/request/erasure",
        "/request/sent",
        f"/verify/{issued.token}",
        status_link(db, request),
    ]
    checked = 0
    for page in pages:
        html = client.get(page).get_data(as_text=True)
        for form in iter_forms(html):
            if 'method="post"' in form.lower():
                assert 'name="csrf_token"' in form, f"form without CSRF token on {page}"
                checked += 1
    assert checked >= 10
