"""No right is carried out for a subject whose identity is not proven well enough for it.

Each right the default profile offers is driven through the staff plan page the way a
handler would: make the plan, take the decisions the right needs, then try to approve and to
run it. The identity check (``dsr.identity.required_assurance``) must stop both, with a
message that says why, while the customer systems stay exactly as they were and the audit
log shows nothing disclosed or changed.

Two ways a subject falls short: the email address was never confirmed, though the
personnummer given matched the customer records (so the plan finds her data; but a
personnummer is no secret, and every right needs a verified request), and the profile asks
for a staff check that was not made. A third case
approves while the identity was good enough, then the profile raises the bar before the
plan runs: the run itself must check again.
"""

import dataclasses
import html
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.pool import NullPool
from sqlmodel import col
from sqlmodel import select as model_select

from dsr import suppression
from dsr.audit import AuditEvent
from dsr.db import get_db
from dsr.models import AssuranceLevel, PlanState, Request, RequestStatus, Right
from dsr.profiles import Profile
from dsr.rights import service
from dsr.rights.jobs import run_due_erasures
from tests.rights_support import ASTRID, ASTRID_PNR, NOW, demo_profile, profile_in, subject_request

#: What the subject wrote on each right's form.
FORMS: dict[Right, dict[str, Any]] = {
    Right.access: {},
    Right.portability: {"delivery": "download"},
    Right.rectification: {"data_to_correct": "My surname", "correct_values": "Lindkvist"},
    Right.restriction: {"grounds": "legal_claims"},
    Right.objection: {"objection_to": "direct_marketing"},
    Right.consent_withdrawal: {"consent": "The newsletter"},
    Right.human_review: {"decision": "The invoice credit check", "viewpoint": "I pay my bills"},
    Right.erasure: {"scope": "everything"},
}

REFUSAL = "identity is not verified well enough for this right"
BLOCKER = "The subject's identity is not verified well enough yet."

#: Audit actions that record the plan being let loose, or data disclosed or changed.
ACTING = ("plan.approved", "plan.started", "plan.resumed", "plan.executed", "plan.failed")
DISCLOSING_OR_CHANGING = (
    "access.disclosed",
    "portability.",
    "rectification.applied",
    "restriction.applied",
    "restriction.marked",
    "marketing.",
    "consent.withdrawn",
    "consent.erased",
    "erasure.batch",
    "erasure.kept",
    "review.requested",
)


def offered_rights() -> list[Right]:
    from dsr.profiles import load_profile

    return list(load_profile("default").rights)


RIGHTS = offered_rights()


def test_the_default_profile_offers_every_right():
    # The parametrisation below covers what the default profile offers; make sure that is
    # really all eight rights, so none is left untested by a profile change.
    assert set(RIGHTS) == set(Right)


@pytest.fixture(scope="module")
def default_shop(backend, databases, tmp_path_factory) -> Profile:
    """The default profile's demo systems, built once per backend for this module.

    Nothing here may change them: every test compares them before and after anyway.
    """
    return demo_profile("default", backend, databases, tmp_path_factory.mktemp("unverified"))


@pytest.fixture
def shop(app, db, default_shop, frozen_time):
    frozen_time(NOW)
    with profile_in(app, default_shop) as profile:
        yield profile


def requiring_staff_check(profile: Profile, right: Right) -> Profile:
    """The profile, asking for identity checked by staff before ``right`` is acted on."""
    extra = {**profile.extra, "identity": {"required": {right.value: "staff_verified"}}}
    return dataclasses.replace(profile, extra=extra)


