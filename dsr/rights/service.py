"""Plans stored, revised, approved, cancelled and run: the one way a right changes anything.

A request has at most one live plan (``RequestPlan``). Making a plan changes nothing outside
the service's own database; the handler then revises it (redactions, corrections,
exclusions), approves it, and runs it. Approval checks the subject's identity assurance,
that the handler has chosen whose records they are when the identities match several
people, and the right's own conditions; an erasure then waits out its grace period, during
which it can be cancelled. Running an executed plan again changes nothing and returns the
stored outcome. Every step appends an audit event.

Like every service here, these functions never commit: the view or job owns the
transaction. The exception is a resumable run (erasure), which commits after each batch so
that a crash loses nothing; see :meth:`dsr.rights.base.Run.checkpoint`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from dsr import audit, identity, workflow
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import (
    LIVE_PLAN_STATES,
    PlanState,
    Request,
    RequestPlan,
    Right,
    StaffUser,
)
from dsr.rights.base import Environment, RightHandler, Run, digest
from dsr.sources.locate import identities_for_request
from dsr.sources.manual import create_manual_tasks
from dsr.workflow import WorkflowError

#: How long a running plan is held by the process running it before another may resume it.
CLAIM_MINUTES = 10


def handler_for(right: Right) -> type[RightHandler]:
    from dsr.rights import RIGHTS

    try:
        return RIGHTS[right]
    except KeyError:
        raise WorkflowError(_l("This right has no plan to execute.")) from None


def live_plan(session: Session, request: Request) -> RequestPlan | None:
    """The plan the request works with now, if any."""
    return session.scalars(
        select(RequestPlan).where(
            RequestPlan.request_id == request.id,
            col(RequestPlan.state).in_(LIVE_PLAN_STATES),
        )
    ).first()


def history(session: Session, request: Request) -> list[RequestPlan]:
    """Every plan of the request, newest first (cancelled and replaced ones too)."""
    return list(
        session.scalars(
            select(RequestPlan)
            .where(RequestPlan.request_id == request.id)
            .order_by(col(RequestPlan.number).desc())
        )
    )


def _staff_id(actor: Actor) -> int | None:
    return actor.id if actor.type == "staff" else None


def check_identity(request: Request) -> None:
    """Refuse to act for a subject whose identity is not verified well enough for the right."""
    if not identity.sufficient_for_right(request):
        raise WorkflowError(
            _l(
                "The subject's identity is not verified well enough for this right; nothing has been changed."
            )
        )


def make_plan(
    session: Session,
    request: Request,
    *,
    actor: Actor,
    chosen: Sequence[str] | None = None,
    env: Environment | None = None,
    now: datetime | None = None,
) -> RequestPlan:
    """Plan the request's right from the records located now; replaces a draft.

    ``chosen`` names the people (``source/table:key``) the handler decided are the subject
    when the identities match several; by default the draft's choice carries over, and so do
    the draft's decisions that still apply.
    """
    now = now or utcnow()
    env = env or Environment.current()
    workflow.require_open(request)
    handler = handler_for(request.right)
    existing = live_plan(session, request)
    if existing is not None and existing.state != PlanState.draft:
        raise WorkflowError(
            _l("The request already has an approved plan; cancel it before making a new one.")
        )
    previous = existing.plan if existing is not None else None
    if chosen is None and previous:
        chosen = list(previous.get("selection", {}).get("chosen", []))
    plan = handler.plan(session, request, env=env, chosen=chosen or (), previous=previous)
    data = plan.as_dict()
    if existing is not None:
        existing.state = PlanState.superseded
        existing.updated_at = now
        session.add(existing)
        session.flush()
    number = (
        session.scalar(
            select(func.max(RequestPlan.number)).where(RequestPlan.request_id == request.id)
        )
        or 0
    ) + 1
    row = RequestPlan(
        request_id=request.id,
        right=request.right,
        number=number,
        state=PlanState.draft,
        plan=data,
        plan_sha256=digest(data),
        created_at=now,
        created_by_id=_staff_id(actor),
        updated_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "plan.created",
        actor,
        request=request,
        payload={
            "plan": number,
            "right": request.right.value,
            "plan_sha256": row.plan_sha256,
            "identities": sorted(data.get("identities", {})),
            "ambiguous": bool(data.get("selection", {}).get("ambiguous")),
            "problems": len(data.get("problems", [])),
            **handler.summary(data),
        },
        at=now,
    )
    workflow.start_work(session, request, actor=actor, now=now)
    return row


def load(row: RequestPlan) -> Any:
    """The stored plan as its right's dataclass."""
    return handler_for(row.right).load(row.plan)


def load_outcome(row: RequestPlan) -> Any:
    """The stored outcome as its right's dataclass (None before execution)."""
    if row.outcome is None:
        return None
    return handler_for(row.right).load_outcome(row.outcome)


