"""The API for trusted systems: tokens, filing, following, and the OpenAPI document."""

from datetime import date, datetime

import pytest
from jsonschema import Draft202012Validator
from sqlmodel import select

from dsr import apitokens, audit
from dsr.audit import Actor
from dsr.db import get_db, utcnow
from dsr.models import ApiToken, AssuranceLevel, Channel, RequestStatus, Right
from tests.intake_helpers import all_requests, code_in, deliver, events, queued
from tests.support import text_body

NOW = "2026-03-05T10:00:00+01:00"  # legal due date 2026-04-07

BODY = {
    "right": "erasure",
    "subject": {"email": "anna.andersson@example.se", "name": "Anna Andersson"},
    "details": {"scope": "everything"},
}


@pytest.fixture
def token(db):
    _row, secret = apitokens.create(db, "customer-app", actor=Actor.system("test"))
    db.commit()
    return secret


def auth(secret):
    return {"Authorization": f"Bearer {secret}"}


def post(client, body, secret, **kwargs):
    return client.post("/api/v1/requests", json=body, headers=auth(secret), **kwargs)


@pytest.fixture(scope="module")
def spec(app):
    with app.test_client() as anonymous:
        return anonymous.get("/api/v1/openapi.json").get_json()


def conforms(spec, path, method, response):
    """The response's status is documented for the operation and its body fits the schema."""
    documented = spec["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, (path, method, response.status_code)
    content = documented[str(response.status_code)]["content"]
    assert response.mimetype in content
    schema = {**content[response.mimetype]["schema"], "components": spec["components"]}
    Draft202012Validator(schema).validate(response.get_json())
    for header in documented[str(response.status_code)].get("headers", {}):
        assert header in response.headers, header


# --- tokens ------------------------------------------------------------------------------------


def test_the_cli_prints_a_token_once_and_stores_only_its_hash(fresh_database, make_app):
    app = make_app(DATABASE_URL=fresh_database)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["dsr", "create-api-token", "support-tool"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("dsr_") and len(secret) > 40
    with app.app_context(), get_db(app).transaction() as session:
        row = session.exec(select(ApiToken)).one()
        assert row.name == "support-tool"
        assert row.token_hash != secret and secret not in row.token_hash
        assert secret.startswith(row.prefix)
        assert apitokens.authenticate(session, secret) is not None
    listing = runner.invoke(args=["dsr", "list-api-tokens"])
    assert "support-tool" in listing.output and secret not in listing.output
    again = runner.invoke(args=["dsr", "create-api-token", "support-tool"])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(args=["dsr", "create-api-token", "has space"])
    assert bad.exit_code == 1
    revoked = runner.invoke(args=["dsr", "revoke-api-token", "support-tool"])
    assert revoked.exit_code == 0
    with app.app_context(), get_db(app).transaction() as session:
        assert apitokens.authenticate(session, secret) is None
    assert runner.invoke(args=["dsr", "revoke-api-token", "support-tool"]).exit_code == 1
    assert runner.invoke(args=["dsr", "revoke-api-token", "nobody"]).exit_code == 1
    assert "revoked" in runner.invoke(args=["dsr", "list-api-tokens"]).output
    with app.app_context(), get_db(app).transaction() as session:
        actions = [e.action for e in audit.iter_events(session)]
    assert actions == ["api_token.created", "api_token.revoked"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer dsr_not-a-real-token", "Basic dXNlcjpwdw==", "dsr_abc"],
)
def test_a_missing_or_unknown_token_gets_401(client, db, spec, header):
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/requests", json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="dsr"'
    conforms(spec, "/api/v1/requests", "post", response)
    got = client.get("/api/v1/requests/DSR-2026-000001", headers=headers)
    assert got.status_code == 401
    conforms(spec, "/api/v1/requests/{reference}", "get", got)
    assert all_requests(db) == []


def test_a_revoked_token_gets_401_at_once(client, db, token):
    apitokens.revoke(db, "customer-app", actor=Actor.system("test"))
    db.commit()
    assert post(client, BODY, token).status_code == 401


# --- filing ------------------------------------------------------------------------------------


def test_filing_returns_201_with_reference_due_date_and_status_link(
    app, client, db, smtp, spec, token, frozen_time
):
    frozen_time(NOW)
    response = post(client, BODY, token)
    assert response.status_code == 201, response.get_json()
    conforms(spec, "/api/v1/requests", "post", response)
    body = response.get_json()
    [request] = all_requests(db)
    assert body == {
        "reference": request.reference,
        "status": "unverified",
        "right": "erasure",
        "received_at": "2026-03-05T09:00:00Z",
        "due_at": "2026-04-07T22:00:00Z",  # 24:00 Stockholm summer time
        "due_date": "2026-04-07",
        "status_url": body["status_url"],
    }
    assert body["status_url"].startswith("http://dsr.test/status/")
    assert response.headers["Location"] == f"/api/v1/requests/{request.reference}"
    assert request.channel == Channel.api and request.api_token_id is not None
    assert request.due_legal == date(2026, 4, 7)
    [created] = events(db, request, "request.created")
    assert created.actor_label == "api:customer-app"
    # The subject still confirms the address, as on the web.
    [message] = deliver(app, db, smtp, 1)
    assert code_in(message) and "Bekräfta din e-postadress" in text_body(message)
    assert client.get(body["status_url"].removeprefix("http://dsr.test")).status_code == 200


def test_a_system_that_authenticated_the_subject_files_a_verified_request(
    app, client, db, smtp, token
):
    body = {**BODY, "identity_verified_by": "BankID-inloggning i appen", "language": "en"}
    response = post(client, body, token)
    assert response.status_code == 201
    assert response.get_json()["status"] == "verified"
    [request] = all_requests(db)
    assert request.assurance == AssuranceLevel.email_verified
    assert request.assurance_method == "api:customer-app"
    assert request.assurance_note == "BankID-inloggning i appen"
    assert request.language == "en"
    [message] = deliver(app, db, smtp, 1)
    assert "Confirm your email address" not in text_body(message)
    assert message["Subject"].startswith("We have received your request")


def test_a_request_received_earlier_keeps_its_date(client, db, token, frozen_time):
    frozen_time(NOW)
    response = post(client, {**BODY, "received_at": "2026-01-31T23:30:00Z"}, token)
    assert response.status_code == 201
    assert response.get_json()["due_date"] == "2026-03-02"  # LEGAL.md A6
    [request] = all_requests(db)
    assert request.received_at == datetime.fromisoformat("2026-01-31T23:30:00+00:00")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"right", "subject"}),
        ({**BODY, "right": "everything"}, {"right"}),
        ({**BODY, "subject": {"email": "nope", "name": ""}}, {"subject.email", "subject.name"}),
        (
            {**BODY, "subject": {**BODY["subject"], "personnummer": "640823-3235"}},
            {"subject.personnummer"},
        ),
        ({**BODY, "subject": {**BODY["subject"], "shoe_size": 42}}, {"subject.shoe_size"}),
        ({**BODY, "details": {"scope": "specific"}}, {"details.data_to_erase"}),
        ({**BODY, "details": {"scope": "everything", "colour": "blue"}}, {"details.colour"}),
        ({**BODY, "details": ["everything"]}, {"details"}),
        ({**BODY, "details": {"scope": 7}}, {"details.scope"}),
        ({**BODY, "received_at": "2026-03-06T10:00:00+01:00"}, {"received_at"}),
        ({**BODY, "received_at": "2026-03-05T09:00:00"}, {"received_at"}),
        ({**BODY, "received_at": "yesterday"}, {"received_at"}),
        ({**BODY, "identity_verified_by": ""}, {"identity_verified_by"}),
        ({**BODY, "language": "de"}, {"language"}),
        ({**BODY, "subject": {**BODY["subject"], "name": "A\x00"}}, {"subject.name"}),
        ({**BODY, "extra": 1}, {"extra"}),
        ("a string", {"body"}),
        (None, {"body"}),
    ],
)
def test_invalid_input_gets_422_with_every_field_named(
    client, db, spec, token, frozen_time, body, errors
):
    frozen_time(NOW)
    response = post(client, body, token)
    assert response.status_code == 422
    conforms(spec, "/api/v1/requests", "post", response)
    assert set(response.get_json()["errors"]) == errors
    assert all_requests(db) == [] and queued(db) == []


