"""Access (Art. 15): everything found, the Art. 15 information, redactions, streaming answer."""

import inspect
from datetime import timedelta

import pytest
from sqlmodel import select

from dsr.audit import AuditEvent
from dsr.models import AssuranceLevel, ManualTask, Request, RequestStatus, Right
from dsr.rights import service, steps
from dsr.rights.base import Environment
from dsr.workflow import WorkflowError
from tests.rights_support import (  # noqa: F401 - english is a fixture
    HANDLER,
    NOW,
    actions,
    demo_profile,
    english,
    profile_in,
    subject_request,
)

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def shop(app, db, backend, databases, tmp_path, frozen_time):
    frozen_time(NOW)
    with profile_in(app, demo_profile("default", backend, databases, tmp_path)) as profile:
        yield profile


def table(outcome_or_plan, name):
    return next(t for t in outcome_or_plan["tables"] if t["table"] == name)


def test_the_answer_holds_every_record_found_and_the_art_15_information(shop, db):
    request = subject_request(db, Right.access)
    row = service.make_plan(db, request, actor=HANDLER)
    found = {t["table"]: len(t["keys"]) for t in row.plan["tables"]}
    assert set(found) == {t.name for t in shop.sources[0].tables}
    assert all(count >= 1 for count in found.values())
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER)
    data = outcome.as_dict()
    assert data["record_count"] == sum(found.values())
    info = data["information"]
    assert info["tailored"] is True
    assert info["controller"]["name"] == "Exempelföretaget AB"
    purposes = {p["key"]: p for p in info["purposes"]}
    assert purposes["newsletter"]["basis"] == "consent"
    assert purposes["security"]["article"] == "6(1)(f)"
    assert purposes["purchase"]["retention"].startswith("Under köpet")
    assert {"contact", "orders", "payment", "technical"} <= {c["key"] for c in info["categories"]}
    # Recipients by name, transfers with their safeguard, the automated decision's logic.
    assert "Exempel Kredit AB" in [r["name"] for r in info["recipients"]]
    assert info["transfers"] == [
        {
            "recipient": "Mejlverktyg Inc.",
            "countries": ["US"],
            "safeguard": "EU:s standardavtalsklausuler (kommissionens beslut 2021/914) i personuppgiftsbiträdesavtalet",
        }
    ]
    (decision,) = info["automated_decisions"]
    assert "riskklassen" in decision["logic"] and decision["consequences"]
    assert info["source_of_data"].startswith("Kreditupplysningar")
    assert {r["article"] for r in info["rights"]} >= {"16", "17", "18", "21", "20", "7(3)", "22"}
    assert info["complaint"]["authority"] == "Integritetsskyddsmyndigheten (IMY)"
    assert info["complaint"]["address"] == "Box 8114, 104 20 Stockholm"

    # The records are read table by table, when the exports ask.
    answer = {t.content.table: t for t in outcome.answer_tables(Environment.current())}
    customers = answer["customers"].records()
    assert inspect.isgenerator(customers)
    (astrid,) = list(customers)
    assert astrid["values"]["first_name"] == "Astrid"
    assert astrid["values"]["personnummer"] == "19640823-3234"
    assert "password_hash" not in astrid["values"]
    assert len(list(answer["login_events"].records())) == found["login_events"]

    # A disclosure manifest in the audit log: what went out, not the data itself.
    (disclosed,) = db.exec(
        select(AuditEvent).where(
            AuditEvent.action == "access.disclosed", AuditEvent.request_id == request.id
        )
    ).all()
    assert {t["table"] for t in disclosed.payload["tables"]} == set(found)
    assert "Astrid" not in repr(disclosed.payload)
    # The manual system is searched by hand: a task, and the answer lists it.
    tasks = db.exec(select(ManualTask).where(ManualTask.request_id == request.id)).all()
    expected = {("locate", "Pärmar med reklamationer"), ("locate", "Mejlverktyg Inc.")}
    assert {(t.kind.value, t.target) for t in tasks} == expected
    assert {(t["kind"], t["target"]) for t in data["manual_tasks"]} == expected

    # Executing again produces nothing new.
    assert service.execute(db, row, actor=HANDLER).as_dict() == data
    assert actions(db, request).count("access.disclosed") == 1


