"""Rectification (Art. 16), restriction (Art. 18) and the Art. 19 notices that follow them."""

import pytest
from sqlmodel import select

from dsr.models import EmailOutbox, ManualTask, Right, TaskKind, TaskStatus
from dsr.rights import service, steps
from dsr.rights.recipients import recipients_for_subject
from dsr.workflow import WorkflowError, complete_task, completion_blockers
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

pytestmark = pytest.mark.usefixtures("english")

WORDS = {
    "data_to_correct": "My phone number and the email on my old support ticket are wrong.",
    "correct_values": "Phone 070-999 88 77; email astrid@example.org",
    "message": None,
}


@pytest.fixture
def shop(app, db, backend, databases, tmp_path, frozen_time):
    frozen_time(NOW)
    url = source_url(backend, databases, tmp_path)
    build_shop(url)
    with profile_in(app, shop_profile(url)) as profile:
        yield profile


def finish_open_tasks(db, request):
    for task in db.exec(select(ManualTask).where(ManualTask.request_id == request.id)):
        if task.status == TaskStatus.open:
            complete_task(db, task, status=TaskStatus.done, note="Done by letter", actor=HANDLER)


def test_corrections_are_decided_one_by_one_and_applied_per_source(shop, db):
    request = subject_request(db, Right.rectification, details=WORDS)
    row = service.make_plan(db, request, actor=HANDLER)
    assert row.plan["data_to_correct"] == WORDS["data_to_correct"]
    assert {(c["table"], c["column"]) for c in row.plan["columns"]} == {
        ("customers", "name"),
        ("customers", "phone"),
        ("customers", "email"),
        ("tickets", "email"),
    }
    steps.add_correction(
        db,
        row,
        actor=HANDLER,
        source="shop",
        table="customers",
        column="phone",
        key=None,
        proposed="070-999 88 77",
    )
    steps.add_correction(
        db,
        row,
        actor=HANDLER,
        source="shop",
        table="tickets",
        column="email",
        key=[2],
        proposed="astrid@example.org",
    )
    steps.add_correction(
        db,
        row,
        actor=HANDLER,
        source="shop",
        table="customers",
        column="name",
        key=None,
        proposed="Astrid L.",
    )
    with pytest.raises(WorkflowError, match="cannot be rectified"):
        steps.add_correction(
            db,
            row,
            actor=HANDLER,
            source="shop",
            table="orders",
            column="total",
            key=None,
            proposed="0",
        )
    with pytest.raises(WorkflowError, match="Decide every proposed correction"):
        service.approve(db, row, actor=HANDLER)
    steps.decide_correction(
        db, row, actor=HANDLER, correction_id=1, decision="accepted", value=None, reason=""
    )
    steps.decide_correction(
        db,
        row,
        actor=HANDLER,
        correction_id=2,
        decision="edited",
        value="Astrid@Example.org",
        reason="Keep the case the subject wrote elsewhere",
    )
    with pytest.raises(WorkflowError, match="Say why"):
        steps.decide_correction(
            db, row, actor=HANDLER, correction_id=3, decision="rejected", value=None, reason=""
        )
    steps.decide_correction(
        db,
        row,
        actor=HANDLER,
        correction_id=3,
        decision="rejected",
        value=None,
        reason="The name on file matches the ID shown",
    )
    steps.add_statement(
        db, row, actor=HANDLER, about="Name", text="I have used Astrid L. since 2020."
    )
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER).as_dict()
    assert rows(shop, "shop", "SELECT phone FROM customers ORDER BY id") == [
        ("070-999 88 77",),
        ("070-111 22 33",),
    ]
    assert rows(shop, "shop", "SELECT id, email FROM tickets ORDER BY id") == [
        (1, "astrid.lindqvist@example.com"),
        (2, "Astrid@Example.org"),
        (3, "bertil@example.net"),
    ]
    assert rows(shop, "shop", "SELECT name FROM customers WHERE id = 1") == [("Astrid Lindqvist",)]
    applied = {(a["table"], a["column"]): (a["records"], a["changed"]) for a in outcome["applied"]}
    assert applied == {("customers", "phone"): (1, 1), ("tickets", "email"): (1, 1)}
    assert outcome["rejected"] == [
        {
            "id": 3,
            "source": "shop",
            "table": "customers",
            "column": "name",
            "reason": "The name on file matches the ID shown",
        }
    ]
    assert outcome["statements"][0]["text"] == "I have used Astrid L. since 2020."
    # Executing again writes nothing more.
    assert service.execute(db, row, actor=HANDLER).as_dict() == outcome
    events = actions(db, request)
    assert events.count("rectification.applied") == 1 and events.count("rectification.decided") == 3
    # Art. 19: the processor with an address is emailed, the other gets a task; and the
    # subject can see who was told.
    (notice,) = db.exec(select(EmailOutbox).where(EmailOutbox.kind == "recipient_notice")).all()
    assert notice.to_addr == "dpo@betal.example" and notice.language == "sv"
    seen = {r.name: (r.status, r.method) for r in recipients_for_subject(db, request, shop)}
    assert seen == {"Betal AB": ("done", "email"), "Frakt AB": ("pending", None)}
    finish_open_tasks(db, request)
    seen = {r.name: (r.status, r.method) for r in recipients_for_subject(db, request, shop)}
    assert seen["Frakt AB"] == ("done", "by_hand")
    assert completion_blockers(db, request) == []


