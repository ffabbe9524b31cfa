"""Filing a request on the public pages: the forms, what is stored, the acknowledgement."""

from datetime import date

import pytest
from sqlmodel import func, select

from dsr import audit, crypto, identity
from dsr.db import utcnow
from dsr.models import (
    AuditEvent,
    Channel,
    RateLimitCounter,
    Request,
    RequestStatus,
    Right,
    TokenPurpose,
)
from dsr.notifications import OUTBOX_LABEL
from tests.intake_helpers import (
    STORED_DETAILS,
    VALID_DETAILS,
    all_requests,
    code_in,
    deliver,
    errors_on,
    events,
    form_data,
    queued,
    status_path,
    submit,
    verify_path,
    without_csrf,
)
from tests.support import html_body, iter_forms, text_body

RECEIVED = "2026-03-05T10:00:00+01:00"  # legal due date 2026-04-07 (LEGAL.md A1)


def test_the_start_page_explains_every_right_and_links_to_its_form(client):
    html = client.get("/").get_data(as_text=True)
    assert "Dina rättigheter till dina personuppgifter" in html
    for right, title in [
        (Right.access, "Se vilka personuppgifter vi har om dig"),
        (Right.rectification, "Rätta uppgifter om dig"),
        (Right.erasure, "Radera uppgifter om dig"),
        (Right.restriction, "Begränsa hur vi använder dina uppgifter"),
        (Right.portability, "Ta med dig dina uppgifter"),
        (Right.objection, "Invänd mot hur vi använder dina uppgifter"),
        (Right.consent_withdrawal, "Återkalla ditt samtycke"),
        (Right.human_review, "Få ett automatiskt beslut prövat av en människa"),
    ]:
        assert f'<a href="/request/{right.value}">{title}</a>' in html
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "Take your data with you" in english and "(Article 20)" in english


def test_only_the_rights_the_profile_offers_are_shown(make_app):
    app = make_app(PROFILE="kliently")  # no consent withdrawal, no automated decisions
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    assert "/request/access" in html and "/request/erasure" in html
    assert "/request/consent_withdrawal" not in html and "/request/human_review" not in html
    assert client.get("/request/consent_withdrawal").status_code == 404
    assert client.get("/request/erasure").status_code == 200
    assert client.get("/request/no-such-right").status_code == 404


