"""Objection (Art. 21), withdrawal of consent (Art. 7(3)), the suppression list, and human
review of an automated decision (Art. 22(3))."""

import csv
import hmac
import io
from hashlib import sha256

import pytest
from sqlmodel import select

from dsr import suppression
from dsr.models import EmailOutbox, ManualTask, Right, SuppressionEntry, TaskKind, TaskStatus
from dsr.rights import service, steps
from dsr.workflow import WorkflowError, complete_task, completion_blockers
from tests.rights_support import (  # noqa: F401 - english is a fixture
    ASTRID,
    HANDLER,
    NOW,
    actions,
    build_shop,
    demo_profile,
    english,
    profile_in,
    rows,
    shop_profile,
    source_url,
    subject_request,
)

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def shop(app, db, backend, databases, tmp_path, frozen_time):
    frozen_time(NOW)
    url = source_url(backend, databases, tmp_path)
    build_shop(url)
    with profile_in(app, shop_profile(url)) as profile:
        yield profile


@pytest.fixture
def demo(app, db, backend, databases, tmp_path, frozen_time):
    frozen_time(NOW)
    with profile_in(app, demo_profile("default", backend, databases, tmp_path)) as profile:
        yield profile


def test_direct_marketing_stops_at_once_and_unconditionally(shop, db, app):
    request = subject_request(db, Right.objection, details={"objection_to": "direct_marketing"})
    row = service.make_plan(db, request, actor=HANDLER)
    assert [p["key"] for p in row.plan["purposes"] if p["selected"]] == ["newsletter"]
    assert {m["table"] for m in row.plan["marketing"]} == {"customers", "newsletter"}
    steps.stop_marketing_now(db, row, actor=HANDLER)
    assert rows(shop, "shop", "SELECT newsletter FROM customers ORDER BY id") == [(False,), (True,)]
    assert rows(shop, "shop", "SELECT address, subscribed FROM newsletter ORDER BY id") == [
        ("astrid.lindqvist@example.com", False),
        ("bertil@example.net", True),
    ]
    assert suppression.is_suppressed(db, " Astrid.Lindqvist@Example.com ")
    assert not suppression.is_suppressed(db, "bertil@example.net")
    (entry,) = db.exec(select(SuppressionEntry)).all()
    assert entry.email_hash != ASTRID and ASTRID not in entry.email_hash
    assert entry.reason.value == "objection" and entry.request_id == request.id
    # A marketing tool checks an address with the list's key, without the service.
    key = bytes.fromhex(suppression.tool_key())
    mine = hmac.new(key, ASTRID.encode(), sha256).hexdigest()
    exported = list(csv.reader(io.StringIO(suppression.export_csv(db, actor=HANDLER))))
    assert exported == [["email_hmac_sha256"], [mine]]
    # Nothing more happens a second time.
    service.execute(db, row, actor=HANDLER)
    assert len(db.exec(select(SuppressionEntry)).all()) == 1
    assert actions(db, request).count("marketing.stopped") == 1
    assert completion_blockers(db, request) == []


def test_objection_to_other_processing_restricts_then_decides_per_purpose(demo, db):
    request = subject_request(
        db,
        Right.objection,
        details={
            "objection_to": "other_processing",
            "processing": "Logging my logins",
            "grounds": "I share a computer",
        },
    )
    row = service.make_plan(db, request, actor=HANDLER)
    assert {p["key"] for p in row.plan["purposes"]} == {"support", "security"}
    with pytest.raises(WorkflowError, match="Choose the purposes"):
        service.approve(db, row, actor=HANDLER)
    steps.select_purposes(db, row, actor=HANDLER, keys=["support", "security"])
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER).as_dict()
    marked = {m["table"]: m["changed"] for m in outcome["restriction"]["marked"]}
    assert marked == {"support_tickets": 3}
    assert rows(
        demo,
        "kundsystem",
        "SELECT count(*) FROM support_tickets WHERE customer_id = 1 AND restricted_at IS NULL",
    ) == [(0,)]
    tasks = {
        t.target
        for t in db.exec(
            select(ManualTask).where(
                ManualTask.request_id == request.id, ManualTask.kind == TaskKind.restrict
            )
        )
    }
    assert tasks == {
        "Butikens kunddatabas: Inloggningar",
        "Butikens kunddatabas: Meddelanden i ärenden",
    }
    assert any("every purpose" in b for b in completion_blockers(db, request))
    with pytest.raises(WorkflowError, match="reasoning"):
        steps.decide_objection(
            db, row, actor=HANDLER, purpose="support", decision="compelling_grounds", reasoning=""
        )
    steps.decide_objection(
        db,
        row,
        actor=HANDLER,
        purpose="support",
        decision="compelling_grounds",
        reasoning="Open complaint about a faulty product; needed for the legal claim",
    )
    steps.decide_objection(
        db,
        row,
        actor=HANDLER,
        purpose="security",
        decision="stop",
        reasoning="No overriding grounds",
    )
    stop = db.exec(
        select(ManualTask).where(ManualTask.target == "Skydda konton mot intrång och bedrägerier")
    ).one()
    assert stop.kind == TaskKind.other
    assert any("lift the restriction" in b for b in completion_blockers(db, request))
    steps.send_lift_notice(db, row, actor=HANDLER, reason="We must keep handling your complaint.")
    steps.lift_restriction(db, row, actor=HANDLER)
    assert rows(
        demo,
        "kundsystem",
        "SELECT count(*) FROM support_tickets WHERE customer_id = 1 AND restricted_at IS NOT NULL",
    ) == [(0,)]
    assert not any(
        "restriction" in b or "every purpose" in b for b in completion_blockers(db, request)
    )


