"""Erasure (Art. 17): per record delete, anonymize or keep by law; grace period; follow-ups."""

from datetime import date, timedelta

import pytest
from sqlmodel import select

from dsr import audit
from dsr.audit import Actor
from dsr.models import (
    AssuranceLevel,
    EmailOutbox,
    ErasureFollowup,
    ManualTask,
    PlanState,
    RequestStatus,
    Right,
    TaskKind,
)
from dsr.rights import service
from dsr.rights.jobs import run_due_erasures, run_erasure_followups
from dsr.workflow import WorkflowError
from tests.rights_support import (  # noqa: F401 - english is a fixture
    HANDLER,
    NOW,
    actions,
    build_shop,
    english,
    profile_in,
    rows,
    shop_profile,
    source_url,
    subject_request,
)

AFTER_GRACE = NOW + timedelta(hours=25)
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def shop(app, db, backend, databases, tmp_path, frozen_time):
    frozen_time(NOW)
    url = source_url(backend, databases, tmp_path)
    build_shop(url)
    with profile_in(app, shop_profile(url)) as profile:
        yield profile


def planned(row):
    return {(t["table"], tuple(r["key"])): r for t in row.plan["tables"] for r in t["records"]}


def approved_erasure(db, **fields):
    request = subject_request(db, Right.erasure, **fields)
    row = service.make_plan(db, request, actor=HANDLER)
    service.approve(db, row, actor=HANDLER)
    return request, row


def test_the_plan_says_per_record_what_happens_and_why(shop, db):
    request = subject_request(db, Right.erasure, details={"scope": "everything"})
    row = service.make_plan(db, request, actor=HANDLER)
    records = planned(row)
    assert records[("customers", (1,))]["action"] == "anonymize"
    assert records[("logins", (1,))]["action"] == "delete"
    assert records[("messages", (1,))]["action"] == "delete"
    # Paid in the financial year ending 2025-12-31: kept to the end of 2032 (BFL 7:2).
    payment = records[("payments", (100,))]
    assert payment["action"] == "retain"
    assert payment["until"] == "2032-12-31"
    assert payment["basis"] == "Bokföringslagen (1999:1078) 7 kap. 2 §"
    assert payment["exception"] == "17(3)(b)"
    assert records[("orders", (10,))]["until"] == "2032-12-31"
    # Past its period: deleted now.
    assert records[("payments", (102,))]["action"] == "delete"
    assert records[("orders", (12,))]["action"] == "delete"
    # Past its own period, but a kept payment refers to it: kept as long as the payment.
    order = records[("orders", (11,))]
    assert (order["action"], order["until"], order["via"]) == ("retain", "2026-12-31", "Payments")
    # Bertil is nobody's business here.
    assert ("orders", (20,)) not in records
    # Nothing changed yet.
    assert rows(shop, "shop", "SELECT count(*) FROM logins WHERE customer_id = 1") == [(3,)]
    assert row.state == PlanState.draft


def test_nothing_runs_in_the_grace_period_and_cancelling_changes_nothing(shop, db):
    request, row = approved_erasure(db)
    assert row.execute_after == NOW + timedelta(hours=24)
    with pytest.raises(WorkflowError, match="grace period"):
        service.execute(db, row, actor=HANDLER)
    assert run_due_erasures(db, NOW + timedelta(hours=23), app_config()) == 0
    service.cancel(db, row, actor=HANDLER, reason="The subject changed their mind on the phone")
    db.commit()
    assert run_due_erasures(db, AFTER_GRACE, app_config()) == 0
    assert row.state == PlanState.cancelled
    assert rows(shop, "shop", "SELECT name FROM customers WHERE id = 1") == [("Astrid Lindqvist",)]
    assert rows(shop, "shop", "SELECT count(*) FROM logins WHERE customer_id = 1") == [(3,)]
    assert "plan.cancelled" in actions(db, request)
    with pytest.raises(WorkflowError):
        service.execute(db, row, actor=HANDLER, now=AFTER_GRACE)
    # A new plan may follow a cancelled one.
    assert service.make_plan(db, request, actor=HANDLER).number == 2


def app_config():
    from flask import current_app

    return current_app.config


