"""Matching the personnummer a subject gave against the customer record their email leads to."""

import pytest
from sqlmodel import select

from dsr.models import AssuranceLevel, AuditEvent, Right
from dsr.sources import matching
from tests.rights_support import ASTRID_PNR, HANDLER, demo_profile, subject_request

OTHER_MARIA_PNR = "197010632391"  # the second Maria Andersson's samordningsnummer


@pytest.fixture
def profile(backend, databases, tmp_path):
    return demo_profile("default", backend, databases, tmp_path)


def events(db, request):
    return [e for e in db.exec(select(AuditEvent).where(AuditEvent.request_id == request.id))]


def test_the_number_on_the_customer_record_of_the_verified_email_matches(
    app, db, profile, tmp_path
):
    request = subject_request(db, Right.access, personnummer=ASTRID_PNR)
    result = matching.match_personnummer(
        db, request, profile, data_dir=str(tmp_path), actor=HANDLER
    )
    assert result.outcome == matching.MatchOutcome.matched and result.source == "kundsystem"
    assert request.assurance == AssuranceLevel.personnummer_matched
    assert "identity.personnummer_matched" in [e.action for e in events(db, request)]


def test_another_persons_number_is_not_a_match(app, db, profile, tmp_path):
    request = subject_request(
        db, Right.access, subject_email="maria.andersson@example.com", personnummer=OTHER_MARIA_PNR
    )
    result = matching.match_personnummer(
        db, request, profile, data_dir=str(tmp_path), actor=HANDLER
    )
    assert result.outcome == matching.MatchOutcome.different
    assert request.assurance == AssuranceLevel.email_verified
    [event] = [e for e in events(db, request) if e.action == "identity.personnummer_not_matched"]
    assert event.payload == {"outcome": "different"}
    assert OTHER_MARIA_PNR not in str(event.payload)


def test_an_email_without_customer_record_has_nothing_to_match(app, db, profile, tmp_path):
    request = subject_request(
        db, Right.access, subject_email="nils.nilsson@example.com", personnummer="195801012393"
    )
    result = matching.match_personnummer(
        db, request, profile, data_dir=str(tmp_path), actor=HANDLER
    )
    assert result.outcome == matching.MatchOutcome.no_customer


def test_matching_waits_for_a_confirmed_email(app, db, profile, tmp_path):
    request = subject_request(
        db, Right.access, personnummer=ASTRID_PNR, assurance=AssuranceLevel.none
    )
    with pytest.raises(matching.MatchRefused):
        matching.match_personnummer(db, request, profile, data_dir=str(tmp_path), actor=HANDLER)


def test_handlers_match_from_the_request_page(app, client, login_as, db, profile):
    from tests.rights_support import profile_in

    login_as("handler")
    request = subject_request(db, Right.access, personnummer=ASTRID_PNR)
    db.commit()
    with profile_in(app, profile):
        page = client.get(f"/staff/requests/{request.reference}").get_data(as_text=True)
        assert "Matcha mot våra kundregister" in page
        response = client.submit(
            f"/staff/requests/{request.reference}/match-personnummer", follow_redirects=True
        )
    assert "Personnumret stämmer med kundposten" in response.get_data(as_text=True)
    db.refresh(request)
    assert request.assurance == AssuranceLevel.personnummer_matched
