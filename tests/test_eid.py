"""e-legitimation for subjects, through a real OpenID provider (oidc-provider on loopback).

The subject's browser is the Flask test client here, and ``requests`` at the provider: the
status page's button, the provider's sign-in page, the way back, as a browser goes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from dsr import crypto, identity
from dsr.models import AssuranceLevel, AuditEvent, OidcLogin, Request, Right
from tests.oidc import come_back
from tests.rights_support import ASTRID_PNR, subject_request

MARIA_PNR = "198503120423"


@pytest.fixture
def eid_on(app: Any, oidc_provider: Any) -> Iterator[Any]:
    """The shared app with ``[eid]`` pointing at the test provider, for this test."""
    settings = oidc_provider.eid_settings()
    before = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    app.extensions.pop("dsr.oidc", None)
    yield oidc_provider
    app.config.update(before)
    app.extensions.pop("dsr.oidc", None)


def status_token(db: Any, request: Request) -> str:
    token = identity.issue_status_token(db, request)
    db.commit()
    return token


def start(client: Any, token: str) -> str:
    response = client.submit(f"/status/{token}/eid")
    assert response.status_code == 303, response.get_data(as_text=True)
    return str(response.headers["Location"])


def events(db: Any, action_prefix: str = "") -> list[AuditEvent]:
    return [
        e
        for e in db.scalars(select(AuditEvent).order_by(col(AuditEvent.seq)))
        if e.action.startswith(action_prefix)
    ]


def test_a_subject_identifies_with_eid_and_the_request_carries_the_proven_number(
    db, client, eid_on
):
    request = subject_request(db, Right.access)
    token = status_token(db, request)
    page = client.get(f"/status/{token}").get_data(as_text=True)
    assert f'action="/status/{token}/eid"' in page

    url = start(client, token)
    assert url.startswith(eid_on.issuer + "/auth?")
    for part in ("code_challenge_method=S256", "prompt=login", "nonce=", "state="):
        assert part in url
    assert "naturalPersonNumber" in url

    back = come_back(client, eid_on.sign_in(url, "astrid"))
    assert back.status_code == 302
    assert back.headers["Location"] == f"/status/{token}#eid"

    db.expire_all()
    request = db.get(Request, request.id)
    assert request.assurance == AssuranceLevel.eid_verified
    assert request.assurance_method == "e-legitimation"
    assert request.subject_pnr_masked == "19640823-****"
    assert crypto.decrypt(request.subject_pnr_encrypted, crypto.PNR_LABEL) == ASTRID_PNR
    assert request.subject_pnr_hmac == crypto.keyed_hash(ASTRID_PNR, crypto.PNR_LABEL)
    verified = events(db, "identity.eid_verified")[-1]
    assert verified.request_id == request.id and verified.public
    assert verified.payload["personnummer"] == "added"
    assert ASTRID_PNR not in str(verified.payload)
    login = db.scalars(select(OidcLogin).where(OidcLogin.request_id == request.id)).one()
    assert login.outcome == "succeeded"
    # The page no longer offers the step; it says it was taken.
    page = client.get(f"/status/{token}").get_data(as_text=True)
    assert f'action="/status/{token}/eid"' not in page
    assert re.search(r'id="eid"', page)


# --- failures: each a clear page and an audit event, never a 500 ------------------------------


def failure(db: Any) -> AuditEvent:
    found = events(db, "eid.failed")
    assert found, "no eid.failed event"
    return found[-1]


def assert_failed(db, response, *, status: int, heading: str, reason: str, request=None):
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert f"<h1>{heading}</h1>" in html
    event = failure(db)
    assert event.payload["reason"] == reason
    assert event.actor_type == "subject"
    assert event.request_id == (request.id if request is not None else None)
    if request is not None:
        db.expire_all()
        again = db.get(Request, request.id)
        assert again.assurance == AssuranceLevel.email_verified
        assert again.subject_pnr_hmac is None
    return html


@pytest.fixture
def started(db, client, eid_on):
    """A subject's request with the identification started: (request, token, provider URL)."""
    request = subject_request(db, Right.access)
    token = status_token(db, request)
    return request, token, start(client, token)


def test_cancelling_at_the_provider_changes_nothing(db, client, eid_on, started):
    request, token, url = started
    response = come_back(client, eid_on.sign_in(url, None))
    html = assert_failed(
        db,
        response,
        status=200,
        heading="Du avbröt legitimeringen",
        reason="cancelled",
        request=request,
    )
    assert f'href="/status/{token}#eid"' in html