@pytest.mark.parametrize("right", list(Right))
def test_each_form_asks_for_what_its_right_needs_with_labels_and_csrf(client, right):
    response = client.get(f"/request/{right.value}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    [form] = [f for f in iter_forms(html) if 'action="/request/' in f]
    assert 'name="csrf_token"' in form
    for name in ("name", "email", "personnummer", "phone", "message", *VALID_DETAILS[right]):
        assert f'name="{name}"' in form
        assert f'for="{name}' in form, f"{name} has no label"
    assert 'class="honeypot" aria-hidden="true"' in form


@pytest.mark.parametrize("right", list(Right))
def test_a_valid_submission_is_stored_with_reference_due_dates_and_details(
    client, db, frozen_time, right
):
    frozen_time(RECEIVED)
    response = submit(client, right, personnummer="640823-3234", phone="070-123 45 67")
    assert response.status_code == 302
    assert response.headers["Location"] == "/request/sent"
    [request] = all_requests(db)
    assert request.reference == "DSR-2026-000001"
    assert request.right == right
    assert request.status == RequestStatus.unverified
    assert request.channel == Channel.web
    assert request.language == "sv"
    assert request.subject_email == "anna.andersson@example.se"
    assert request.subject_phone == "070-123 45 67"
    assert request.received_at.isoformat() == "2026-03-05T09:00:00+00:00"
    assert (request.due_target, request.due_legal) == (date(2026, 4, 5), date(2026, 4, 7))
    assert request.first_due_legal == date(2026, 4, 7)
    assert request.details == STORED_DETAILS[right]
    [created] = events(db, request, "request.created")
    assert created.public and created.actor_label == "subject"
    assert created.payload["due_legal"] == "2026-04-07"
    assert audit.verify_chain(db) is None


def test_the_personnummer_is_stored_encrypted_hashed_and_masked(client, db):
    submit(client, personnummer="6408233234")
    [request] = all_requests(db)
    assert request.subject_pnr_masked == "19640823-****"
    assert crypto.decrypt(request.subject_pnr_encrypted, "pnr") == "196408233234"
    assert request.subject_pnr_hmac == crypto.keyed_hash("196408233234", "pnr")
    assert "3234" not in request.subject_pnr_encrypted + request.subject_pnr_hmac
    for event in events(db, request):
        assert "3234" not in str(event.payload)


def test_a_samordningsnummer_is_accepted(client, db):
    submit(client, personnummer="701063-2391")
    [request] = all_requests(db)
    assert request.subject_pnr_masked == "19701063-****"


def test_the_page_language_becomes_the_request_language(client, db):
    client.submit("/language", {"lang": "en", "next": "/"})
    submit(client, Right.erasure)
    [request] = all_requests(db)
    assert request.language == "en"
    [ack] = queued(db, "acknowledgement")
    assert ack.language == "en"
    assert ack.subject == f"We have received your request {request.reference}"


def test_the_acknowledgement_carries_reference_due_date_code_and_links(app, client, db, smtp):
    submit(client, Right.erasure)
    [request] = all_requests(db)
    [row] = queued(db)
    assert (row.kind, row.to_addr, row.carries_secret) == (
        "acknowledgement",
        request.subject_email,
        True,
    )
    [message] = deliver(app, db, smtp, 1)
    assert message["To"] == "anna.andersson@example.se"
    assert message["Subject"] == f"Vi har tagit emot din begäran {request.reference}"
    text = text_body(message)
    assert f"Din referens är {request.reference}" in text
    assert f"Vi svarar senast {request.due_legal.isoformat()}" in text
    assert "begäran om radering" in text
    assert "Vad som händer nu" in text
    assert "24 timmar" in text and "14 dagar" in text
    assert "Integritetsskyddsmyndigheten" in text
    code = code_in(message)
    link = verify_path(message)
    status = status_path(message)
    html = html_body(message)
    assert code in html and link in html and status in html
    # Only hashes of the secrets are kept; the sent email's body is dropped.
    db.expire_all()
    assert row.body_text_encrypted is None and row.body_html_encrypted is None
    token = identity.find_token(db, TokenPurpose.verify_email, link.split("/")[-1])
    assert token is not None and token.request_id == request.id
    assert token.token_hash != link.split("/")[-1] and code not in (token.code_hash or "")
    assert identity.code_matches(token, code)


def test_the_acknowledgement_does_not_repeat_what_the_sender_typed(app, client, db, smtp):
    """Anyone can type anyone's address: the email must not carry their words to it."""
    submit(
        client,
        Right.objection,
        name="Klicka här: http://evil.example",
        objection_to="other_processing",
        processing="Läs mer på http://evil.example",
    )
    [message] = deliver(app, db, smtp, 1)
    assert "evil.example" not in text_body(message) + html_body(message)


# --- validation --------------------------------------------------------------------------------


def assert_nothing_stored(db):
    assert all_requests(db) == []
    assert queued(db) == []
    assert (
        db.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.request_id.is_not(None))
        ).one()
        == 0
    )