def snapshot(profile: Profile) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in every customer system, as a person comparing would."""
    seen: dict[str, list[tuple[Any, ...]]] = {}
    for source in profile.sources:
        engine = create_engine(source.url, poolclass=NullPool)
        try:
            metadata = MetaData()
            metadata.reflect(engine)
            with engine.connect() as connection:
                for name, table in sorted(metadata.tables.items()):
                    order = list(table.primary_key.columns) or list(table.columns)
                    result = connection.execute(select(table).order_by(*order))
                    seen[f"{source.name}.{name}"] = [tuple(r) for r in result]
        finally:
            engine.dispose()
    assert sum(len(v) for v in seen.values()) > 0
    return seen


def audit_actions(db, request: Request) -> list[str]:
    db.expire_all()
    return [
        e.action
        for e in db.exec(
            model_select(AuditEvent)
            .where(AuditEvent.request_id == request.id)
            .order_by(col(AuditEvent.seq))
        )
    ]


def plan_url(request: Request, action: str | None = None) -> str:
    base = f"/staff/requests/{request.reference}/plan"
    return f"{base}/{action}?lang=en" if action else f"{base}?lang=en"


def act(client, request: Request, action: str, **form: Any) -> str:
    """Press one button on the plan page; returns the page shown afterwards."""
    response = client.submit(plan_url(request, action), form)
    assert response.status_code == 302, response.get_data(as_text=True)
    return plan_page(client, request)


def plan_page(client, request: Request) -> str:
    """The plan page as the handler reads it (entities decoded)."""
    response = client.get(plan_url(request))
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def flash_errors(page: str) -> list[str]:
    return [
        " ".join(m.split())
        for m in re.findall(r'class="flash flash-error">(.*?)</p>', page, flags=re.S)
    ]


def live(db, request: Request):
    db.expire_all()
    return service.live_plan(db, request)


def prepare(client, db, request: Request) -> None:
    """Make the plan and take what decisions the right needs before approval."""
    page = act(client, request, "make")
    assert flash_errors(page) == []
    row = live(db, request)
    assert row is not None and row.state == PlanState.draft
    if request.right == Right.rectification:
        column = next(c for c in row.plan["columns"] if c["column"] == "last_name")
        page = act(
            client,
            request,
            "correction",
            column=f"{column['source']}|{column['table']}|{column['column']}",
            key=json.dumps(column["keys"][0]),
            proposed="Lindkvist",
        )
        assert flash_errors(page) == []
        page = act(client, request, "decide", correction="1", decision="accepted")
        assert flash_errors(page) == []
    elif request.right == Right.consent_withdrawal:
        keys = [p["key"] for p in row.plan["purposes"]]
        page = act(client, request, "purposes", purposes=keys)
        assert flash_errors(page) == []


def let_loose(client, request: Request) -> str:
    """The button that approves the plan: direct marketing stops at once, without weighing."""
    if request.right == Right.objection:
        return act(client, request, "stop_marketing")
    return act(client, request, "approve")


def assert_refused(page: str) -> None:
    errors = flash_errors(page)
    assert len(errors) == 1, errors
    assert REFUSAL in errors[0] and "nothing has been changed" in errors[0]


def assert_nothing_done(db, request: Request, profile: Profile, before, actions_before) -> None:
    # The customer systems are untouched, row for row.
    assert snapshot(profile) == before
    # The refusals added nothing to the audit log, and nothing in it discloses or changes.
    actions = audit_actions(db, request)
    assert actions == actions_before
    assert not [a for a in actions if a in ACTING or a.startswith(DISCLOSING_OR_CHANGING)]
    # Nor is the subject put on the service's own do-not-contact list.
    assert not suppression.is_suppressed(db, ASTRID)


def unconfirmed_request(db, right):
    """Astrid's request whose personnummer matched her records but whose email was never
    confirmed: her data can be found, nothing may be done with it."""
    return subject_request(
        db,
        right,
        details=FORMS[right],
        personnummer=ASTRID_PNR,
        status=RequestStatus.unverified,
        assurance=AssuranceLevel.personnummer_matched,
    )


@pytest.mark.parametrize("right", RIGHTS, ids=[r.value for r in RIGHTS])
def test_an_unconfirmed_email_stops_approval_and_execution(right, shop, db, client, login_as):
    login_as("handler")
    request = unconfirmed_request(db, right)
    db.commit()
    prepare(client, db, request)
    # Her records are found by the matched personnummer: only the check stands in the way.
    assert "personnummer" in live(db, request).plan["identities"]
    before = snapshot(shop)
    actions_before = audit_actions(db, request)

    assert_refused(let_loose(client, request))
    assert live(db, request).state == PlanState.draft
    assert_refused(act(client, request, "execute"))
    row = live(db, request)
    assert row.state == PlanState.draft and row.outcome is None and row.executed_at is None
    db.expire_all()
    assert db.get(Request, request.id).status == RequestStatus.unverified
    assert_nothing_done(db, request, shop, before, actions_before)


@pytest.mark.parametrize("right", RIGHTS, ids=[r.value for r in RIGHTS])
def test_the_plan_page_warns_of_an_unconfirmed_email_before_approval(
    right, shop, db, client, login_as
):
    login_as("handler")
    request = unconfirmed_request(db, right)
    db.commit()
    assert flash_errors(act(client, request, "make")) == []
    # The handler is told why the plan cannot be approved before pressing the button.
    assert BLOCKER in plan_page(client, request)


@pytest.mark.parametrize("right", RIGHTS, ids=[r.value for r in RIGHTS])
def test_a_staff_check_the_profile_asks_for_stops_approval_and_execution(
    right, app, shop, db, client, login_as
):
    login_as("handler")
    with profile_in(app, requiring_staff_check(shop, right)):
        # Confirmed by email: enough by default, not for this profile.
        request = subject_request(db, right, details=FORMS[right])
        db.commit()
        prepare(client, db, request)
        before = snapshot(shop)
        actions_before = audit_actions(db, request)
        assert BLOCKER in plan_page(client, request)

        assert_refused(let_loose(client, request))
        assert_refused(act(client, request, "execute"))
        row = live(db, request)
        assert row.state == PlanState.draft and row.outcome is None
        assert_nothing_done(db, request, shop, before, actions_before)


@pytest.mark.parametrize(
    "right", [r for r in RIGHTS if r != Right.objection], ids=lambda r: r.value
)
def test_a_plan_approved_before_the_bar_was_raised_does_not_run(
    right, app, shop, db, client, login_as
):
    # (A direct-marketing objection is approved and run in one step: nothing lies between.)
    login_as("handler")
    request = subject_request(db, right, details=FORMS[right])
    db.commit()
    prepare(client, db, request)
    assert flash_errors(act(client, request, "approve")) == []
    assert live(db, request).state == PlanState.approved
    before = snapshot(shop)
    actions_before = audit_actions(db, request)

    with profile_in(app, requiring_staff_check(shop, right)):
        assert_refused(act(client, request, "execute"))
        if right == Right.erasure:
            # The scheduler's job runs erasures once the grace period is over: not this one.
            later = NOW + timedelta(hours=int(app.config["ERASURE_GRACE_HOURS"]) + 1)
            # (In a session of its own, as the scheduler runs it: the job rolls back.)
            db.commit()
            job_session = get_db(app).new_session()
            try:
                assert run_due_erasures(job_session, later, app.config) == 0
                # Every minute it tries again; staff are told once why it waits.
                assert run_due_erasures(job_session, later, app.config) == 0
            finally:
                job_session.close()
            db.expire_all()
            held = live(db, request)
            # (Written by the scheduler, in the service's default language.)
            assert "inte tillräckligt bekräftad" in (held.error or "")
            assert held.error in plan_page(client, request)
            assert audit_actions(db, request) == [*actions_before, "plan.held"]
            actions_before = audit_actions(db, request)
        row = live(db, request)
        assert row.state == PlanState.approved and row.outcome is None
        assert snapshot(shop) == before
        actions = audit_actions(db, request)
        assert actions == actions_before
        assert not [a for a in actions if a != "plan.approved" and a in ACTING]
        assert not [a for a in actions if a.startswith(DISCLOSING_OR_CHANGING)]


def test_restricting_contested_data_waits_for_a_confirmed_email(shop, db, client, login_as):
    # A rectification may restrict the contested data while it is checked (Art. 18(1)(a)):
    # that writes to the customer system too, so it needs the same proof as the right.
    restrict_contested_data(shop, db, client, login_as)


def restrict_contested_data(shop, db, client, login_as):
    login_as("handler")
    request = unconfirmed_request(db, Right.rectification)
    db.commit()
    prepare(client, db, request)
    before = snapshot(shop)
    actions_before = audit_actions(db, request)
    assert_refused(act(client, request, "restrict_now"))
    assert live(db, request).plan.get("restriction") in (None, {})
    assert_nothing_done(db, request, shop, before, actions_before)