def revise(
    session: Session,
    row: RequestPlan,
    *,
    actor: Actor,
    edit: Callable[[Any], Any],
    action: str | None,
    payload: Mapping[str, Any] | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Any:
    """Apply one handler decision to a draft plan and log it as ``action``; returns what
    ``edit`` returns. ``action`` None: ``edit`` logs what it does itself."""
    now = now or utcnow()
    request = _request(session, row)
    workflow.require_open(request)
    if row.state != PlanState.draft:
        raise WorkflowError(_l("Only a plan that is not yet approved can be changed."))
    plan = load(row)
    result = edit(plan)
    row.plan = plan.as_dict()
    row.plan_sha256 = digest(row.plan)
    row.updated_at = now
    session.add(row)
    if action is not None:
        audit.record(
            session,
            action,
            actor,
            request=request,
            reason=reason,
            payload={"plan": row.number, **(payload or {})},
            at=now,
        )
    return result


def update_outcome(
    session: Session,
    row: RequestPlan,
    *,
    actor: Actor,
    edit: Callable[[Any], Any],
    action: str | None,
    payload: Mapping[str, Any] | None = None,
    reason: str | None = None,
    public: bool = False,
    now: datetime | None = None,
) -> Any:
    """Record a step taken after execution (a restriction lifted, a review concluded)."""
    now = now or utcnow()
    if row.state != PlanState.executed or row.outcome is None:
        raise WorkflowError(_l("The plan has not been executed yet."))
    handler = handler_for(row.right)
    outcome = handler.load_outcome(row.outcome)
    result = edit(outcome)
    row.outcome = outcome.as_dict()
    row.updated_at = now
    session.add(row)
    if action is not None:
        audit.record(
            session,
            action,
            actor,
            request=_request(session, row),
            reason=reason,
            payload={"plan": row.number, **(payload or {})},
            public=public,
            at=now,
        )
    return result


def _request(session: Session, row: RequestPlan) -> Request:
    request = session.get(Request, row.request_id)
    assert request is not None
    return request


def approve(
    session: Session,
    row: RequestPlan,
    *,
    actor: Actor,
    env: Environment | None = None,
    now: datetime | None = None,
) -> None:
    """Approve a draft: the plan is frozen, and (erasure) the grace period starts."""
    now = now or utcnow()
    env = env or Environment.current()
    request = _request(session, row)
    workflow.require_open(request)
    if row.state != PlanState.draft:
        raise WorkflowError(_l("Only a plan that is not yet approved can be approved."))
    check_identity(request)
    handler = handler_for(row.right)
    plan = handler.load(row.plan)
    # A plan searched with fewer identities than are verified now (the subject identified
    # with e-legitimation meanwhile, say) would miss records: it must be made again.
    if plan.header.identities != identities_for_request(request).verified.masked():
        raise WorkflowError(
            _l(
                "The subject's verified identities have changed since the plan was made: make the plan again."
            )
        )
    blockers = handler.blockers(plan)
    if blockers:
        raise WorkflowError(" ".join(blockers))
    row.state = PlanState.approved
    row.approved_at = now
    row.approved_by_id = _staff_id(actor)
    row.plan_sha256 = digest(row.plan)
    if handler.grace_period:
        row.execute_after = now + timedelta(hours=int(env.config["ERASURE_GRACE_HOURS"]))
    row.updated_at = now
    session.add(row)
    audit.record(
        session,
        "plan.approved",
        actor,
        request=request,
        payload={
            "plan": row.number,
            "plan_sha256": row.plan_sha256,
            "execute_after": row.execute_after.isoformat() if row.execute_after else None,
        },
        at=now,
    )


def cancel(
    session: Session, row: RequestPlan, *, actor: Actor, reason: str, now: datetime | None = None
) -> None:
    """Withdraw an approved plan before it runs (an erasure in its grace period)."""
    now = now or utcnow()
    reason = (reason or "").strip()
    request = _request(session, row)
    if row.state != PlanState.approved:
        raise WorkflowError(_l("Only an approved plan that has not started can be cancelled."))
    if not reason:
        raise WorkflowError(_l("Say why the plan is cancelled."))
    row.state = PlanState.cancelled
    row.cancelled_at = now
    row.cancelled_by_id = _staff_id(actor)
    row.cancel_reason = reason
    row.updated_at = now
    session.add(row)
    audit.record(
        session,
        "plan.cancelled",
        actor,
        request=request,
        reason=reason,
        payload={"plan": row.number, "plan_sha256": row.plan_sha256},
        at=now,
    )


def claim(session: Session, row: RequestPlan, owner: str, now: datetime) -> bool:
    """Take the plan for one run, unless another process holds a live claim on it."""
    until = now + timedelta(minutes=CLAIM_MINUTES)
    result = session.execute(
        update(RequestPlan)
        .where(
            col(RequestPlan.id) == row.id,
            (col(RequestPlan.claimed_until).is_(None))
            | (col(RequestPlan.claimed_until) < now)
            | (col(RequestPlan.claimed_by) == owner),
        )
        .values(claimed_by=owner, claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    return bool(getattr(result, "rowcount", 0))


def execute(
    session: Session,
    row: RequestPlan,
    *,
    actor: Actor,
    env: Environment | None = None,
    now: datetime | None = None,
    owner: str | None = None,
) -> Any:
    """Run an approved plan (or resume an interrupted one); returns its outcome.

    Refused when the request is closed, the subject's identity assurance is below what the
    right needs, the identities match several people and nobody chose, or an erasure is
    still in its grace period. A plan already executed is not run again: its stored
    outcome is returned.
    """
    now = now or utcnow()
    env = env or Environment.current()
    request = _request(session, row)
    handler = handler_for(row.right)
    if row.state == PlanState.executed and row.outcome is not None:
        return handler.load_outcome(row.outcome)
    workflow.require_open(request)
    check_identity(request)
    if row.state == PlanState.draft:
        raise WorkflowError(_l("The plan must be approved before it is executed."))
    if row.state not in (PlanState.approved, PlanState.executing, PlanState.failed):
        raise WorkflowError(_l("This plan can no longer be executed."))
    plan = handler.load(row.plan)
    if plan.header.selection.needs_choice:
        raise WorkflowError(
            _l("The identities match more than one person: choose whose records these are.")
        )
    if row.state == PlanState.approved and row.execute_after and now < row.execute_after:
        raise WorkflowError(
            _l(
                "The erasure is in its grace period until %(moment)s and can still be cancelled.",
                moment=row.execute_after.isoformat(timespec="minutes"),
            )
        )
    owner = owner or f"{actor.type}:{actor.label}"
    if not claim(session, row, owner, now):
        raise WorkflowError(_l("Another process is running this plan right now."))
    if handler.creates_tasks:
        create_manual_tasks(session, request, env.profile, actor=actor)
    # A plan found running was interrupted (its claim ran out): this run takes it over.
    resumed = row.state != PlanState.approved
    row.state = PlanState.executing
    row.started_at = row.started_at or now
    row.error = None
    row.updated_at = now
    session.add(row)
    audit.record(
        session,
        "plan.resumed" if resumed else "plan.started",
        actor,
        request=request,
        payload={
            "plan": row.number,
            "plan_sha256": row.plan_sha256,
            "cursor": (row.execution or {}).get("cursor"),
        },
        at=now,
    )
    run = Run(session, row, actor, env, now)
    try:
        outcome = handler.execute(session, request, plan, run=run)
    except WorkflowError as exc:
        if handler.writes_sources and not handler.resumable:
            _failed(session, row, request, actor, str(exc), now)
        raise
    row.outcome = outcome.as_dict()
    row.state = PlanState.executed
    row.executed_at = now
    row.claimed_by = None
    row.claimed_until = None
    row.updated_at = now
    session.add(row)
    from dsr.rights import recipients

    if row.right in recipients.ART19_RIGHTS:
        recipients.notify_recipients(
            session,
            request,
            env,
            actor=actor,
            categories=handler.changed_categories(row),
            now=now,
        )
    audit.record(
        session,
        "plan.executed",
        actor,
        request=request,
        payload={"plan": row.number, "plan_sha256": row.plan_sha256, **handler.summary(row.plan)},
        public=True,
        at=now,
    )
    return outcome


def _failed(
    session: Session, row: RequestPlan, request: Request, actor: Actor, message: str, now: datetime
) -> None:
    """Record that a run stopped part-way, and commit it.

    Sources changed before the failure stay changed (each committed on its own, with its
    audit event); this record says so and lets the handler resume, which changes nothing
    twice. It is committed here because the caller will roll back the failed rest.
    """
    session.rollback()
    session.refresh(row)
    row.state = PlanState.failed
    row.error = message
    row.claimed_by = None
    row.claimed_until = None
    row.updated_at = now
    session.add(row)
    audit.record(
        session,
        "plan.failed",
        actor,
        request=request,
        reason=message,
        payload={"plan": row.number},
        at=now,
    )
    session.commit()


def executed_plan(session: Session, request: Request) -> RequestPlan | None:
    row = live_plan(session, request)
    return row if row is not None and row.state == PlanState.executed else None


def completion_problem(session: Session, request: Request) -> str | None:
    """Registered in ``workflow.COMPLETION_CHECKS``: the plan was executed, and its follow-up
    steps (restriction lifted with notice, review told) are done."""
    from dsr.rights import RIGHTS

    if request.right not in RIGHTS:
        return None
    row = live_plan(session, request)
    if row is None or row.state != PlanState.executed:
        return str(_l("The request's plan has not been executed."))
    return RIGHTS[request.right].completion_problem(session, row)


def staff_names(session: Session, rows: Sequence[RequestPlan]) -> dict[int, str]:
    ids = {
        i
        for r in rows
        for i in (r.created_by_id, r.approved_by_id, r.cancelled_by_id)
        if i is not None
    }
    if not ids:
        return {}
    return {
        u.id: u.name
        for u in session.scalars(select(StaffUser).where(col(StaffUser.id).in_(ids)))
        if u.id is not None
    }