def test_missing_fields_are_named_in_swedish_and_nothing_is_stored(client, db):
    response = client.submit("/request/rectification", {"name": "", "email": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = errors_on(html)
    assert errors["name"] == "Fältet måste fyllas i."
    assert errors["email"] == "Skriv din e-postadress."
    assert errors["data_to_correct"] == "Fältet måste fyllas i."
    assert errors["correct_values"] == "Fältet måste fyllas i."
    assert 'class="error-summary" role="alert"' in html
    assert '<a href="#data_to_correct">Vad är fel eller saknas?: Fältet måste fyllas i.</a>' in html
    assert 'aria-invalid="true"' in html
    assert_nothing_stored(db)


def test_errors_are_translated_into_english_on_the_english_page(client, db):
    html = client.submit("/request/erasure?lang=en", {"name": "Anna", "email": "anna"}).get_data(
        as_text=True
    )
    errors = errors_on(html)
    assert errors["email"] == "Enter an email address like name@example.se."
    assert errors["scope"] == "Choose one of the options."
    assert_nothing_stored(db)


def test_what_was_typed_is_kept_in_the_form_after_an_error(client):
    html = submit(client, Right.rectification, email="fel", correct_values="Rätt adress").get_data(
        as_text=True
    )
    assert 'value="Anna Andersson"' in html and "Rätt adress</textarea>" in html


@pytest.mark.parametrize(
    ("personnummer", "ok"),
    [
        ("640823-3234", True),
        ("19640823-3234", True),
        ("701063-2391", True),
        ("640823+3234", True),
        ("640823-3235", False),
        ("19640823+3234", False),
        ("640823", False),
        ("ett nummer", False),
    ],
)
def test_personnummer_on_the_form(client, db, personnummer, ok):
    response = submit(client, personnummer=personnummer)
    if ok:
        assert response.status_code == 302
        assert len(all_requests(db)) == 1
    else:
        assert response.status_code == 422
        assert errors_on(response.get_data(as_text=True))["personnummer"].startswith(
            "Det här är inte ett giltigt personnummer eller samordningsnummer."
        )
        assert_nothing_stored(db)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "A" * 201, "Använd högst 200 tecken (du använde 201)."),
        ("message", "x" * 5001, "Använd högst 5000 tecken (du använde 5001)."),
        ("name", "Anna\x00Andersson", "Ta bort styrtecknen (osynliga tecken)."),
        ("name", "Anna\x1bAndersson", "Ta bort styrtecknen (osynliga tecken)."),
        ("name", "Anna\nAndersson", "Ta bort styrtecknen (osynliga tecken)."),
        ("message", "rad ett\x07", "Ta bort styrtecknen (osynliga tecken)."),
        ("name", "Anna \u202enossrednA", "Ta bort tecknen som ändrar skrivriktningen."),
        ("email", "anna@", "Skriv en e-postadress som namn@example.se."),
        ("email", "anna andersson@example.se", "Skriv en e-postadress som namn@example.se."),
        ("email", "anna@example", "Skriv en e-postadress som namn@example.se."),
        ("email", "a" * 250 + "@example.se", "En e-postadress har högst 254 tecken."),
        ("phone", "ring mig", "Skriv ett telefonnummer med siffror, t.ex. 070-123 45 67."),
        ("phone", "123", "Skriv ett telefonnummer med siffror, t.ex. 070-123 45 67."),
    ],
)
def test_over_long_and_unexpected_input_is_refused(client, db, field, value, message):
    response = submit(client, **{field: value})
    assert response.status_code == 422
    assert errors_on(response.get_data(as_text=True))[field] == message
    assert_nothing_stored(db)


def test_line_breaks_tabs_and_any_script_are_fine_in_free_text(client, db):
    text = "Rad ett\r\n\tRad två: Ωμέγα, 日本語, ÅÄÖ 👍"
    assert submit(client, message=text).status_code == 302
    [request] = all_requests(db)
    assert request.details["message"] == "Rad ett\n\tRad två: Ωμέγα, 日本語, ÅÄÖ 👍"


def test_an_address_is_lower_cased_and_an_international_domain_stored_as_ascii(client, db):
    submit(client, email="  Anna.Andersson@Exempel-Åre.SE ")
    [request] = all_requests(db)
    ascii_domain = "exempel-åre.se".encode("idna").decode()
    assert ascii_domain.startswith("xn--")
    assert request.subject_email == f"anna.andersson@{ascii_domain}"


