"""Systems without a connection: the work a handler does there by hand, as tasks.

A processor's web console, a paper archive or a marketing agency cannot be searched or
changed by the service. The profile says, per system, what to do there for each kind of
task; a request then gets one :class:`~dsr.models.ManualTask` per system and kind that its
right calls for, so the answer covers those systems too and nothing is forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from dsr import audit
from dsr.audit import Actor
from dsr.models import ManualTask, Request, Right, TaskKind
from dsr.profiles import ManualSystem, Profile, Recipient

#: The manual work each right calls for.
RIGHT_TASKS: Mapping[Right, tuple[TaskKind, ...]] = {
    Right.access: (TaskKind.locate,),
    Right.portability: (TaskKind.locate,),
    # Art. 19: every recipient hears of a rectification, erasure or restriction.
    Right.rectification: (TaskKind.rectify, TaskKind.notify),
    Right.erasure: (TaskKind.erase, TaskKind.notify),
    Right.restriction: (TaskKind.restrict, TaskKind.notify),
    # Stop the processing objected to, or the processing consented to ("stop" in profiles).
    Right.objection: (TaskKind.other,),
    Right.consent_withdrawal: (TaskKind.other,),
    Right.human_review: (TaskKind.review,),
}


@dataclass(frozen=True)
class PlannedTask:
    kind: TaskKind
    #: The system, recipient or automated decision the task is about.
    target: str
    instructions: str


def planned_tasks(profile: Profile, right: Right) -> list[PlannedTask]:
    """The manual tasks a request for ``right`` needs under ``profile``, in profile order."""
    kinds = RIGHT_TASKS[right]
    planned: list[PlannedTask] = []
    holders: list[ManualSystem | Recipient] = [*profile.manual_systems, *profile.recipients]
    for holder in holders:
        for kind in kinds:
            text = holder.tasks.get(kind, "")
            if kind is TaskKind.notify:
                if not (isinstance(holder, Recipient) and holder.notify_changes):
                    continue
                text = text or profile.notify_instructions.replace("{recipient}", holder.name)
            if text:
                planned.append(PlannedTask(kind, holder.name, text))
    if TaskKind.review in kinds:
        for decision in profile.automated_decisions:
            planned.append(PlannedTask(TaskKind.review, decision.name, decision.review))
    return planned


def create_manual_tasks(
    session: Session,
    request: Request,
    profile: Profile,
    right: Right | None = None,
    *,
    actor: Actor | None = None,
) -> list[ManualTask]:
    """Add the manual tasks ``right`` (default: the request's) needs; returns the new ones.

    Idempotent: a task for the same kind and target is never added twice, whatever its
    status, and the database's unique index settles two handlers doing this at once.
    """
    right = right or request.right
    if request.id is None:
        session.flush()
    existing = {
        (task.kind, task.target)
        for task in session.scalars(select(ManualTask).where(ManualTask.request_id == request.id))
    }
    created: list[ManualTask] = []
    for plan in planned_tasks(profile, right):
        if (plan.kind, plan.target) in existing:
            continue
        existing.add((plan.kind, plan.target))
        task = ManualTask(
            request_id=request.id,
            kind=plan.kind,
            target=plan.target,
            instructions=plan.instructions,
        )
        try:
            with session.begin_nested():
                session.add(task)
        except IntegrityError:
            continue  # someone else added it a moment ago
        created.append(task)
    if created:
        audit.record(
            session,
            "tasks.created",
            actor or Actor.system("sources"),
            request=request,
            payload={
                "right": right.value,
                "tasks": [{"kind": t.kind.value, "target": t.target} for t in created],
            },
        )
    return created