def test_a_used_identification_cannot_be_replayed(db, client, eid_on, started):
    request, token, url = started
    callback = eid_on.sign_in(url, "astrid")
    assert come_back(client, callback).status_code == 302
    replay = come_back(client, callback)
    html = replay.get_data(as_text=True)
    assert replay.status_code == 400
    assert "<h1>Den här legitimeringen är redan använd</h1>" in html
    assert failure(db).payload["reason"] == "replayed_state"
    assert failure(db).request_id == request.id
    # The first one counts, once: the second changed nothing and showed no way to the request.
    assert token not in html
    assert len(events(db, "identity.eid_verified")) == 1


def test_an_unknown_state_is_refused(db, client, eid_on):
    response = come_back(client, "http://dsr.test/eid/callback?state=made-up&code=whatever")
    html = assert_failed(
        db,
        response,
        status=400,
        heading="Vi känner inte igen den här legitimeringen",
        reason="unknown_state",
    )
    assert "/status/" not in html


def test_an_identification_finished_in_another_browser_is_refused(db, client, app, eid_on, started):
    request, token, url = started
    callback = eid_on.sign_in(url, "astrid")
    other = app.test_client()
    response = come_back(other, callback)
    html = assert_failed(
        db,
        response,
        status=400,
        heading="Legitimeringen påbörjades i en annan webbläsare",
        reason="other_browser",
        request=request,
    )
    assert token not in html
    # Nor can the browser that started it use it any more.
    assert come_back(client, callback).status_code == 400


def test_a_token_for_another_nonce_is_refused(db, client, eid_on, started):
    # Someone who saw the way to the provider sends the subject's state with a nonce of
    # their own: the provider signs a token with that nonce, and it must not count.
    request, token, url = started
    forged = re.sub(r"nonce=[^&]+", "nonce=chosen-by-someone-else", url)
    response = come_back(client, eid_on.sign_in(forged, "maria"))
    assert_failed(
        db,
        response,
        status=502,
        heading="Legitimeringen fungerade inte",
        reason="wrong_nonce",
        request=request,
    )


def test_a_missing_personnummer_claim_is_refused(db, client, eid_on, started):
    request, token, url = started
    response = come_back(client, eid_on.sign_in(url, "anonymous"))
    assert_failed(
        db,
        response,
        status=403,
        heading="E-legitimationen gav oss inget personnummer",
        reason="missing_claim",
        request=request,
    )


def test_an_identification_that_took_too_long_is_refused(db, client, eid_on, started, frozen_time):
    from datetime import UTC, datetime, timedelta

    request, token, url = started
    callback = eid_on.sign_in(url, "astrid")
    frozen_time(datetime.now(UTC) + timedelta(minutes=11))
    response = come_back(client, callback)
    assert_failed(
        db,
        response,
        status=400,
        heading="Legitimeringen tog för lång tid",
        reason="expired_state",
        request=request,
    )


def test_a_request_closed_meanwhile_is_not_identified(db, client, eid_on, started):
    from dsr import workflow
    from dsr.audit import Actor

    request, token, url = started
    workflow.withdraw(db, db.get(Request, request.id), note="By phone", actor=Actor.subject())
    db.commit()
    response = come_back(client, eid_on.sign_in(url, "astrid"))
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "<h1>Din begäran är avslutad</h1>" in html
    assert failure(db).payload["reason"] == "request_closed"
    db.expire_all()
    assert db.get(Request, request.id).subject_pnr_hmac is None


# --- failures the provider produces -----------------------------------------------------------


@pytest.fixture
def provider_with(app, start_provider):
    """The shared app's ``[eid]`` pointed at a provider started with ``options`` (faults)."""
    before = {
        key: app.config.get(key)
        for key in ("EID_ISSUER", "EID_CLIENT_ID", "EID_CLIENT_SECRET", "EID_ACR_VALUES")
    }

    def use(*options: str, **settings: Any) -> Any:
        provider = start_provider(*options)
        app.config.update(provider.eid_settings(**settings))
        app.extensions.pop("dsr.oidc", None)
        return provider

    yield use
    app.config.update(before)
    app.extensions.pop("dsr.oidc", None)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (("--jwks", "same-kid-other-key"), "bad_signature"),
        (("--jwks", "other-key"), "unknown_key"),
        (("--id-token-audience", "some-other-service"), "wrong_audience"),
    ],
    ids=["bad-signature", "unknown-kid", "wrong-audience"],
)
def test_a_token_that_fails_validation_is_refused(db, client, provider_with, options, reason):
    provider = provider_with(*options)
    request = subject_request(db, Right.access)
    token = status_token(db, request)
    response = come_back(client, provider.sign_in(start(client, token), "astrid"))
    html = assert_failed(
        db,
        response,
        status=502,
        heading="Legitimeringen fungerade inte",
        reason=reason,
        request=request,
    )
    assert f'href="/status/{token}#eid"' in html