def test_a_value_the_column_cannot_hold_is_refused_when_decided(shop, db):
    request = subject_request(db, Right.rectification, details=WORDS)
    row = service.make_plan(db, request, actor=HANDLER)
    steps.add_correction(
        db,
        row,
        actor=HANDLER,
        source="shop",
        table="customers",
        column="phone",
        key=None,
        proposed="0" * 40,
    )
    with pytest.raises(WorkflowError, match="does not fit"):
        steps.decide_correction(
            db, row, actor=HANDLER, correction_id=1, decision="accepted", value=None, reason=""
        )
    assert row.plan["corrections"][0]["decision"] == "pending"


def test_contested_data_is_restricted_while_checked_and_lifted_only_after_notice(shop, db):
    request = subject_request(db, Right.rectification, details=WORDS)
    row = service.make_plan(db, request, actor=HANDLER)
    steps.restrict_while_checking(db, row, actor=HANDLER)
    assert rows(shop, "shop", "SELECT restricted_at IS NOT NULL FROM customers ORDER BY id") == [
        (True,),
        (False,),
    ]
    assert rows(
        shop, "shop", "SELECT id FROM tickets WHERE restricted_at IS NOT NULL ORDER BY id"
    ) == [(1,), (2,)]
    steps.add_correction(
        db,
        row,
        actor=HANDLER,
        source="shop",
        table="customers",
        column="phone",
        key=[1],
        proposed="070-999 88 77",
    )
    steps.decide_correction(
        db, row, actor=HANDLER, correction_id=1, decision="accepted", value=None, reason=""
    )
    service.approve(db, row, actor=HANDLER)
    service.execute(db, row, actor=HANDLER)
    assert any("still restricted" in b for b in completion_blockers(db, request))
    with pytest.raises(WorkflowError, match="must be told"):
        steps.lift_restriction(db, row, actor=HANDLER)
    steps.send_lift_notice(db, row, actor=HANDLER, reason="Your phone number is corrected.")
    (notice,) = db.exec(
        select(EmailOutbox).where(EmailOutbox.kind == "restriction_lift_notice")
    ).all()
    assert notice.to_addr == "astrid.lindqvist@example.com"
    steps.lift_restriction(db, row, actor=HANDLER)
    assert rows(shop, "shop", "SELECT count(*) FROM customers WHERE restricted_at IS NOT NULL") == [
        (0,)
    ]
    assert rows(shop, "shop", "SELECT count(*) FROM tickets WHERE restricted_at IS NOT NULL") == [
        (0,)
    ]
    events = actions(db, request)
    assert events.index("restriction.lift_notice") < events.index("restriction.lifted")
    assert not any("still restricted" in b for b in completion_blockers(db, request))


