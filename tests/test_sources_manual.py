"""Systems without a connection become manual tasks on a request, once each."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from dsr.db import utcnow
from dsr.models import AuditEvent, ManualTask, Right, TaskKind, TaskStatus
from dsr.profiles import load_profile
from dsr.sources.manual import create_manual_tasks, planned_tasks
from tests.support import new_request


def tasks_of(db, request):
    rows = db.scalars(select(ManualTask).where(ManualTask.request_id == request.id)).all()
    return sorted((t.kind.value, t.target) for t in rows)


def test_erasure_gets_erase_tasks_and_an_art19_notice_to_every_recipient(db):
    profile = load_profile("default")
    request = new_request(db, right=Right.erasure, subject_email="astrid@example.com")
    created = create_manual_tasks(db, request, profile)
    assert sorted((t.kind.value, t.target) for t in created) == [
        ("erase", "Mejlverktyg Inc."),
        ("erase", "Pärmar med reklamationer"),
        ("notify", "Exempel Betalningar AB"),
        ("notify", "Exempel Frakt AB"),
        ("notify", "Exempel Kredit AB"),
        ("notify", "Mejlverktyg Inc."),
    ]
    # Authorities get data only when the law demands it: no routine notice.
    assert all(t.target != "Skatteverket" for t in created)
    notice = next(t for t in created if t.target == "Exempel Frakt AB")
    assert notice.instructions.startswith("Meddela Exempel Frakt AB skriftligen")
    erase = next(t for t in created if t.target == "Mejlverktyg Inc." and t.kind == TaskKind.erase)
    assert "Delete permanently" in erase.instructions
    assert all(t.status.value == "open" for t in created)


def test_creating_the_tasks_again_adds_nothing(db):
    profile = load_profile("default")
    request = new_request(db, right=Right.rectification)
    first = create_manual_tasks(db, request, profile)
    db.commit()
    before = tasks_of(db, request)
    events = db.scalar(select(func.count()).select_from(AuditEvent))
    assert create_manual_tasks(db, request, profile) == []
    assert tasks_of(db, request) == before and len(before) == len(first)
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_a_done_task_is_not_recreated(db):
    profile = load_profile("default")
    request = new_request(db, right=Right.access)
    for task in create_manual_tasks(db, request, profile):
        task.status, task.note, task.completed_at = TaskStatus.done, "Nothing there", utcnow()
    db.commit()
    assert create_manual_tasks(db, request, profile) == []
    assert len(tasks_of(db, request)) == 2


def test_the_audit_log_says_which_tasks_were_created(db):
    profile = load_profile("default")
    request = new_request(db, right=Right.access)
    create_manual_tasks(db, request, profile)
    event = db.scalars(select(AuditEvent).where(AuditEvent.request_id == request.id)).one()
    assert event.action == "tasks.created"
    assert event.payload == {
        "right": "access",
        "tasks": [
            {"kind": "locate", "target": "Pärmar med reklamationer"},
            {"kind": "locate", "target": "Mejlverktyg Inc."},
        ],
    }


def test_each_right_gets_its_kind_of_work():
    profile = load_profile("default")
    kinds = {right: {p.kind for p in planned_tasks(profile, right)} for right in Right}
    assert kinds[Right.access] == {TaskKind.locate}
    assert kinds[Right.portability] == {TaskKind.locate}
    assert kinds[Right.restriction] == {TaskKind.restrict, TaskKind.notify}
    assert kinds[Right.objection] == {TaskKind.other}
    assert kinds[Right.consent_withdrawal] == {TaskKind.other}
    review = planned_tasks(profile, Right.human_review)
    assert [(p.kind, p.target) for p in review] == [
        (TaskKind.review, "Kreditbedömning vid köp mot faktura")
    ]


@pytest.mark.parametrize("key", ["kliently", "cling", "qleano", "klingit", "hosting-provider"])
def test_every_profile_has_instructions_for_every_task_it_plans(key):
    profile = load_profile(key)
    for right in profile.rights:
        for plan in planned_tasks(profile, right):
            assert plan.instructions.strip(), (right, plan)
            assert "{recipient}" not in plan.instructions


def test_the_database_refuses_a_second_task_of_the_same_kind_for_the_same_system(db):
    request = new_request(db)
    db.add(ManualTask(request_id=request.id, kind=TaskKind.locate, target="Archive"))
    db.flush()
    db.add(ManualTask(request_id=request.id, kind=TaskKind.locate, target="Archive"))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()