def test_an_expired_id_token_is_refused(db, client, provider_with, frozen_time):
    from datetime import UTC, datetime, timedelta

    provider = provider_with("--id-token-ttl", "30")
    request = subject_request(db, Right.access)
    token = status_token(db, request)
    callback = provider.sign_in(start(client, token), "astrid")
    # Three minutes on: the sign-in is still fresh, the 30-second token is not.
    frozen_time(datetime.now(UTC) + timedelta(minutes=3))
    response = come_back(client, callback)
    assert_failed(
        db,
        response,
        status=502,
        heading="Legitimeringen fungerade inte",
        reason="expired_token",
        request=request,
    )


def test_an_identification_below_the_level_asked_for_is_refused(db, client, provider_with):
    provider = provider_with(EID_ACR_VALUES="http://id.elegnamnden.se/loa/1.0/loa4")
    request = subject_request(db, Right.access)
    token = status_token(db, request)
    url = start(client, token)
    assert "acr_values=http" in url
    response = come_back(client, provider.sign_in(url, "astrid"))
    assert_failed(
        db,
        response,
        status=403,
        heading="Legitimeringen var inte tillräckligt stark",
        reason="wrong_acr",
        request=request,
    )


def test_the_level_asked_for_is_accepted(db, client, provider_with):
    provider = provider_with(EID_ACR_VALUES="http://id.elegnamnden.se/loa/1.0/loa3")
    request = subject_request(db, Right.access)
    token = status_token(db, request)
    assert come_back(client, provider.sign_in(start(client, token), "astrid")).status_code == 302
    db.expire_all()
    request = db.get(Request, request.id)
    assert request.assurance == AssuranceLevel.eid_verified
    assert "loa3" in request.assurance_note


@pytest.mark.parametrize("fault", ["wrong-issuer", "not-json"])
def test_an_invalid_discovery_document_is_a_clear_page(db, client, provider_with, fault):
    provider_with("--discovery", fault)
    request = subject_request(db, Right.access)
    token = status_token(db, request)
    response = client.submit(f"/status/{token}/eid")
    assert_failed(
        db,
        response,
        status=502,
        heading="Legitimeringen fungerade inte",
        reason="discovery_invalid",
        request=request,
    )


def test_an_unreachable_provider_is_a_clear_page(db, client, app, eid_on):
    from tests.support import free_port

    app.config["EID_ISSUER"] = f"http://127.0.0.1:{free_port()}"
    request = subject_request(db, Right.access)
    token = status_token(db, request)
    response = client.submit(f"/status/{token}/eid")
    html = assert_failed(
        db,
        response,
        status=502,
        heading="Legitimeringen fungerade inte",
        reason="provider_unreachable",
        request=request,
    )
    assert f'href="/status/{token}#eid"' in html


def test_a_provider_that_rotated_its_keys_is_followed(db, client, provider_with, tmp_path):
    keys = tmp_path / "keys.json"
    provider = provider_with("--keys", str(keys))
    first = subject_request(db, Right.access)
    token = status_token(db, first)
    assert come_back(client, provider.sign_in(start(client, token), "astrid")).status_code == 302
    old_kid = json.loads(keys.read_text())[0]["kid"]

    # Same provider, same address: a new signing key in front of the old one.
    provider.restart("--rotate-key")
    new_kid = json.loads(keys.read_text())[0]["kid"]
    assert new_kid != old_kid
    second = subject_request(db, Right.access, subject_email="maria.andersson@example.com")
    token = status_token(db, second)
    assert come_back(client, provider.sign_in(start(client, token), "maria")).status_code == 302
    db.expire_all()
    assert db.get(Request, second.id).assurance == AssuranceLevel.eid_verified


# --- what the proven personnummer does ---------------------------------------------------------


def identify(client: Any, provider: Any, token: str, login: str) -> Any:
    return come_back(client, provider.sign_in(start(client, token), login))


@pytest.fixture
def shop(app, backend, databases, tmp_path):
    from tests.rights_support import demo_profile, profile_in

    with profile_in(app, demo_profile("default", backend, databases, tmp_path)) as profile:
        yield profile