def test_restriction_marks_rows_or_makes_a_task_and_lifting_needs_notice_first(shop, db):
    request = subject_request(
        db, Right.restriction, details={"grounds": "legal_claims", "data_to_restrict": None}
    )
    row = service.make_plan(db, request, actor=HANDLER)
    scope = {t["table"]: t["column"] for t in row.plan["tables"]}
    assert scope["customers"] == "restricted_at" and scope["logins"] is None
    steps.restrict_tables(
        db,
        row,
        actor=HANDLER,
        tables=[("shop", "customers"), ("shop", "tickets"), ("shop", "logins")],
    )
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER).as_dict()
    assert rows(shop, "shop", "SELECT id FROM customers WHERE restricted_at IS NOT NULL") == [(1,)]
    assert rows(
        shop, "shop", "SELECT id FROM tickets WHERE restricted_at IS NOT NULL ORDER BY id"
    ) == [(1,), (2,)]
    tasks = {
        t.target: t.kind
        for t in db.exec(select(ManualTask).where(ManualTask.request_id == request.id))
    }
    assert tasks["Shop database: Logins"] == TaskKind.restrict
    assert {m["table"]: m["changed"] for m in outcome["restriction"]["marked"]} == {
        "customers": 1,
        "tickets": 2,
    }
    # Executing again marks nothing more.
    service.execute(db, row, actor=HANDLER)
    assert actions(db, request).count("restriction.applied") == 1
    with pytest.raises(WorkflowError, match="must be told"):
        steps.lift_restriction(db, row, actor=HANDLER)
    assert rows(shop, "shop", "SELECT count(*) FROM customers WHERE restricted_at IS NOT NULL") == [
        (1,)
    ]
    steps.send_lift_notice(db, row, actor=HANDLER, reason="The dispute is settled.")
    steps.lift_restriction(db, row, actor=HANDLER)
    assert rows(shop, "shop", "SELECT count(*) FROM customers WHERE restricted_at IS NOT NULL") == [
        (0,)
    ]
    lift_task = db.exec(
        select(ManualTask).where(ManualTask.target == "Shop database: Logins (lift)")
    ).one()
    assert lift_task.status == TaskStatus.open
    with pytest.raises(WorkflowError, match="already been lifted"):
        steps.lift_restriction(db, row, actor=HANDLER)


def test_a_failure_in_one_source_keeps_the_record_of_another_and_resumes(
    app, db, backend, databases, tmp_path, frozen_time
):
    import dataclasses

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from dsr.models import PlanState

    frozen_time(NOW)
    first, second = (source_url(backend, databases, tmp_path, name) for name in ("a", "b"))
    build_shop(first)
    build_shop(second)
    base = shop_profile(first)
    (shop_source,) = base.sources
    profile = dataclasses.replace(
        base,
        sources=(
            shop_source,
            dataclasses.replace(shop_source, name="backup", url=second, label="Backup"),
        ),
    )

    def rename(old, new):
        engine = create_engine(second, poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
        engine.dispose()

    with profile_in(app, profile):
        request = subject_request(db, Right.rectification, details=WORDS)
        row = service.make_plan(db, request, actor=HANDLER)
        for source in ("shop", "backup"):
            steps.add_correction(
                db,
                row,
                actor=HANDLER,
                source=source,
                table="customers",
                column="phone",
                key=[1],
                proposed="070-999 88 77",
            )
        for item in (1, 2):
            steps.decide_correction(
                db,
                row,
                actor=HANDLER,
                correction_id=item,
                decision="accepted",
                value=None,
                reason="",
            )
        service.approve(db, row, actor=HANDLER)
        db.commit()
        rename("customers", "customers_gone")  # the backup system breaks before the run
        with pytest.raises(WorkflowError, match="Backup could not be changed"):
            service.execute(db, row, actor=HANDLER)
        db.expire_all()
        assert row.state == PlanState.failed and "Backup" in row.error
        # The first source's change stands, and so does its record.
        assert rows(profile, "shop", "SELECT phone FROM customers WHERE id = 1") == [
            ("070-999 88 77",)
        ]
        events = actions(db, request)
        assert events.count("rectification.applied") == 1 and events[-1] == "plan.failed"
        rename("customers_gone", "customers")
        outcome = service.execute(db, row, actor=HANDLER).as_dict()
        assert {(a["source"], a["changed"], a["already"]) for a in outcome["applied"]} == {
            ("shop", 0, 1),
            ("backup", 1, 0),
        }
        assert "plan.resumed" in actions(db, request)
        assert rows(profile, "backup", "SELECT phone FROM customers WHERE id = 1") == [
            ("070-999 88 77",)
        ]