def test_error_messages_are_in_english(client, token):
    response = post(client, {**BODY, "subject": {"email": "x", "name": "A"}}, token)
    assert response.get_json()["errors"] == {
        "subject.email": "Enter an email address like name@example.se."
    }


def test_a_body_that_is_not_json_gets_422(client, db, token):
    response = client.post(
        "/api/v1/requests", data="right=erasure", headers=auth(token), content_type="text/plain"
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "body": "Send a JSON object (Content-Type: application/json)."
    }


def test_a_duplicate_gets_409_with_the_reference_only_for_the_system_that_filed_it(
    app, client, db, smtp, spec, token
):
    first = post(client, BODY, token).get_json()
    again = post(client, BODY, token)
    assert again.status_code == 409
    conforms(spec, "/api/v1/requests", "post", again)
    assert again.get_json()["reference"] == first["reference"]
    # A retry by the same system does not email the subject again.
    assert len(queued(db)) == 1
    _row, other = apitokens.create(db, "support-tool", actor=Actor.system("test"))
    db.commit()
    elsewhere = post(client, BODY, other)
    assert elsewhere.status_code == 409
    assert "reference" not in elsewhere.get_json()
    assert [m.kind for m in queued(db)] == ["acknowledgement", "existing_request"]
    assert len(all_requests(db)) == 1