def test_the_job_runs_it_after_the_grace_period(shop, db, frozen_time):
    request, row = approved_erasure(db)
    db.commit()
    frozen_time(AFTER_GRACE)
    assert run_due_erasures(db, AFTER_GRACE, app_config()) == 1
    db.refresh(row)
    assert row.state == PlanState.executed
    # Children before parents, Astrid's rows only.
    assert rows(shop, "shop", "SELECT count(*) FROM logins WHERE customer_id = 1") == [(0,)]
    assert rows(shop, "shop", "SELECT count(*) FROM logins WHERE customer_id = 2") == [(1,)]
    assert rows(shop, "shop", "SELECT id FROM tickets ORDER BY id") == [(3,)]
    assert rows(shop, "shop", "SELECT id FROM messages ORDER BY id") == [(4,)]
    assert rows(shop, "shop", "SELECT address FROM newsletter") == [("bertil@example.net",)]
    assert rows(
        shop, "shop", "SELECT number, name, email, phone, newsletter FROM customers ORDER BY id"
    ) == [
        ("K-1", "[anonymiserad]", "anonymized-1@invalid", None, None),
        ("K-2", "Bertil Ek", "bertil@example.net", "070-111 22 33", True),
    ]
    assert sorted(rows(shop, "shop", "SELECT id FROM orders")) == [(10,), (11,), (20,)]
    assert sorted(rows(shop, "shop", "SELECT id FROM payments")) == [(100,), (101,), (200,)]
    # Running it again changes nothing and returns the same outcome.
    again = service.execute(db, row, actor=HANDLER, now=AFTER_GRACE + timedelta(hours=1))
    assert again.as_dict() == row.outcome
    assert run_due_erasures(db, AFTER_GRACE + timedelta(hours=2), app_config()) == 0
    assert actions(db, request).count("plan.executed") == 1


def test_the_outcome_tells_what_was_erased_and_what_was_kept_and_why(shop, db):
    request, row = approved_erasure(db)
    outcome = service.execute(db, row, actor=HANDLER, now=AFTER_GRACE).as_dict()
    erased = {(e["table"], e["action"]): e["count"] for e in outcome["erased"]}
    assert erased == {
        ("messages", "deleted"): 3,
        ("tickets", "deleted"): 2,
        ("newsletter", "deleted"): 1,
        ("logins", "deleted"): 3,
        ("payments", "deleted"): 1,
        ("orders", "deleted"): 1,
        ("customers", "anonymized"): 1,
    }
    kept = {(k["table"], k["until"]): (k["count"], k["basis"], k["via"]) for k in outcome["kept"]}
    law = "Bokföringslagen (1999:1078) 7 kap. 2 §"
    assert kept == {
        ("orders", "2032-12-31"): (1, law, ""),
        ("orders", "2026-12-31"): (1, law, "Payments"),
        ("payments", "2032-12-31"): (1, law, ""),
        ("payments", "2026-12-31"): (1, law, ""),
    }
    assert {(f["table"], f["due_on"]) for f in outcome["followups"]} == {
        ("orders", "2032-12-31"),
        ("orders", "2026-12-31"),
        ("payments", "2032-12-31"),
        ("payments", "2026-12-31"),
    }
    # The audit log names what was erased where and how many, never the values.
    events = db.exec(
        select(audit.AuditEvent).where(audit.AuditEvent.request_id == request.id)
    ).all()
    text = repr([e.payload for e in events])
    assert "Astrid" not in text and "192.0.2" not in text
    batches = [e.payload for e in events if e.action == "erasure.batch"]
    assert sum(b["changed"] for b in batches) == 12
    assert [e.action for e in events].count("erasure.kept") == 1
    # Art. 19: the processor with a privacy address is emailed; the other is a task.
    assert [
        m.to_addr
        for m in db.exec(select(EmailOutbox).where(EmailOutbox.kind == "recipient_notice"))
    ] == ["dpo@betal.example"]
    tasks = {
        t.target: t.status.value
        for t in db.exec(
            select(ManualTask).where(
                ManualTask.request_id == request.id, ManualTask.kind == TaskKind.notify
            )
        )
    }
    assert tasks == {"Betal AB": "done", "Frakt AB": "open"}


