"""Assurance levels: what each right needs, staff checks, personnummer matches."""

import pytest

from dsr import audit, crypto, identity
from dsr.audit import Actor
from dsr.models import AssuranceLevel, Request, RequestStatus, Right
from tests.intake_helpers import events

REQUIRED = {
    Right.access: AssuranceLevel.email_verified,
    Right.portability: AssuranceLevel.email_verified,
    Right.erasure: AssuranceLevel.email_verified,
    Right.rectification: AssuranceLevel.email_verified,
    Right.human_review: AssuranceLevel.email_verified,
    Right.restriction: AssuranceLevel.none,
    Right.objection: AssuranceLevel.none,
    Right.consent_withdrawal: AssuranceLevel.none,
}


def test_erasure_and_disclosure_need_at_least_a_confirmed_address(db):
    assert {right: identity.required_assurance(right) for right in Right} == REQUIRED


def profile_with(tmp_path, identity_table):
    """The shipped Kliently profile plus an [identity] table."""
    from dsr.profiles import PROFILE_DIR

    path = tmp_path / "with-identity.toml"
    path.write_text((PROFILE_DIR / "kliently.toml").read_text() + "\n" + identity_table)
    return str(path)


def test_a_profile_may_ask_for_more(make_app, tmp_path):
    app = make_app(
        PROFILE=profile_with(
            tmp_path,
            '[identity.required]\naccess = "staff_verified"\nobjection = "email_verified"\n',
        )
    )
    with app.app_context():
        assert identity.required_assurance(Right.access) == AssuranceLevel.staff_verified
        assert identity.required_assurance(Right.objection) == AssuranceLevel.email_verified
        assert identity.required_assurance(Right.erasure) == AssuranceLevel.email_verified
        assert identity.required_assurance(Right.restriction) == AssuranceLevel.none


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('erasure = "none"', "identity.required.erasure: cannot ask for less than the default"),
        ('access = "passport"', "identity.required.access: unknown assurance level 'passport'"),
        ('shopping = "email_verified"', "identity.required.shopping: unknown right"),
    ],
)
def test_a_profile_that_asks_for_less_or_misspells_is_refused(tmp_path, table, problem):
    from dsr.profiles import ProfileError, load_profile

    with pytest.raises(ProfileError, match=problem):
        load_profile(profile_with(tmp_path, f"[identity.required]\n{table}\n"))


def test_an_unreadable_identity_table_falls_back_to_the_defaults(app, db, monkeypatch):
    """Read defensively: whatever ends up in the profile, the floor holds."""
    from dsr.profiles import current_profile

    monkeypatch.setitem(current_profile().extra, "identity", {"required": {"erasure": "none"}})
    assert identity.required_assurance(Right.erasure) == AssuranceLevel.email_verified
    monkeypatch.setitem(current_profile().extra, "identity", {"required": {"access": "?"}})
    assert identity.required_assurance(Right.access) == AssuranceLevel.email_verified
    monkeypatch.setitem(current_profile().extra, "identity", "strict")
    assert {right: identity.required_assurance(right) for right in Right} == REQUIRED


def test_meets_compares_levels_of_verified_requests_only(db, make_request):
    request = make_request()
    assert identity.meets(request, AssuranceLevel.none)
    assert not identity.meets(request, AssuranceLevel.email_verified)
    identity.mark_email_verified(db, request, actor=Actor.subject())
    assert identity.meets(request, AssuranceLevel.email_verified)
    assert not identity.meets(request, AssuranceLevel.personnummer_matched)


def staff_actor(make_staff):
    return Actor.staff(make_staff("handler"))


def test_a_staff_check_records_method_and_note_and_verifies(db, make_request, make_staff):
    request = make_request()
    actor = staff_actor(make_staff)
    identity.record_staff_check(
        db,
        request,
        method="known_contact",
        note="Ringde upp 070-123 45 67 som finns i kundregistret.",
        actor=actor,
    )
    db.commit()
    assert request.assurance == AssuranceLevel.staff_verified
    assert request.assurance_method == "known_contact"
    assert request.assurance_note.startswith("Ringde upp")
    assert request.status == RequestStatus.verified and request.verified_at is not None
    assert identity.meets(request, AssuranceLevel.staff_verified)
    [check] = events(db, request, "identity.checked_by_staff")
    assert not check.public and check.payload == {"method": "known_contact"}
    [verified] = events(db, request, "request.verified")
    assert verified.public
    assert audit.verify_chain(db) is None


def test_a_staff_check_needs_a_method_and_a_note(db, make_request, make_staff):
    request = make_request()
    actor = staff_actor(make_staff)
    with pytest.raises(ValueError, match="method"):
        identity.record_staff_check(db, request, method="", note="x", actor=actor)
    with pytest.raises(ValueError, match="note"):
        identity.record_staff_check(db, request, method="other", note=" ", actor=actor)
    assert request.assurance == AssuranceLevel.none


def test_a_staff_check_on_a_request_in_progress_keeps_its_status(db, make_request, make_staff):
    request = make_request(status=RequestStatus.in_progress)
    identity.record_staff_check(
        db, request, method="id_document_seen", note="Körkort visat.", actor=staff_actor(make_staff)
    )
    assert request.status == RequestStatus.in_progress
    assert events(db, request, "request.verified") == []


def with_pnr(make_request, **fields):
    digits = "196408233234"
    return make_request(
        subject_pnr_encrypted=crypto.encrypt(digits, "pnr"),
        subject_pnr_hmac=crypto.keyed_hash(digits, "pnr"),
        subject_pnr_masked="19640823-****",
        **fields,
    )


def test_a_personnummer_match_raises_the_level_but_does_not_verify(db, make_request):
    request = with_pnr(make_request)
    assert identity.mark_personnummer_matched(
        db, request, source="crm", actor=Actor.system("sources")
    )
    assert request.assurance == AssuranceLevel.personnummer_matched
    assert request.assurance_method == "personnummer:crm"
    assert request.status == RequestStatus.unverified
    assert not identity.meets(request, AssuranceLevel.email_verified)
    # Confirming the address later verifies it and keeps the higher level.
    identity.mark_email_verified(db, request, actor=Actor.subject())
    assert request.assurance == AssuranceLevel.personnummer_matched
    assert identity.meets(request, AssuranceLevel.personnummer_matched)
    [event] = events(db, request, "identity.personnummer_matched")
    assert event.payload == {"source": "crm"}


def test_a_personnummer_match_never_lowers_a_staff_check(db, make_request, make_staff):
    request = with_pnr(make_request)
    identity.record_staff_check(
        db, request, method="other", note="Känd kund.", actor=staff_actor(make_staff)
    )
    assert not identity.mark_personnummer_matched(
        db, request, source="crm", actor=Actor.system("sources")
    )
    assert request.assurance == AssuranceLevel.staff_verified


def test_a_request_without_personnummer_cannot_be_matched(db, make_request):
    with pytest.raises(ValueError):
        identity.mark_personnummer_matched(
            db, make_request(), source="crm", actor=Actor.system("sources")
        )


def test_confirming_the_address_of_a_closed_request_does_not_reopen_it(db, make_request):
    from dsr.db import utcnow

    request = make_request(status=RequestStatus.expired, closed_at=utcnow())
    identity.mark_email_verified(db, request, actor=Actor.subject())
    assert request.status == RequestStatus.expired
    assert isinstance(request, Request)