@pytest.mark.parametrize(
    ("right", "fields", "errors"),
    [
        (Right.erasure, {"scope": "specific"}, {"data_to_erase": "Fältet måste fyllas i."}),
        (Right.erasure, {"scope": "all of it"}, {"scope": "Välj ett av alternativen."}),
        (
            Right.portability,
            {"delivery": "controller", "recipient_url": ""},
            {"recipient_url": "Skriv adressen som uppgifterna ska skickas till."},
        ),
        (
            Right.portability,
            {"delivery": "controller", "recipient_url": "http://ny.example.se"},
            {"recipient_url": "Skriv en adress som börjar med https://, utan mellanslag."},
        ),
        (
            Right.portability,
            {"delivery": "controller", "recipient_url": "https://user:pw@ny.example.se"},
            {"recipient_url": "Skriv en adress som börjar med https://, utan mellanslag."},
        ),
        (
            Right.objection,
            {"objection_to": "other_processing"},
            {"processing": "Fältet måste fyllas i."},
        ),
        (Right.restriction, {"grounds": ""}, {"grounds": "Välj ett av alternativen."}),
        (Right.consent_withdrawal, {"consent": "  "}, {"consent": "Fältet måste fyllas i."}),
        (Right.human_review, {"decision": ""}, {"decision": "Fältet måste fyllas i."}),
    ],
)
def test_each_right_checks_its_own_fields(client, db, right, fields, errors):
    response = submit(client, right, **fields)
    assert response.status_code == 422
    assert errors_on(response.get_data(as_text=True)) == errors
    assert_nothing_stored(db)


@pytest.mark.parametrize(
    ("right", "fields", "stored"),
    [
        (
            Right.erasure,
            {"scope": "specific", "data_to_erase": "Mina foton"},
            {"scope": "specific", "data_to_erase": "Mina foton"},
        ),
        # A description typed before switching to "everything" is not kept as the scope.
        (
            Right.erasure,
            {"scope": "everything", "data_to_erase": "Mina foton"},
            {"scope": "everything", "data_to_erase": None},
        ),
        (
            Right.portability,
            {"delivery": "download", "recipient_url": "https://ny.example.se"},
            {"delivery": "download", "recipient_url": None},
        ),
        (
            Right.objection,
            {"objection_to": "other_processing", "processing": "Profilering", "grounds": "Skäl"},
            {"objection_to": "other_processing", "processing": "Profilering", "grounds": "Skäl"},
        ),
    ],
)
def test_conditional_fields_are_kept_exactly_when_their_choice_asks_for_them(
    client, db, right, fields, stored
):
    assert submit(client, right, **fields).status_code == 302
    [request] = all_requests(db)
    assert {k: request.details[k] for k in stored} == stored


def test_a_form_without_a_csrf_token_is_refused(client, db):
    response = client.post("/request/access", data=form_data(Right.access))
    assert response.status_code == 400
    assert_nothing_stored(db)


# --- abuse and enumeration ---------------------------------------------------------------------


def test_a_filled_honeypot_is_accepted_silently_and_dropped(client, db):
    response = submit(client, website="http://spam.example")
    assert response.status_code == 302 and response.headers["Location"] == "/request/sent"
    assert_nothing_stored(db)


def test_a_duplicate_links_to_the_open_request_instead_of_filing_a_second(app, client, db, smtp):
    submit(client, Right.access)
    submit(client, Right.erasure)  # another right is another request
    submit(client, Right.access, name="Anna A.")
    first, erasure = all_requests(db)
    assert (first.right, erasure.right) == (Right.access, Right.erasure)
    assert [e.action for e in events(db, first)][-1] == "request.submitted_again"
    messages = deliver(app, db, smtp, 3)
    again = messages[2]
    assert again["Subject"] == f"Du har redan en öppen begäran: {first.reference}"
    text = text_body(again)
    assert first.reference in text and "öppnade ingen till" in text
    assert first.due_legal.isoformat() in text
    # Its code opens the existing request.
    client.submit("/request/sent", {"code": code_in(again)})
    db.refresh(first)
    assert first.status == RequestStatus.verified


def test_a_closed_request_does_not_count_as_a_duplicate(client, db, make_request, frozen_time):
    frozen_time(RECEIVED)
    old = make_request(right=Right.access, status=RequestStatus.completed, closed_at=utcnow())
    submit(client, Right.access, email=old.subject_email)
    assert len(all_requests(db)) == 2