def test_redactions_are_applied_logged_and_told(shop, db):
    request = subject_request(db, Right.access)
    row = service.make_plan(db, request, actor=HANDLER)
    messages = table(row.plan, "ticket_messages")["keys"]
    steps.redact(
        db,
        row,
        actor=HANDLER,
        source="kundsystem",
        table="ticket_messages",
        key=messages[0],
        column=None,
        reason="Written by another customer about their own order",
    )
    steps.redact(
        db,
        row,
        actor=HANDLER,
        source="kundsystem",
        table="ticket_messages",
        key=messages[1],
        column="body",
        reason="Names a staff member's private situation",
    )
    with pytest.raises(WorkflowError, match="Say why"):
        steps.redact(
            db,
            row,
            actor=HANDLER,
            source="kundsystem",
            table="ticket_messages",
            key=messages[2],
            column="body",
            reason=" ",
        )
    with pytest.raises(WorkflowError, match="not in the plan"):
        steps.redact(
            db,
            row,
            actor=HANDLER,
            source="kundsystem",
            table="ticket_messages",
            key=[999999],
            column=None,
            reason="x",
        )
    assert actions(db, request).count("access.redacted") == 2
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER)
    content = table(outcome.as_dict(), "ticket_messages")
    assert content["withheld"] == 1
    assert len(content["keys"]) == len(messages) - 1
    records = {
        tuple(r["key"]): r
        for t in outcome.answer_tables(Environment.current())
        if t.content.table == "ticket_messages"
        for r in t.records()
    }
    assert tuple(messages[0]) not in records
    assert records[tuple(messages[1])]["values"]["body"] is None
    assert records[tuple(messages[1])]["redacted"] == ["body"]
    assert records[tuple(messages[2])]["values"]["body"]
    told = {(r["column"], r["reason"]): r["count"] for r in outcome.as_dict()["redactions"]}
    assert told == {
        (None, "Written by another customer about their own order"): 1,
        ("body", "Names a staff member's private situation"): 1,
    }
    reasons = [
        e.reason for e in db.exec(select(AuditEvent).where(AuditEvent.action == "access.redacted"))
    ]
    assert "Written by another customer about their own order" in reasons


def test_nothing_is_disclosed_to_an_unverified_subject(shop, db):
    request = subject_request(
        db, Right.access, status=RequestStatus.unverified, assurance=AssuranceLevel.none
    )
    row = service.make_plan(db, request, actor=HANDLER)
    assert row.plan["tables"] == []
    with pytest.raises(WorkflowError, match="not verified well enough"):
        service.approve(db, row, actor=HANDLER)


def test_several_people_are_never_merged_without_the_handler_choosing(shop, db):
    request = subject_request(
        db,
        Right.access,
        subject_email="maria.andersson@example.com",
        subject_phone="070-174 06 22",
        assurance=AssuranceLevel.staff_verified,
    )
    row = service.make_plan(db, request, actor=HANDLER)
    selection = row.plan["selection"]
    assert selection["ambiguous"] is True
    assert {p["qualified"] for p in selection["people"]} == {
        "kundsystem/customers:2",
        "kundsystem/customers:3",
    }
    # Nothing of either Maria is in the plan until someone decides.
    assert row.plan["tables"] == []
    with pytest.raises(WorkflowError, match="more than one person"):
        service.approve(db, row, actor=HANDLER)
    chosen = service.make_plan(db, request, actor=HANDLER, chosen=["kundsystem/customers:2"])
    assert chosen.number == 2
    customers = table(chosen.plan, "customers")
    assert customers["keys"] == [[2]]
    service.approve(db, chosen, actor=HANDLER)
    outcome = service.execute(db, chosen, actor=HANDLER)
    answer = {
        t.content.table: list(t.records()) for t in outcome.answer_tables(Environment.current())
    }
    assert [r["values"]["email"] for r in answer["customers"]] == ["maria.andersson@example.com"]
    assert all(r["values"]["personnummer"] != "19701063-2391" for r in answer["customers"])


def test_data_processed_for_another_controller_is_referred_not_disclosed(
    app, db, backend, databases, tmp_path, frozen_time
):
    frozen_time(NOW)
    with profile_in(app, demo_profile("cling", backend, databases, tmp_path)):
        request = subject_request(db, Right.access)
        row = service.make_plan(db, request, actor=HANDLER)
        withheld = {w["table"]: w for w in row.plan["withheld"]}
        assert (
            withheld["end_customers"]["controller"]
            == "Kunden (hantverkaren) som skickade underlaget"
        )
        assert "end_customers" not in {t["table"] for t in row.plan["tables"]}
        # Astrid's own documents as a customer of Cling are hers; those a craftsman sent
        # her as an end customer are the craftsman's.
        assert "documents" in withheld and "documents" in {t["table"] for t in row.plan["tables"]}


def test_a_second_extract_within_a_year_is_flagged_not_refused(
    app, db, backend, databases, tmp_path, frozen_time
):
    frozen_time(NOW)
    with profile_in(app, demo_profile("cling", backend, databases, tmp_path)):
        subject_request(db, Right.access, received_at=NOW - timedelta(days=100))
        request = subject_request(db, Right.access)
        row = service.make_plan(db, request, actor=HANDLER)
        assert row.plan["repeat_warning"] is True
        service.approve(db, row, actor=HANDLER)
        service.execute(db, row, actor=HANDLER)
        assert db.get(Request, request.id).is_open
