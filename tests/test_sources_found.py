"""What staff see of the sources: the found page for a request, and /healthz."""

import pytest

from dsr import accounts
from dsr.audit import Actor
from dsr.crypto import encrypt
from dsr.db import get_db
from dsr.demodata import ensure_demo_systems
from dsr.models import AssuranceLevel, StaffRole
from dsr.profiles import load_profile
from dsr.sources.locate import PNR_CRYPTO_LABEL
from tests.conftest import STAFF_PASSWORD
from tests.support import new_request


@pytest.fixture(scope="module")
def demo_app(make_app):
    """An app on the default profile with its demo customer system built."""
    app = make_app(PROFILE="default")
    ensure_demo_systems(load_profile("default"), app.config["DATA_DIR"], people=120)
    with app.app_context(), get_db(app).transaction() as session:
        accounts.create_staff(
            session,
            "found-handler@staff.test",
            StaffRole.handler,
            password=STAFF_PASSWORD,
            actor=Actor.system("test"),
        )
    return app


@pytest.fixture
def staff_client(demo_app):
    client = demo_app.test_client()
    response = client.submit(
        "/staff/login", {"email": "found-handler@staff.test", "password": STAFF_PASSWORD}
    )
    assert response.status_code == 302
    return client


def filed(app, **fields):
    with app.app_context(), get_db(app).transaction() as session:
        pnr = fields.pop("personnummer", None)
        if pnr:
            fields["subject_pnr_encrypted"] = encrypt(pnr, PNR_CRYPTO_LABEL)
        return new_request(session, **fields).reference


def test_the_page_shows_per_table_what_was_found(demo_app, staff_client):
    reference = filed(
        demo_app,
        subject_email="astrid.lindqvist@example.com",
        personnummer="196408233234",
        assurance=AssuranceLevel.personnummer_matched,
    )
    response = staff_client.get(f"/staff/requests/{reference}/found?lang=en")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for label in ("Kunder", "Beställningar", "Orderrader", "Betalningar", "Inloggningar"):
        assert label in html
    assert "Astrid" in html and "Lindqvist" in html
    # Staff pages show personnummer masked, the way lists do.
    assert "19640823-****" in html and "3234" not in html.replace("19640823-****", "")
    assert "via orders" in html
    assert "kept until" in html
    assert "Pärmar med reklamationer" in html  # the system to search by hand
    assert "could not be searched" not in html


def test_identities_not_yet_verified_are_not_searched_with(demo_app, staff_client):
    reference = filed(
        demo_app,
        subject_email="astrid.lindqvist@example.com",
        subject_phone="070-174 06 05",
        assurance=AssuranceLevel.email_verified,
    )
    html = staff_client.get(f"/staff/requests/{reference}/found?lang=en").get_data(as_text=True)
    assert "astrid.lindqvist@example.com" in html
    assert "not verified yet: not used" in html


def test_nothing_is_searched_before_verification(demo_app, staff_client):
    reference = filed(demo_app, subject_email="astrid.lindqvist@example.com")
    html = staff_client.get(f"/staff/requests/{reference}/found?lang=en").get_data(as_text=True)
    assert "Nothing was searched" in html
    assert "Lindqvist" not in html


def test_several_people_are_flagged_in_swedish_too(demo_app, staff_client):
    reference = filed(
        demo_app,
        subject_email="maria.andersson@example.com",
        subject_phone="+46701740622",
        assurance=AssuranceLevel.staff_verified,
    )
    html = staff_client.get(f"/staff/requests/{reference}/found").get_data(as_text=True)
    assert "Identiteterna matchar mer än en person" in html
    assert "customers:2" in html and "customers:3" in html


def test_a_source_that_cannot_be_searched_is_shown_as_a_problem(make_app):
    app = make_app(PROFILE="default")  # its demo system was never built
    with app.app_context(), get_db(app).transaction() as session:
        accounts.create_staff(
            session,
            "h@staff.test",
            StaffRole.handler,
            password=STAFF_PASSWORD,
            actor=Actor.system("test"),
        )
    reference = filed(
        app, subject_email="someone@example.com", assurance=AssuranceLevel.email_verified
    )
    client = app.test_client()
    client.submit("/staff/login", {"email": "h@staff.test", "password": STAFF_PASSWORD})
    html = client.get(f"/staff/requests/{reference}/found?lang=en").get_data(as_text=True)
    assert "The database could not be reached." in html
    assert "demo-default.sqlite3 does not exist" in html
    assert "The answer is not complete" in html


def test_the_page_needs_a_login_and_a_known_reference(demo_app, staff_client):
    reference = filed(demo_app, subject_email="x@example.com")
    anonymous = demo_app.test_client().get(f"/staff/requests/{reference}/found")
    assert anonymous.status_code == 302 and "/staff/login" in anonymous.headers["Location"]
    assert staff_client.get("/staff/requests/DSR-1999-000001/found").status_code == 404


def test_healthz_reports_each_source_without_details(demo_app, make_app):
    body = demo_app.test_client().get("/healthz").get_json()
    assert body["sources"] == {"kundsystem": {"status": "ok"}}
    missing = make_app(PROFILE="default").test_client().get("/healthz")
    assert missing.status_code == 200
    body = missing.get_json()
    assert body["sources"] == {"kundsystem": {"status": "error", "problem": "unreachable"}}
    assert "does not exist" not in missing.get_data(as_text=True)


def test_healthz_names_a_schema_that_no_longer_fits(make_app, tmp_path):
    app = make_app(PROFILE="default")
    ensure_demo_systems(load_profile("default"), app.config["DATA_DIR"], people=20)
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{app.config['DATA_DIR']}/demo-default.sqlite3")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE login_events"))
    engine.dispose()
    body = app.test_client().get("/healthz").get_json()
    assert body["sources"] == {"kundsystem": {"status": "error", "problem": "schema_mismatch"}}


def test_the_partial_is_fed_by_plain_data(demo_app):
    from flask import render_template

    from dsr.web.found import found_context

    with demo_app.test_request_context("/"):
        from dsr.sources.identities import Identities
        from dsr.sources.locate import RequestIdentities, locate

        identities = RequestIdentities(Identities.of(email="astrid.lindqvist@example.com"), (), ())
        result = locate(
            load_profile("default"), identities.verified, data_dir=demo_app.config["DATA_DIR"]
        )
        context = found_context(load_profile("default"), identities, result)
        assert context["record_count"] == result.record_count
        assert context["located_at"] == result.located_at
        html = render_template("staff/_found.html", found=context)
    assert "Kunder" in html