def test_the_page_after_submitting_is_the_same_whether_or_not_the_address_is_known(
    app, client, db, make_request
):
    """No enumeration: the answer to a new address and to one with an open request match
    byte for byte, apart from the CSRF token."""
    make_request(right=Right.access, subject_email="known@example.se")
    pages = []
    for email in ("known@example.se", "unknown@example.se"):
        response = submit(client, Right.access, email=email)
        assert response.status_code == 302
        pages.append((response.headers["Location"], response.get_data()))
        follow = client.get(response.headers["Location"])
        pages.append((follow.status_code, without_csrf(follow.get_data(as_text=True))))
    assert pages[0] == pages[2]
    assert pages[1] == pages[3]
    assert "known@example.se" not in pages[1][1]
    # The session cookie holds the id of a token, nothing about the request.
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    cookie = client.get_cookie("dsr_session").value
    contents = serializer.loads(cookie)
    assert set(contents) <= {"csrf_token", "intake_token", "lang", "_flashes"}
    assert isinstance(contents["intake_token"], int)


def test_submissions_from_one_address_are_limited_per_hour(app, client, db, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_SUBMIT_PER_HOUR_IP", 2)
    assert submit(client, email="a@example.se").status_code == 302
    assert submit(client, email="b@example.se").status_code == 302
    refused = submit(client, email="c@example.se")
    assert refused.status_code == 429
    assert "För många försök" in refused.get_data(as_text=True)
    assert len(all_requests(db)) == 2
    # The refused attempt was counted before anything else happened.
    assert sum(r.hits for r in db.exec(select(RateLimitCounter)).all()) >= 3


def test_submissions_for_one_email_are_limited_per_day_without_saying_so(
    app, client, db, monkeypatch
):
    monkeypatch.setitem(app.config, "RATELIMIT_SUBMIT_PER_DAY_EMAIL", 1)
    first = submit(client, Right.access)
    over = submit(client, Right.erasure)
    assert first.status_code == over.status_code == 302
    assert first.headers["Location"] == over.headers["Location"]
    assert [r.right for r in all_requests(db)] == [Right.access]
    assert len(queued(db)) == 1


def test_the_submission_page_and_the_request_row_do_not_show_the_personnummer(client, db):
    response = submit(client, personnummer="19640823-3234")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "3234" not in page
    [request] = all_requests(db)
    assert "3234" not in str(request.details)


def test_the_submission_lands_in_the_outbox_body_encrypted(client, db):
    submit(client)
    [row] = queued(db)
    plain = crypto.decrypt(row.body_text_encrypted, OUTBOX_LABEL)
    assert "DSR-" in plain and "DSR-" not in row.body_text_encrypted


def test_requests_are_numbered_per_year_of_receipt(client, db, frozen_time):
    frozen_time("2026-12-31T23:30:00+01:00")
    submit(client, email="a@example.se")
    frozen_time("2027-01-01T00:30:00+01:00")
    submit(client, email="b@example.se")
    assert [r.reference for r in all_requests(db)] == ["DSR-2026-000001", "DSR-2027-000001"]
    assert isinstance(all_requests(db)[0], Request)


def test_every_error_in_the_summary_links_to_its_field(client):
    import re

    html = client.submit("/request/erasure", {"name": "", "email": ""}).get_data(as_text=True)
    summary = html[html.index('class="error-summary"') : html.index("</ul>")]
    targets = re.findall(r'href="#([\w-]+)"', summary)
    assert set(targets) == {"name", "email", "scope"}
    for target in targets:
        assert f'id="{target}"' in html
    assert '="None"' not in html


def test_a_line_break_typed_in_the_form_counts_as_one_character(client, db):
    typed = ("x" * 499 + "\r\n") * 10  # 5000 characters typed, 5010 as the browser sends them
    assert submit(client, message=typed).status_code == 302
    [request] = all_requests(db)
    assert len(request.details["message"]) == 4999  # the last line break is trimmed


def test_a_conditional_field_is_checked_even_when_it_is_not_kept(client, db):
    response = submit(
        client, Right.portability, delivery="download", recipient_url="ftp://old.example.se"
    )
    assert response.status_code == 422
    assert errors_on(response.get_data(as_text=True)) == {
        "recipient_url": "Skriv en adress som börjar med https://, utan mellanslag."
    }
