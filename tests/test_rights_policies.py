"""Every right each of the five policies promises, end to end, on its own demo systems.

A handler works each request through the staff pages: makes the plan, decides what the
right needs decided, approves, executes (an erasure by the scheduler's job after its grace
period), finishes the manual tasks and completes the request. The sources are then checked
the way a person would check them.
"""

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from dsr import suppression
from dsr.audit import AuditEvent
from dsr.db import utcnow
from dsr.exports.jobs import build_answers
from dsr.models import (
    Export,
    ExportState,
    ManualTask,
    PlanState,
    Request,
    RequestStatus,
    Right,
    TaskStatus,
)
from dsr.rights import service
from dsr.rights.base import Environment
from dsr.rights.jobs import run_due_erasures
from dsr.sources.identities import Identities
from dsr.sources.locate import locate
from tests.rights_support import ASTRID, NOW, demo_profile, profile_in, subject_request

POLICIES = ["kliently", "cling", "qleano", "klingit", "hosting-provider"]
#: Erasure last: it takes Astrid's data away from the rights after it.
ORDER = [
    Right.access,
    Right.portability,
    Right.rectification,
    Right.restriction,
    Right.objection,
    Right.consent_withdrawal,
    Right.human_review,
    Right.erasure,
]
DETAILS = {
    Right.access: {},
    Right.portability: {"delivery": "download"},
    Right.rectification: {"data_to_correct": "My name", "correct_values": "Rättat Namn"},
    Right.restriction: {"grounds": "legal_claims"},
    Right.objection: {"objection_to": "direct_marketing"},
    Right.consent_withdrawal: {"consent": "All marketing"},
    Right.human_review: {"decision": "The analysis of my traffic", "viewpoint": "It was a test"},
    Right.erasure: {"scope": "everything"},
}


