"""Proving control of the email address: code on the page, link with a button, through SMTP."""

import re
from datetime import timedelta

from sqlmodel import select

from dsr import audit
from dsr.db import utcnow
from dsr.models import (
    AssuranceLevel,
    Request,
    RequestStatus,
    Right,
    TokenPurpose,
    VerificationToken,
)
from tests.intake_helpers import (
    all_requests,
    code_in,
    deliver,
    errors_on,
    events,
    queued,
    status_path,
    submit,
    verify_path,
)
from tests.support import text_body

SUBMITTED = "2026-03-05T10:00:00+01:00"


def submitted(app, client, db, smtp, right=Right.access, **fields):
    submit(client, right, **fields)
    [request] = [r for r in all_requests(db) if r.right == right]
    messages = deliver(app, db, smtp, len(smtp.messages) + 1)
    return request, messages[-1]


def tokens(db, request):
    db.expire_all()
    return db.exec(
        select(VerificationToken)
        .where(
            VerificationToken.request_id == request.id,
            VerificationToken.purpose == TokenPurpose.verify_email,
        )
        .order_by(VerificationToken.id)
    ).all()


def assert_verified(db, request):
    db.refresh(request)
    assert request.status == RequestStatus.verified
    assert request.assurance == AssuranceLevel.email_verified
    assert request.verified_at is not None and request.assurance_at is not None
    [event] = events(db, request, "request.verified")
    assert event.public and event.actor_label == "subject"
    assert audit.verify_chain(db) is None


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_code_from_the_email_confirms_and_shows_the_request(app, client, db, smtp):
    request, message = submitted(app, client, db, smtp)
    page = client.get("/request/sent").get_data(as_text=True)
    assert "Titta i din e-post" in page and 'autocomplete="one-time-code"' in page
    response = client.submit("/request/sent", {"code": code_in(message)})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/status/")
    assert_verified(db, request)
    [token] = tokens(db, request)
    assert token.used_at is not None and token.attempts == 0
    status = client.get(response.headers["Location"]).get_data(as_text=True)
    assert request.reference in status
    assert request.due_legal.isoformat() in status
    assert "Tack. Din e-postadress är bekräftad." in status
    assert "Mottaget och bekräftat; väntar på handläggning" in status
    # The code is used up.
    again = client.submit("/request/sent", {"code": code_in(message)})
    assert again.status_code == 422


def test_spaces_in_the_typed_code_are_ignored(app, client, db, smtp):
    request, message = submitted(app, client, db, smtp)
    code = code_in(message)
    client.submit("/request/sent", {"code": f" {code[:3]} {code[3:]} "})
    assert_verified(db, request)


def test_the_link_opens_a_confirm_button_and_only_the_button_confirms(app, client, db, smtp):
    request, message = submitted(app, client, db, smtp)
    path = verify_path(message)
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Bekräfta din e-postadress" in html and request.reference in html
    assert re.search(r'<form method="post" action="/verify/[^"]+">', html)
    client.get(path)  # a mail scanner fetching the link twice changes nothing
    db.refresh(request)
    assert request.status == RequestStatus.unverified
    response = client.submit(path, {})
    assert response.status_code == 302 and response.headers["Location"].startswith("/status/")
    assert_verified(db, request)
    # Used: the link now explains itself and changes nothing.
    used = client.get(path)
    assert used.status_code == 404 and "Länken fungerar inte" in used.get_data(as_text=True)
    assert client.submit(path, {}).status_code == 404