def test_kept_records_are_erased_on_the_day_after_their_end_date(shop, db):
    request, row = approved_erasure(db)
    service.execute(db, row, actor=HANDLER, now=AFTER_GRACE)
    db.commit()
    config = app_config()
    assert run_erasure_followups(db, NOW + timedelta(days=40), config) == 0  # 2026-12-31 kept
    from datetime import UTC, datetime

    new_year = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
    assert run_erasure_followups(db, new_year, config) == 2
    # Payment 101 went first; then order 11, which only it referred to.
    assert sorted(rows(shop, "shop", "SELECT id FROM payments")) == [(100,), (200,)]
    assert sorted(rows(shop, "shop", "SELECT id FROM orders")) == [(10,), (20,)]
    assert run_erasure_followups(db, new_year, config) == 0
    later = datetime(2033, 1, 1, 8, 0, tzinfo=UTC)
    assert run_erasure_followups(db, later, config) == 2
    assert rows(shop, "shop", "SELECT id FROM payments") == [(200,)]
    assert rows(shop, "shop", "SELECT id FROM orders") == [(20,)]
    done = db.exec(select(ErasureFollowup).where(ErasureFollowup.request_id == request.id)).all()
    assert all(f.done_at is not None for f in done)
    assert {f.due_on for f in done} == {date(2026, 12, 31), date(2032, 12, 31)}
    assert actions(db, request).count("erasure.followup") == 4
    assert audit.verify_chain(db) is None


def test_an_unverified_subject_is_not_acted_on(shop, db):
    request = subject_request(
        db, Right.erasure, status=RequestStatus.unverified, assurance=AssuranceLevel.none
    )
    row = service.make_plan(db, request, actor=HANDLER)
    # Nothing is searched with identities that are not verified.
    assert row.plan["tables"] == [] and row.plan["unverified"] == ["email"]
    with pytest.raises(WorkflowError, match="not verified well enough"):
        service.approve(db, row, actor=HANDLER)
    # Even an approved plan stops if the request's assurance is not there when it runs.
    verified, approved = approved_erasure(db)
    verified.assurance = AssuranceLevel.none
    with pytest.raises(WorkflowError, match="not verified well enough"):
        service.execute(db, approved, actor=HANDLER, now=AFTER_GRACE)
    assert rows(shop, "shop", "SELECT count(*) FROM logins WHERE customer_id = 1") == [(3,)]


def test_the_handler_can_keep_a_table_with_a_reason(shop, db):
    from dsr.rights import steps

    request = subject_request(
        db, Right.erasure, details={"scope": "specific", "data_to_erase": "My logins"}
    )
    row = service.make_plan(db, request, actor=HANDLER)
    for table in ("tickets", "messages"):
        steps.keep_table(
            db,
            row,
            actor=Actor.system("handler"),
            source="shop",
            table=table,
            reason="Ongoing dispute, Art. 17(3)(e)",
        )
    records = planned(row)
    assert records[("messages", (1,))]["action"] == "keep"
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER, now=AFTER_GRACE).as_dict()
    assert {x["table"]: x["reason"] for x in outcome["excluded"]} == {
        "tickets": "Ongoing dispute, Art. 17(3)(e)",
        "messages": "Ongoing dispute, Art. 17(3)(e)",
    }
    assert rows(shop, "shop", "SELECT count(*) FROM messages") == [(4,)]
    assert rows(shop, "shop", "SELECT count(*) FROM logins WHERE customer_id = 1") == [(0,)]
    assert "erasure.table_kept" in actions(db, request)


def test_completion_waits_for_the_executed_plan_and_the_tasks(shop, db):
    from dsr import workflow

    request, row = approved_erasure(db)
    assert "The request's plan has not been executed." in workflow.completion_blockers(db, request)
    service.execute(db, row, actor=HANDLER, now=AFTER_GRACE)
    blockers = workflow.completion_blockers(db, request)
    assert "The request's plan has not been executed." not in blockers
    assert any("manual task" in b for b in blockers)  # Frakt AB must still be told
    for task in db.exec(select(ManualTask).where(ManualTask.request_id == request.id)):
        if task.status.value == "open":
            workflow.complete_task(
                db, task, status=task.status.__class__("done"), note="Told by letter", actor=HANDLER
            )
    assert workflow.completion_blockers(db, request) == []