def test_the_api_needs_no_csrf_token_and_sets_no_cookie(client, token):
    response = post(client, BODY, token)
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers


# --- following ---------------------------------------------------------------------------------


def test_a_system_follows_the_requests_it_filed(client, db, spec, token, frozen_time):
    frozen_time(NOW)
    reference = post(client, BODY, token).get_json()["reference"]
    response = client.get(f"/api/v1/requests/{reference}", headers=auth(token))
    assert response.status_code == 200
    conforms(spec, "/api/v1/requests/{reference}", "get", response)
    body = response.get_json()
    assert body["status"] == "unverified" and body["channel"] == "api"
    assert body["due_date"] == body["first_due_date"] == "2026-04-07"
    assert (body["extended"], body["verified"], body["assurance"]) == (False, False, "none")
    assert [e["event"] for e in body["timeline"]] == ["request.created"]
    assert body["timeline"][0]["description"] == "We received your request."
    assert "subject" not in body and "anna" not in response.get_data(as_text=True)


def test_a_system_cannot_read_requests_it_did_not_file(client, db, spec, token, make_request):
    web = make_request(right=Right.access)
    _row, other = apitokens.create(db, "support-tool", actor=Actor.system("test"))
    db.commit()
    theirs = post(client, BODY, other).get_json()["reference"]
    for reference in (web.reference, theirs, "DSR-2099-999999", "garbage", "DSR-2026-00000\x00"):
        response = client.get(f"/api/v1/requests/{reference}", headers=auth(token))
        assert response.status_code == 404
        assert response.get_json() == {
            "errors": {"reference": "No request with this reference was filed with this token."}
        }
    conforms(spec, "/api/v1/requests/{reference}", "get", response)


def test_reading_does_not_change_anything(client, db, token):
    reference = post(client, BODY, token).get_json()["reference"]
    row = db.exec(select(ApiToken)).one()
    used = row.last_used_at
    events_before = len(list(audit.iter_events(db)))
    client.get(f"/api/v1/requests/{reference}", headers=auth(token))
    db.expire_all()
    assert db.exec(select(ApiToken)).one().last_used_at == used
    assert len(list(audit.iter_events(db))) == events_before


def test_a_request_verified_later_shows_it(client, db, token):
    reference = post(client, BODY, token).get_json()["reference"]
    [request] = all_requests(db)
    from dsr import identity

    identity.mark_email_verified(db, request, actor=Actor.subject(), now=utcnow())
    db.commit()
    body = client.get(f"/api/v1/requests/{reference}", headers=auth(token)).get_json()
    assert body["status"] == RequestStatus.verified.value and body["verified"] is True
    assert [e["event"] for e in body["timeline"]] == ["request.created", "request.verified"]


# --- the document ------------------------------------------------------------------------------


def test_the_openapi_document_is_public_and_names_every_operation(client, spec):
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]) == {
        "/api/v1/requests",
        "/api/v1/requests/{reference}",
        "/api/v1/openapi.json",
    }
    Draft202012Validator.check_schema(
        {**spec["components"]["schemas"]["NewRequest"], "components": spec["components"]}
    )


def test_every_documented_response_is_one_the_server_gives(spec):
    """The tests above produce each documented (operation, status); this keeps them honest."""
    documented = {
        (path, method, status)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
    }
    assert documented == {
        ("/api/v1/requests", "post", "201"),  # test_filing_returns_201...
        ("/api/v1/requests", "post", "401"),  # test_a_missing_or_unknown_token_gets_401
        ("/api/v1/requests", "post", "409"),  # test_a_duplicate_gets_409...
        ("/api/v1/requests", "post", "422"),  # test_invalid_input_gets_422...
        ("/api/v1/requests/{reference}", "get", "200"),  # test_a_system_follows...
        ("/api/v1/requests/{reference}", "get", "401"),
        ("/api/v1/requests/{reference}", "get", "404"),  # test_a_system_cannot_read...
        ("/api/v1/openapi.json", "get", "200"),
    }


def test_valid_bodies_from_the_documents_examples_are_accepted(client, db, spec, token):
    """Every right's details, as the document describes them, are filed."""
    from tests.intake_helpers import VALID_DETAILS

    for index, right in enumerate(Right):
        body = {
            "right": right.value,
            "subject": {"email": f"person{index}@example.se", "name": "Person"},
            "details": VALID_DETAILS[right],
        }
        Draft202012Validator(
            {"$ref": "#/components/schemas/NewRequest", "components": spec["components"]}
        ).validate(body)
        response = post(client, body, token)
        assert response.status_code == 201, response.get_json()