def test_the_sources_are_searched_with_the_proven_personnummer(app, db, client, eid_on, shop):
    from dsr.sources.locate import identities_for_request, locate

    # Astrid typed her personnummer: a claim, not searched with, until something proves it.
    request = subject_request(db, Right.access, personnummer=ASTRID_PNR)
    token = status_token(db, request)
    before = identities_for_request(request)
    assert "personnummer" not in before.verified.masked()
    assert [k.value for k in before.unverified] == ["personnummer"]

    assert identify(client, eid_on, token, "astrid").status_code == 302
    db.expire_all()
    request = db.get(Request, request.id)
    assert request.assurance == AssuranceLevel.eid_verified
    assert events(db, "identity.eid_verified")[-1].payload["personnummer"] == "confirmed"
    after = identities_for_request(request)
    assert after.verified.masked()["personnummer"] == "19640823-****"
    found = locate(shop, after.verified, data_dir=app.config["DATA_DIR"])
    matched = {
        (table.name, field)
        for source in found.sources
        for table in source.tables
        for record in table.records
        for field in record.matched_on
    }
    assert ("customers", "personnummer") in matched
    assert ("credit_checks", "personnummer") in matched


def test_a_profile_requiring_eid_holds_the_plan_until_the_subject_identifies(
    app, db, client, eid_on, shop
):
    import dataclasses

    from dsr.rights import service
    from dsr.workflow import WorkflowError
    from tests.rights_support import HANDLER, profile_in

    requiring = dataclasses.replace(
        shop, extra={**shop.extra, "identity": {"required": {"access": "eid_verified"}}}
    )
    with profile_in(app, requiring):
        request = subject_request(db, Right.access)
        token = status_token(db, request)
        assert identity.required_assurance(Right.access) == AssuranceLevel.eid_verified
        page = client.get(f"/status/{token}").get_data(as_text=True)
        assert "Innan vi kan hantera begäran behöver vi veta säkert att det är du." in page

        first = service.make_plan(db, request, actor=HANDLER)
        with pytest.raises(WorkflowError, match="inte tillräckligt bekräftad"):
            service.approve(db, first, actor=HANDLER)

        assert identify(client, eid_on, token, "astrid").status_code == 302
        db.expire_all()
        request = db.get(Request, request.id)
        first = service.live_plan(db, request)
        # The plan was made with the email address alone: it must be made again.
        with pytest.raises(WorkflowError, match="identiteter har ändrats sedan planen gjordes"):
            service.approve(db, first, actor=HANDLER)
        second = service.make_plan(db, request, actor=HANDLER)
        assert second.plan["identities"]["personnummer"] == "19640823-****"
        service.approve(db, second, actor=HANDLER)
        assert second.state == "approved"


def test_a_different_typed_personnummer_warns_staff_and_nothing_is_merged(
    db, client, eid_on, login_as
):
    request = subject_request(db, Right.access, personnummer=MARIA_PNR)
    token = status_token(db, request)
    back = identify(client, eid_on, token, "astrid")
    assert back.status_code == 302
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "men med ett annat personnummer än det i din begäran" in page

    db.expire_all()
    request = db.get(Request, request.id)
    # The typed number stays; the proven one waits beside it; the level did not move.
    assert crypto.decrypt(request.subject_pnr_encrypted, crypto.PNR_LABEL) == MARIA_PNR
    assert crypto.decrypt(request.eid_pnr_encrypted, crypto.PNR_LABEL) == ASTRID_PNR
    assert request.eid_pnr_masked == "19640823-****"
    assert request.assurance == AssuranceLevel.email_verified
    from dsr.sources.locate import identities_for_request

    assert "personnummer" not in identities_for_request(request).verified.masked()
    mismatch = events(db, "identity.eid_mismatch")[-1]
    assert mismatch.request_id == request.id
    assert not events(db, "identity.eid_verified")
    # The status page does not offer the step again while staff decide.
    assert f'action="/status/{token}/eid"' not in client.get(f"/status/{token}").get_data(
        as_text=True
    )

    login_as("handler")
    staff_page = client.get(f"/staff/requests/{request.reference}").get_data(as_text=True)
    assert (
        "Personnumret som styrkts med e-legitimation skiljer sig från det i begäran." in staff_page
    )
    assert "Styrkt med e-legitimation: 19640823-****. I begäran: 19850312-****." in staff_page

    adopted = client.submit(
        f"/staff/requests/{request.reference}/eid-number/adopt",
        {"reason": "Called her: she mistyped the number on the form."},
    )
    assert adopted.status_code == 302
    db.expire_all()
    request = db.get(Request, request.id)
    assert crypto.decrypt(request.subject_pnr_encrypted, crypto.PNR_LABEL) == ASTRID_PNR
    assert request.subject_pnr_masked == "19640823-****"
    assert request.eid_pnr_encrypted is None and request.eid_pnr_masked is None
    assert request.assurance == AssuranceLevel.eid_verified
    adoption = events(db, "identity.eid_number_adopted")[-1]
    assert adoption.actor_type == "staff" and adoption.reason.startswith("Called her")