def test_five_wrong_codes_kill_the_code_and_a_new_one_works(app, client, db, smtp):
    request, message = submitted(app, client, db, smtp)
    code = code_in(message)
    for left in (4, 3, 2, 1, 0):
        response = client.submit("/request/sent", {"code": wrong(code)})
        assert response.status_code == 422
        assert errors_on(response.get_data(as_text=True))["code"] == (
            f"Koden stämmer inte. Försök kvar: {left}."
        )
    dead = client.submit("/request/sent", {"code": code})
    assert errors_on(dead.get_data(as_text=True))["code"].startswith("För många felaktiga koder")
    db.refresh(request)
    assert request.status == RequestStatus.unverified
    [token] = tokens(db, request)
    assert token.attempts == 5 and token.used_at is None

    resent = client.submit("/request/resend", {})
    assert resent.status_code == 302
    page = client.get("/request/sent").get_data(as_text=True)
    assert "Vi har skickat ett nytt meddelande med en ny kod." in page
    [*_, fresh] = deliver(app, db, smtp, 2)
    assert fresh["Subject"] == f"Din nya kod för ärende {request.reference}"
    client.submit("/request/sent", {"code": code_in(fresh)})
    assert_verified(db, request)


def test_the_link_still_works_after_the_code_is_dead(app, client, db, smtp):
    request, message = submitted(app, client, db, smtp)
    for _ in range(5):
        client.submit("/request/sent", {"code": wrong(code_in(message))})
    client.submit(verify_path(message), {})
    assert_verified(db, request)


def test_code_and_link_expire_after_the_configured_hours(app, client, db, smtp, frozen_time):
    frozen_time(SUBMITTED)
    request, message = submitted(app, client, db, smtp)
    frozen_time("2026-03-06T10:00:01+01:00")  # 24 hours and a second later
    assert client.get(verify_path(message)).status_code == 404
    assert client.submit(verify_path(message), {}).status_code == 404
    # By now the browser's session has ended too; the request's page still takes codes.
    status = status_path(message)
    response = client.submit(f"{status}/code", {"code": code_in(message)})
    assert errors_on(response.get_data(as_text=True))["code"].startswith(
        "Koden har gått ut eller så har en nyare skickats."
    )
    db.refresh(request)
    assert request.status == RequestStatus.unverified


def test_the_code_on_the_page_expires_too(app, client, db, smtp, frozen_time, monkeypatch):
    monkeypatch.setitem(app.config, "VERIFICATION_TOKEN_HOURS", 1)
    frozen_time(SUBMITTED)
    request, message = submitted(app, client, db, smtp)
    assert "1 timmar" in text_body(message)
    frozen_time("2026-03-05T11:00:01+01:00")
    response = client.submit("/request/sent", {"code": code_in(message)})
    assert errors_on(response.get_data(as_text=True))["code"].startswith(
        "Koden har gått ut eller så har en nyare skickats."
    )
    db.refresh(request)
    assert request.status == RequestStatus.unverified


def test_a_new_code_replaces_the_old_code_and_link(app, client, db, smtp):
    request, first = submitted(app, client, db, smtp)
    client.submit("/request/resend", {})
    [_, second] = deliver(app, db, smtp, 2)
    assert "Koder och länkar i tidigare meddelanden gäller inte längre." in text_body(second)
    old_token, new_token = tokens(db, request)
    assert old_token.revoked_at is not None and new_token.revoked_at is None
    # The page now expects the new code; the old one is just wrong.
    old = client.submit("/request/sent", {"code": code_in(first)})
    assert errors_on(old.get_data(as_text=True))["code"] == "Koden stämmer inte. Försök kvar: 4."
    assert client.get(verify_path(first)).status_code == 404
    client.submit(verify_path(second), {})
    assert_verified(db, request)
    assert [e.action for e in events(db, request)].count("verification.resent") == 1


def test_new_codes_are_limited_per_hour_for_one_address(app, client, db, smtp, frozen_time):
    frozen_time(SUBMITTED)
    request, _ = submitted(app, client, db, smtp)
    for _ in range(3):  # verification.resend_per_hour
        assert client.submit("/request/resend", {}).status_code == 302
    assert client.submit("/request/resend", {}).status_code == 429
    assert len(queued(db, "verification")) == 3
    frozen_time("2026-03-05T11:00:01+01:00")
    assert client.submit("/request/resend", {}).status_code == 302


