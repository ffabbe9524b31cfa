"""The handler's decisions on a plan, and the steps after one ran, as one call each.

Each function applies one decision through ``service.revise`` (a draft plan) or
``service.update_outcome`` (an executed one), so that it is checked, stored and logged the
same way whichever page or command asks for it. Views call these; none of them commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlmodel import Session

from dsr import workflow
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import PlanState, Request, RequestPlan, Right
from dsr.rights import (
    access,
    consent,
    erasure,
    objection,
    portability,
    rectification,
    restriction,
    service,
)
from dsr.rights import review as review_module
from dsr.rights.base import Environment, locate_subject
from dsr.workflow import WorkflowError


def _request(session: Session, row: RequestPlan) -> Request:
    request = session.get(Request, row.request_id)
    assert request is not None
    return request


def _expect(row: RequestPlan, *rights: Right) -> None:
    if row.right not in rights:
        raise WorkflowError(_l("That does not apply to this right."))


# --- access ------------------------------------------------------------------------------------


def redact(
    session: Session,
    row: RequestPlan,
    *,
    actor: Actor,
    source: str,
    table: str,
    key: Sequence[Any],
    column: str | None,
    reason: str,
) -> None:
    _expect(row, Right.access)
    service.revise(
        session,
        row,
        actor=actor,
        edit=lambda plan: access.redact(
            plan,
            source=source,
            table=table,
            key=key,
            column=column,
            reason=reason,
            by=actor.label,
        ),
        action="access.redacted",
        payload={
            "source": source,
            "table": table,
            "column": column,
            "whole_record": column is None,
        },
        reason=reason,
    )


def remove_redaction(session: Session, row: RequestPlan, *, actor: Actor, index: int) -> None:
    _expect(row, Right.access)
    service.revise(
        session,
        row,
        actor=actor,
        edit=lambda plan: access.remove_redaction(plan, index),
        action="access.redaction_removed",
        payload={"index": index},
    )


# --- erasure -----------------------------------------------------------------------------------


def keep_table(
    session: Session, row: RequestPlan, *, actor: Actor, source: str, table: str, reason: str
) -> None:
    """Keep a whole table out of an erasure (the subject asked for less, legal claims)."""
    _expect(row, Right.erasure)
    env = Environment.current()

    def edit(plan: Any) -> None:
        erasure.exclude_table(plan, source=source, table=table, reason=reason)
        _replan_erasure(session, row, plan, env)

    service.revise(
        session,
        row,
        actor=actor,
        edit=edit,
        action="erasure.table_kept",
        payload={"source": source, "table": table},
        reason=reason,
    )


def erase_table(
    session: Session, row: RequestPlan, *, actor: Actor, source: str, table: str
) -> None:
    _expect(row, Right.erasure)
    env = Environment.current()

    def edit(plan: Any) -> None:
        erasure.include_table(plan, source=source, table=table)
        _replan_erasure(session, row, plan, env)

    service.revise(
        session,
        row,
        actor=actor,
        edit=edit,
        action="erasure.table_included",
        payload={"source": source, "table": table},
    )


def _replan_erasure(session: Session, row: RequestPlan, plan: Any, env: Environment) -> None:
    """Exclusions change which rows stay, and so which parents are kept: decide again."""
    request = _request(session, row)
    located = locate_subject(request, env, plan.header.selection.chosen)
    plan.tables = erasure.decide(
        env, located, plan.today, erasure.exclusions({"tables": [t.as_dict() for t in plan.tables]})
    )


# --- rectification -------------------------------------------------------------------------------


def add_correction(
    session: Session,
    row: RequestPlan,
    *,
    actor: Actor,
    source: str,
    table: str,
    column: str,
    key: Sequence[Any] | None,
    proposed: str,
) -> None:
    _expect(row, Right.rectification)
    service.revise(
        session,
        row,
        actor=actor,
        edit=lambda plan: rectification.add_correction(
            plan, source=source, table=table, column=column, key=key, proposed=proposed
        ),
        action="rectification.correction_added",
        payload={"source": source, "table": table, "column": column},
    )


def decide_correction(
    session: Session,
    row: RequestPlan,
    *,
    actor: Actor,
    correction_id: int,
    decision: str,
    value: str | None,
    reason: str,
) -> None:
    _expect(row, Right.rectification)
    env = Environment.current()
    service.revise(
        session,
        row,
        actor=actor,
        edit=lambda plan: rectification.decide(
            plan,
            correction_id,
            decision=decision,
            value=value,
            reason=reason,
            by=actor.label,
            env=env,
        ),
        action="rectification.decided",
        payload={"correction": correction_id, "decision": decision},
        reason=reason or None,
    )


def add_statement(
    session: Session, row: RequestPlan, *, actor: Actor, text: str, about: str = ""
) -> None:
    _expect(row, Right.rectification)
    service.revise(
        session,
        row,
        actor=actor,
        edit=lambda plan: rectification.add_statement(plan, text=text, about=about, by=actor.label),
        action="rectification.statement_recorded",
        payload={"about": about},
    )


def restrict_while_checking(session: Session, row: RequestPlan, *, actor: Actor) -> None:
    """The subject asked: restrict the contested data until it is corrected (18(1)(a))."""
    _expect(row, Right.rectification)
    env = Environment.current()
    request = _request(session, row)
    # It writes to the customer's systems at once, so it needs what running a plan needs.
    workflow.require_open(request)
    service.check_identity(request)
    service.revise(
        session,
        row,
        actor=actor,
        edit=lambda plan: rectification.restrict_while_checking(
            session, request, plan, env, actor=actor, now=utcnow()
        ),
        action=None,
    )


# --- restriction, and lifting any plan's restriction -----------------------------------------


def restrict_tables(
    session: Session, row: RequestPlan, *, actor: Actor, tables: Sequence[tuple[str, str]]
) -> None:
    _expect(row, Right.restriction)
    chosen = set(tables)

    def edit(plan: Any) -> None:
        for entry in plan.tables:
            restriction.set_included(
                plan,
                source=entry["source"],
                table=entry["table"],
                included=(entry["source"], entry["table"]) in chosen,
            )

    service.revise(
        session,
        row,
        actor=actor,
        edit=edit,
        action="restriction.scope_set",
        payload={"tables": sorted(f"{s}.{t}" for s, t in chosen)},
    )


def _restriction_of(outcome: Any) -> restriction.Restricted:
    restricted = getattr(outcome, "restriction", None)
    if restricted is None:
        raise WorkflowError(_l("Nothing is restricted by this plan."))
    return restricted


def _restriction_holder(row: RequestPlan) -> str:
    """Where a plan keeps its restriction: executed plans in the outcome, a rectification
    still being decided in the plan."""
    if row.state == PlanState.executed:
        return "outcome"
    if row.right == Right.rectification and row.state == PlanState.draft:
        return "plan"
    raise WorkflowError(_l("Nothing is restricted by this plan."))


def send_lift_notice(session: Session, row: RequestPlan, *, actor: Actor, reason: str) -> None:
    """Tell the subject the restriction will be lifted (Art. 18(3)), and log it."""
    _expect(row, Right.restriction, Right.rectification, Right.objection)
    request = _request(session, row)
    now = utcnow()
    if _restriction_holder(row) == "plan":
        raise WorkflowError(_l("Execute the corrections first; then lift the restriction."))
    service.update_outcome(
        session,
        row,
        actor=actor,
        edit=lambda outcome: restriction.send_lift_notice(
            session, request, _restriction_of(outcome), reason=reason, actor=actor, now=now
        ),
        action=None,
    )


def lift_restriction(session: Session, row: RequestPlan, *, actor: Actor) -> None:
    """Lift the restriction; refused until the subject has been told."""
    _expect(row, Right.restriction, Right.rectification, Right.objection)
    request = _request(session, row)
    env = Environment.current()
    now = utcnow()
    if _restriction_holder(row) == "plan":
        raise WorkflowError(_l("Execute the corrections first; then lift the restriction."))
    service.update_outcome(
        session,
        row,
        actor=actor,
        edit=lambda outcome: restriction.lift(
            session, request, env, _restriction_of(outcome), actor=actor, now=now
        ),
        action=None,
    )


# --- objection and consent withdrawal ----------------------------------------------------------


def select_purposes(
    session: Session, row: RequestPlan, *, actor: Actor, keys: Sequence[str]
) -> None:
    _expect(row, Right.objection, Right.consent_withdrawal)
    service.revise(
        session,
        row,
        actor=actor,
        edit=lambda plan: objection.select_purposes(plan, keys),
        action="plan.purposes_chosen",
        payload={"purposes": sorted(keys)},
    )


def decide_objection(
    session: Session, row: RequestPlan, *, actor: Actor, purpose: str, decision: str, reasoning: str
) -> None:
    _expect(row, Right.objection)
    request = _request(session, row)
    service.update_outcome(
        session,
        row,
        actor=actor,
        edit=lambda outcome: objection.decide_purpose(
            outcome,
            purpose,
            decision=decision,
            reasoning=reasoning,
            by=actor.label,
            session=session,
            request=request,
        ),
        action="objection.decided",
        payload={"purpose": purpose, "decision": decision},
        reason=reasoning,
    )


def stop_marketing_now(session: Session, row: RequestPlan, *, actor: Actor) -> None:
    """Direct marketing: approve and execute at once; there is nothing to weigh (21(3))."""
    _expect(row, Right.objection)
    plan = service.load(row)
    if not plan.direct_marketing:
        raise WorkflowError(_l("Only an objection to direct marketing is carried out at once."))
    if row.state == PlanState.draft:
        service.approve(session, row, actor=actor)
    service.execute(session, row, actor=actor)


def decline_erasure(
    session: Session, row: RequestPlan, *, actor: Actor, source: str, table: str, reason: str
) -> None:
    _expect(row, Right.consent_withdrawal)
    service.revise(
        session,
        row,
        actor=actor,
        edit=lambda plan: consent.decline_erasure(plan, source=source, table=table, reason=reason),
        action="consent.erasure_declined",
        payload={"source": source, "table": table},
        reason=reason,
    )


# --- portability ---------------------------------------------------------------------------------


def send_again(session: Session, row: RequestPlan, *, actor: Actor) -> None:
    _expect(row, Right.portability)
    request = _request(session, row)
    env = Environment.current()
    service.update_outcome(
        session,
        row,
        actor=actor,
        edit=lambda outcome: portability.send(session, request, outcome, env, actor=actor),
        action=None,
    )


def offer_download(session: Session, row: RequestPlan, *, actor: Actor, note: str) -> None:
    _expect(row, Right.portability)
    service.update_outcome(
        session,
        row,
        actor=actor,
        edit=lambda outcome: portability.as_download(outcome, note),
        action="portability.offered_as_download",
        reason=note,
    )


# --- human review --------------------------------------------------------------------------------


def choose_decisions(
    session: Session, row: RequestPlan, *, actor: Actor, names: Sequence[str]
) -> None:
    _expect(row, Right.human_review)
    service.revise(
        session,
        row,
        actor=actor,
        edit=lambda plan: review_module.choose_decisions(plan, names),
        action="review.decision_chosen",
        payload={"decisions": list(names)},
    )


def conclude_review(
    session: Session,
    row: RequestPlan,
    *,
    actor: Actor,
    result: str,
    explanation: str,
    now: datetime | None = None,
) -> None:
    _expect(row, Right.human_review)
    request = _request(session, row)
    service.update_outcome(
        session,
        row,
        actor=actor,
        edit=lambda outcome: review_module.conclude(
            session, request, outcome, result=result, explanation=explanation, actor=actor, now=now
        ),
        action=None,
    )