def test_staff_may_keep_the_typed_number_and_delete_the_proven_one(db, client, eid_on, login_as):
    request = subject_request(db, Right.access, personnummer=MARIA_PNR)
    token = status_token(db, request)
    assert identify(client, eid_on, token, "astrid").status_code == 302
    login_as("auditor")
    refused = client.submit(
        f"/staff/requests/{request.reference}/eid-number/discard", {"reason": "Not hers"}
    )
    assert refused.status_code == 403
    login_as("handler")
    kept = client.submit(
        f"/staff/requests/{request.reference}/eid-number/discard",
        {"reason": "A relative identified on her behalf; the request is hers."},
    )
    assert kept.status_code == 302
    db.expire_all()
    request = db.get(Request, request.id)
    assert crypto.decrypt(request.subject_pnr_encrypted, crypto.PNR_LABEL) == MARIA_PNR
    assert request.eid_pnr_encrypted is None and request.eid_pnr_masked is None
    assert request.assurance == AssuranceLevel.email_verified
    assert events(db, "identity.eid_number_discarded")[-1].actor_type == "staff"


def test_a_samordningsnummer_is_proven_too(db, client, eid_on):
    request = subject_request(db, Right.access, subject_email="m.andersson@example.net")
    token = status_token(db, request)
    assert identify(client, eid_on, token, "maria-samordning").status_code == 302
    db.expire_all()
    request = db.get(Request, request.id)
    assert request.assurance == AssuranceLevel.eid_verified
    assert crypto.decrypt(request.subject_pnr_encrypted, crypto.PNR_LABEL) == "197010632391"
    assert events(db, "identity.eid_verified")[-1].payload["coordination"] is True


def test_nothing_is_offered_before_the_email_is_confirmed_or_without_eid(
    db, client, app, oidc_provider
):
    from dsr.models import RequestStatus

    request = subject_request(
        db, Right.access, status=RequestStatus.unverified, assurance=AssuranceLevel.none
    )
    token = status_token(db, request)
    # Without [eid]: no section, and posting to the step leads back to the page.
    page = client.get(f"/status/{token}").get_data(as_text=True)
    assert "e-legitimation" not in page
    assert client.submit(f"/status/{token}/eid").headers["Location"] == f"/status/{token}"
    assert not events(db, "eid.")
    app.config.update(oidc_provider.eid_settings())
    try:
        page = client.get(f"/status/{token}").get_data(as_text=True)
        assert f'action="/status/{token}/eid"' not in page
        assert client.submit(f"/status/{token}/eid").headers["Location"] == f"/status/{token}"
    finally:
        app.config.update(EID_ISSUER="", EID_CLIENT_ID="", EID_CLIENT_SECRET="")


def test_staff_see_which_level_each_right_needs_and_what_the_request_reached(
    app, db, client, login_as, shop
):
    import dataclasses

    from tests.rights_support import profile_in

    requiring = dataclasses.replace(
        shop, extra={**shop.extra, "identity": {"required": {"access": "eid_verified"}}}
    )
    with profile_in(app, requiring):
        login_as("admin")
        config_page = client.get("/staff/admin/config").get_data(as_text=True)
        table = config_page.split('id="identity-h"')[1].split("</table>")[0]
        rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td>([^<]+)</td>', table))
        assert rows["Tillgång"] == "Legitimerad med e-legitimation"
        assert rows["Radering"] == "E-postadressen bekräftad"
        assert rows["Invändning"] == "Ej bekräftad"
        assert "Av ([eid] är inte inställt)" in config_page

        request = subject_request(db, Right.access)
        page = client.get(f"/staff/requests/{request.reference}").get_data(as_text=True)
        needed = page.split("Krävs för denna rättighet")[1].split("</dd>")[0]
        assert "Legitimerad med e-legitimation" in needed and "inte uppnådd än" in needed
        assert "Den här rättigheten kräver e-legitimation, som inte är inställd här" in page