def post(client, request, action, **form):
    response = client.submit(f"/staff/requests/{request.reference}/plan/{action}", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(f"/staff/requests/{request.reference}/plan?lang=en").get_data(as_text=True)
    assert "flash-error" not in page, page[
        page.find("flash-error") : page.find("flash-error") + 400
    ]
    return page


def live(db, request):
    db.expire_all()
    return service.live_plan(db, request)


def decide(client, db, request, profile):
    """What each right needs from the handler before approval."""
    row = live(db, request)
    if request.right == Right.rectification:
        column = next(c for c in row.plan["columns"] if "name" in c["column"])
        post(
            client,
            request,
            "correction",
            column=f"{column['source']}|{column['table']}|{column['column']}",
            key=json.dumps(column["keys"][0]),
            proposed="Rättat Namn",
        )
        post(client, request, "decide", correction="1", decision="accepted")
    elif request.right == Right.consent_withdrawal:
        keys = [p["key"] for p in row.plan["purposes"]]
        post(client, request, "purposes", purposes=keys)


def release_answer(client, db, app, request):
    """Make the answer on the request page, let the scheduler build it, release it."""
    made = client.submit(f"/staff/requests/{request.reference}/answer", {})
    assert made.status_code == 302
    db.expire_all()
    assert build_answers(db, utcnow(), app.config) == 1
    export = db.exec(select(Export).where(Export.request_id == request.id)).one()
    assert export.state == ExportState.ready, export.error
    released = client.submit(f"/staff/requests/{request.reference}/answer/{export.id}/release", {})
    assert released.status_code == 302
    db.refresh(export)
    assert export.released_at is not None


def finish(client, db, app, request):
    """Finish the manual tasks as a handler would, then complete the request."""
    db.expire_all()
    for task in db.exec(select(ManualTask).where(ManualTask.request_id == request.id)):
        if task.status == TaskStatus.open:
            client.submit(
                f"/staff/requests/{request.reference}/tasks/{task.id}",
                {"status": "done", "note": "Done as instructed"},
            )
    row = live(db, request)
    if request.right == Right.human_review:
        post(client, request, "conclude", result="upheld", explanation="A person checked it.")
    restricted = (row.outcome or {}).get("restriction")
    if restricted and request.right != Right.restriction:
        post(client, request, "lift_notice", reason="Checked.")
        post(client, request, "lift")
    if request.right in (Right.access, Right.portability):
        # Access and portability are answered with the subject's data, released to them.
        release_answer(client, db, app, request)
    response = client.submit(
        f"/staff/requests/{request.reference}/complete", {"summary": "Klart.", "step": "send"}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Request, request.id).status == RequestStatus.completed


@pytest.mark.parametrize("key", POLICIES)
def test_every_promised_right_works_end_to_end(
    key, app, db, client, login_as, backend, databases, tmp_path, frozen_time
):
    frozen_time(NOW)
    login_as("handler")
    with profile_in(app, demo_profile(key, backend, databases, tmp_path)) as profile:
        offered = [r for r in ORDER if profile.offers(r)]
        assert set(offered) == set(profile.rights)
        for right in offered:
            frozen_time(NOW)
            request = subject_request(db, right, details=DETAILS[right])
            db.commit()
            post(client, request, "make")
            decide(client, db, request, profile)
            if right == Right.objection:
                post(client, request, "stop_marketing")
            else:
                post(client, request, "approve")
                if right == Right.erasure:
                    # The scheduler's job, once the grace period is over.
                    later = NOW + timedelta(hours=profile_grace(app) + 1)
                    assert run_due_erasures(db, later, app.config) == 1
                else:
                    post(client, request, "execute")
            row = live(db, request)
            assert row.state == PlanState.executed, (right, row.error)
            check(right, row, profile, db, tmp_path)
            # Running it again changes nothing and gives the same outcome.
            before = json.dumps(row.outcome, sort_keys=True)
            events = len(db.exec(select(AuditEvent)).all())
            again = client.submit(f"/staff/requests/{request.reference}/plan/execute", {})
            assert again.status_code == 302
            assert json.dumps(live(db, request).outcome, sort_keys=True) == before
            assert len(db.exec(select(AuditEvent)).all()) == events
            finish(client, db, app, request)


def profile_grace(app):
    return int(app.config["ERASURE_GRACE_HOURS"])


def check(right, row, profile, db, tmp_path):
    """What a person would look for in the sources after each right."""
    outcome = row.outcome
    env = Environment.current()
    if right == Right.access:
        assert outcome["record_count"] > 0
        assert outcome["information"]["complaint"]["authority"].startswith("Integritetsskydds")
        assert (
            sum(len(list(t.records())) for t in service.load_outcome(row).answer_tables(env))
            == outcome["record_count"]
        )
    elif right == Right.portability:
        assert outcome["tables"] and outcome["delivery"]["status"] == "download"
    elif right == Right.rectification:
        (applied,) = outcome["applied"]
        assert applied["changed"] == 1
        found = locate(profile, Identities.of(email=ASTRID), data_dir=tmp_path)
        values = [
            record.value(applied["column"])
            for _, table, record in found.iter_records()
            if table.name == applied["table"]
        ]
        assert "Rättat Namn" in values
    elif right == Right.restriction:
        assert outcome["restriction"]["marked"] or outcome["restriction"]["by_hand"]
        found = locate(profile, Identities.of(email=ASTRID), data_dir=tmp_path)
        for _, table, record in found.iter_records():
            if table.table.restriction_column:
                assert record.restricted, table.name
    elif right == Right.objection:
        assert outcome["suppressed"] and suppression.is_suppressed(db, ASTRID)
        found = locate(profile, Identities.of(email=ASTRID), data_dir=tmp_path)
        for _, table, record in found.iter_records():
            if table.table.marketing_consent_column:
                assert not record.marketing_consent, table.name
    elif right == Right.consent_withdrawal:
        assert outcome["withdrawn"]
    elif right == Right.human_review:
        assert outcome["tasks"]
    elif right == Right.erasure:
        assert outcome["erased"]
        # Nothing of hers is found by her email any more, except what another controller
        # has this one process for it (she is referred there); what the law keeps is listed.
        found = locate(profile, Identities.of(email=ASTRID), data_dir=tmp_path)
        assert found.record_count == sum(r["count"] for r in outcome["referred"])
        for kept in outcome["kept"]:
            assert kept["basis"] and kept["exception"] == "17(3)(b)"