def test_code_attempts_are_limited_per_ip_address(app, client, db, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_VERIFY_PER_HOUR_IP", 2)
    request, message = submitted(app, client, db, smtp)
    client.submit("/request/sent", {"code": wrong(code_in(message))})
    client.submit("/request/sent", {"code": wrong(code_in(message))})
    refused = client.submit("/request/sent", {"code": code_in(message)})
    assert refused.status_code == 429
    db.refresh(request)
    assert request.status == RequestStatus.unverified
    # The link counts against the same limit.
    assert client.submit(verify_path(message), {}).status_code == 429


def test_code_attempts_are_limited_per_email_address(app, client, db, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_VERIFY_PER_HOUR_EMAIL", 1)
    request, message = submitted(app, client, db, smtp)
    client.submit("/request/sent", {"code": wrong(code_in(message))})
    assert client.submit("/request/sent", {"code": code_in(message)}).status_code == 429


def test_without_a_submission_in_this_browser_every_code_is_wrong(app, client, db, smtp):
    request, message = submitted(app, client, db, smtp)
    other = app.test_client()
    response = other.submit("/request/sent", {"code": code_in(message)})
    assert errors_on(response.get_data(as_text=True))["code"] == "Koden stämmer inte."
    db.refresh(request)
    assert request.status == RequestStatus.unverified


def test_a_duplicate_of_a_verified_request_shows_it_after_the_code(app, client, db, smtp):
    request, message = submitted(app, client, db, smtp)
    client.submit(verify_path(message), {})
    assert_verified(db, request)
    submit(client, Right.access)
    [*_, again] = deliver(app, db, smtp, 2)
    assert again["Subject"] == f"Du har redan en öppen begäran: {request.reference}"
    response = client.submit("/request/sent", {"code": code_in(again)})
    assert response.status_code == 302
    assert request.reference in client.get(response.headers["Location"]).get_data(as_text=True)
    assert len(all_requests(db)) == 1
    # Already verified: no second verification event.
    assert len(events(db, request, "request.verified")) == 1


def test_the_status_link_in_the_acknowledgement_works_before_verification(app, client, db, smtp):
    request, message = submitted(app, client, db, smtp)
    html = client.get(status_path(message)).get_data(as_text=True)
    assert request.reference in html
    assert "Väntar på att du bekräftar din e-postadress" in html
    assert db.get(Request, request.id).status == RequestStatus.unverified


def test_verification_tokens_are_bound_to_their_purpose(app, client, db, smtp):
    request, message = submitted(app, client, db, smtp)
    secret = verify_path(message).split("/")[-1]
    # A verification secret does not open the status page, nor a status secret the button.
    assert client.get(f"/status/{secret}").status_code == 404
    status_secret = status_path(message).split("/")[-1]
    assert client.get(f"/verify/{status_secret}").status_code == 404


def test_tokens_expire_relative_to_issue(app, client, db, smtp, frozen_time):
    frozen_time(SUBMITTED)
    request, _ = submitted(app, client, db, smtp)
    [token] = tokens(db, request)
    assert token.expires_at - token.created_at == timedelta(hours=24)
    assert token.created_at == utcnow()


def test_new_codes_are_limited_per_hour_for_one_ip_address(app, client, db, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_RESEND_PER_HOUR_IP", 2)
    submit(client, Right.access, email="forsta@example.se")
    assert client.submit("/request/resend", {}).status_code == 302
    assert client.submit("/request/resend", {}).status_code == 302
    # Another person's browser on the same address: their own email has asked for nothing yet.
    neighbour = app.test_client()
    submit(neighbour, Right.erasure, email="andra@example.se")
    before = len(queued(db, "verification"))
    assert neighbour.submit("/request/resend", {}).status_code == 429
    assert len(queued(db, "verification")) == before
