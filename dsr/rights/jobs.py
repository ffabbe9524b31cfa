"""The rights' timed work, as plain jobs ``fn(session, now, config) -> int``.

- :func:`run_due_erasures`: approved erasures whose grace period is over, and runs a crash
  interrupted (every minute).
- :func:`run_erasure_followups`: records an erasure kept by law, erased on the day after
  their end date (daily).

Unlike most jobs these commit as they go, one erasure batch or follow-up at a time: a
source's change and the record of it must not come apart (see ``dsr.rights.erasure``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from dsr import audit
from dsr.audit import Actor
from dsr.models import ErasureFollowup, PlanState, Request, RequestPlan, Right
from dsr.rights.base import Environment
from dsr.rights.erasure import apply_step, local_today
from dsr.rights.sourcewrite import SourceWriteError
from dsr.workflow import WorkflowError

log = logging.getLogger(__name__)


def run_due_erasures(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Job: run approved erasures whose grace period is over, and resume crashed ones.

    Suggested schedule: every minute. A run commits batch by batch (see the module); a plan
    that cannot run now (a source down, the request closed) is logged and tried next time.
    """
    from dsr.rights import service

    env = Environment.for_job(config)
    due = session.scalars(
        select(RequestPlan)
        .where(
            RequestPlan.right == Right.erasure,
            (
                (col(RequestPlan.state) == PlanState.approved)
                & (col(RequestPlan.execute_after) <= now)
            )
            | (
                (col(RequestPlan.state) == PlanState.executing)
                & (
                    col(RequestPlan.claimed_until).is_(None)
                    | (col(RequestPlan.claimed_until) < now)
                )
            ),
        )
        .order_by(col(RequestPlan.execute_after), col(RequestPlan.id))
    ).all()
    done = 0
    for row in due:
        try:
            service.execute(
                session, row, actor=Actor.system("scheduler"), env=env, now=now, owner="scheduler"
            )
        except WorkflowError as exc:
            session.rollback()
            log.warning("erasure plan %s not run: %s", row.id, exc)
            _hold(session, row, str(exc), now)
            continue
        session.commit()
        done += 1
    return done


def _hold(session: Session, row: RequestPlan, reason: str, now: datetime) -> None:
    """Show staff why an approved erasure is not running (the identity bar was raised, the
    request closed): on the plan, and once per reason in the audit log, not every minute.
    The plan stays approved and runs as soon as what stopped it is put right."""
    session.refresh(row)
    if row.error == reason:
        return
    row.error = reason
    row.updated_at = now
    session.add(row)
    audit.record(
        session,
        "plan.held",
        Actor.system("scheduler"),
        request=session.get(Request, row.request_id),
        reason=reason,
        payload={"plan": row.number},
        at=now,
    )
    session.commit()


def run_erasure_followups(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Job: erase kept records on the day after their end date; returns follow-ups done.

    Suggested schedule: daily. Each follow-up changes one table of one source in one
    transaction and is committed with its audit event at once, for the same reason as an
    erasure batch: the source's change and its record must not come apart.
    """
    env = Environment.for_job(config)
    today = local_today(env, now)
    owner = f"followups:{id(session)}"
    due = session.scalars(
        select(ErasureFollowup)
        .where(col(ErasureFollowup.done_at).is_(None), col(ErasureFollowup.due_on) < today)
        .order_by(
            col(ErasureFollowup.due_on),
            col(ErasureFollowup.plan_id),
            col(ErasureFollowup.position),
        )
    ).all()
    done = 0
    for followup in due:
        claimed = session.execute(
            update(ErasureFollowup)
            .where(
                col(ErasureFollowup.id) == followup.id,
                col(ErasureFollowup.done_at).is_(None),
                col(ErasureFollowup.claimed_until).is_(None)
                | (col(ErasureFollowup.claimed_until) < now),
            )
            .values(claimed_by=owner, claimed_until=now + timedelta(minutes=10))
            .execution_options(synchronize_session=False)
        )
        if not getattr(claimed, "rowcount", 0):
            continue
        session.commit()
        request = session.get(Request, followup.request_id)
        step = {
            "source": followup.source,
            "table": followup.table_name,
            "action": followup.action.value,
        }
        try:
            count = apply_step(env, step, followup.keys)
        except (SourceWriteError, KeyError) as exc:
            audit.record(
                session,
                "erasure.followup_failed",
                Actor.system("scheduler"),
                request=request,
                reason=f"{followup.source}.{followup.table_name}: {exc}",
                payload={"followup": followup.id},
                at=now,
            )
            followup.claimed_until = None
            session.add(followup)
            session.commit()
            continue
        followup.done_at = now
        followup.outcome = count.as_dict()
        followup.claimed_until = None
        session.add(followup)
        audit.record(
            session,
            "erasure.followup",
            Actor.system("scheduler"),
            request=request,
            payload={
                "followup": followup.id,
                "source": followup.source,
                "table": followup.table_name,
                "action": followup.action.value,
                "due_on": followup.due_on.isoformat(),
                "basis": followup.basis,
                **count.as_dict(),
            },
            at=now,
        )
        session.commit()
        done += 1
    return done