def test_withdrawn_consent_stops_the_purpose_and_erases_what_rests_on_it_alone(shop, db):
    request = subject_request(db, Right.consent_withdrawal, details={"consent": "The newsletter"})
    row = service.make_plan(db, request, actor=HANDLER)
    assert [p["key"] for p in row.plan["purposes"] if p["selected"]] == ["newsletter"]
    assert [t["table"] for t in row.plan["erasure_offer"]] == ["newsletter"]
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER).as_dict()
    assert rows(shop, "shop", "SELECT address FROM newsletter") == [("bertil@example.net",)]
    assert rows(shop, "shop", "SELECT newsletter FROM customers ORDER BY id") == [(False,), (True,)]
    assert outcome["suppressed"] is True and suppression.is_suppressed(db, ASTRID)
    assert [(e["table"], e["action"], e["changed"]) for e in outcome["erased"]] == [
        ("newsletter", "deleted", 1)
    ]
    assert "consent.withdrawn" in actions(db, request)


def test_the_handler_may_keep_records_offered_for_erasure_with_a_reason(shop, db):
    request = subject_request(db, Right.consent_withdrawal, details={"consent": "The newsletter"})
    row = service.make_plan(db, request, actor=HANDLER)
    steps.decline_erasure(
        db,
        row,
        actor=HANDLER,
        source="shop",
        table="newsletter",
        reason="Proof of the consent while a complaint is open",
    )
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER).as_dict()
    assert outcome["erased"] == []
    assert outcome["declined"][0]["reason"] == "Proof of the consent while a complaint is open"
    # Kept, but the consent is gone from it.
    assert rows(shop, "shop", "SELECT address, subscribed FROM newsletter ORDER BY id") == [
        ("astrid.lindqvist@example.com", False),
        ("bertil@example.net", True),
    ]


def test_a_person_reviews_the_decision_and_the_subject_hears_the_result(demo, db):
    request = subject_request(
        db,
        Right.human_review,
        language="en",
        details={
            "decision": "I was refused invoice payment",
            "viewpoint": "My debts were paid in March",
        },
    )
    row = service.make_plan(db, request, actor=HANDLER)
    (decision,) = row.plan["decisions"]
    assert decision["selected"] and decision["name"] == "Kreditbedömning vid köp mot faktura"
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER)
    (task,) = db.exec(select(ManualTask).where(ManualTask.request_id == request.id)).all()
    assert task.kind == TaskKind.review
    assert "My debts were paid in March" in task.instructions
    assert "I was refused invoice payment" in task.instructions
    assert "riskklassen" in task.instructions
    assert outcome.as_dict()["tasks"] == [{"id": task.id, "kind": "review", "target": task.target}]
    with pytest.raises(WorkflowError, match="Finish the review task"):
        steps.conclude_review(db, row, actor=HANDLER, result="changed", explanation="x")
    complete_task(
        db,
        task,
        status=TaskStatus.done,
        note="Reviewed with the credit report of April",
        actor=HANDLER,
    )
    assert any("Conclude the review" in b for b in completion_blockers(db, request))
    steps.conclude_review(
        db,
        row,
        actor=HANDLER,
        result="changed",
        explanation="Your credit report is clean now; invoice is allowed.",
    )
    (mail,) = db.exec(select(EmailOutbox).where(EmailOutbox.kind == "review_outcome")).all()
    assert mail.to_addr == ASTRID and mail.language == "en"
    assert "reviewed" in mail.subject
    assert completion_blockers(db, request) == []
    with pytest.raises(WorkflowError, match="already been concluded"):
        steps.conclude_review(db, row, actor=HANDLER, result="upheld", explanation="x")
