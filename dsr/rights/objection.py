"""Objection (Art. 21), per purpose of the profile.

**Direct marketing** (21(2)-(3)) is stopped at once and without conditions: the address goes
on the suppression list (``dsr.suppression``), the marketing consent columns the data map
names are cleared in the sources, and the recipients that send marketing get their "stop"
tasks. A handler may run it straight from the draft: there is nothing to weigh.

**Other processing** on legitimate interests or a public task (21(1)): the handler picks the
purposes objected to; executing restricts the records those purposes use while the handler
weighs the objection (Art. 18(1)(d)). Then, per purpose, the handler records either
compelling legitimate grounds (or legal claims) that override the subject's, after which the
restriction is lifted with notice, or that the processing stops, for which a task is made
and the restriction stays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from dsr import audit, suppression
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import ManualTask, Request, RequestPlan, Right, SuppressionReason, TaskKind
from dsr.profiles import LegalBasis, Profile
from dsr.rights.access import manual_task_list
from dsr.rights.base import (
    Environment,
    Header,
    Located,
    RightHandler,
    Run,
    iso,
    json_key,
    locate_subject,
)
from dsr.rights.restriction import Restricted, restrict
from dsr.rights.sourcewrite import (
    AfterSource,
    Count,
    SourceSession,
    change_column_per_source,
    cleared_for,
)
from dsr.sources.datamap import TableMap
from dsr.workflow import WorkflowError

OBJECTABLE = (LegalBasis.legitimate_interests, LegalBasis.public_task)


def purpose_entry(profile: Profile, key: str, selected: bool) -> dict[str, Any]:
    purpose = profile.purposes[key]
    return {
        "key": key,
        "description": purpose.description,
        "basis": purpose.basis.value,
        "interest": purpose.interest,
        "direct_marketing": purpose.direct_marketing,
        "selected": selected,
        "decision": "",
        "reasoning": "",
        "decided_by": "",
        "decided_at": None,
    }


def marketing_targets(located: Located, purposes: set[str]) -> list[dict[str, Any]]:
    """Marketing consent columns serving ``purposes``, with the subject's records."""
    found = []
    for source, table_result, records in located.tables():
        table = table_result.table
        column = table.marketing_consent_column
        if not records or not column or table.columns[column].purpose not in purposes:
            continue
        found.append(
            {
                "source": source.name,
                "source_label": source.source.label or source.name,
                "table": table.name,
                "label": table.label or table.name,
                "column": column,
                "keys": [json_key(r) for r in records],
            }
        )
    return found


def purpose_targets(located: Located, purposes: set[str]) -> list[dict[str, Any]]:
    """Tables with columns serving ``purposes`` and the subject's records in them."""
    found = []
    for source, table_result, records in located.tables():
        table = table_result.table
        if not records or not {c.purpose for c in table.columns.values()} & purposes:
            continue
        found.append(
            {
                "source": source.name,
                "source_label": source.source.label or source.name,
                "table": table.name,
                "label": table.label or table.name,
                "column": table.restriction_column,
                "keys": [json_key(r) for r in records],
                "included": True,
            }
        )
    return found


def clear_marketing(
    env: Environment,
    entries: Sequence[Mapping[str, Any]],
    after_source: AfterSource | None = None,
) -> list[dict[str, Any]]:
    """Clear the marketing consent of the subject's records, one transaction per source.

    ``after_source(name, counts)`` runs once each source has committed.
    """

    def clear(writer: SourceSession, mapped: TableMap, entry: Mapping[str, Any]) -> Count:
        column = writer.column(mapped, entry["column"])
        keys = writer.typed_keys(mapped, entry["keys"])
        return writer.set_column(mapped, keys, entry["column"], cleared_for(column))

    return change_column_per_source(env, entries, clear, after_source)


def cleared_in(
    session: Session,
    request: Request,
    actor: Actor,
    now: datetime,
    commit: Callable[[], None] | None,
) -> Callable[[str, list[dict[str, Any]]], None]:
    """Log each source's cleared consents once it has committed (and commit the log)."""

    def record(source_name: str, counts: list[dict[str, Any]]) -> None:
        audit.record(
            session,
            "marketing.cleared",
            actor,
            request=request,
            payload={
                "source": source_name,
                "tables": [{"table": c["table"], "changed": c["changed"]} for c in counts],
            },
            at=now,
        )
        if commit is not None:
            commit()

    return record


def stop_task(session: Session, request: Request, description: str, text: str) -> ManualTask:
    """A task to stop one processing by hand (idempotent per purpose)."""
    target = description[:200]
    existing = session.scalars(
        select(ManualTask).where(
            ManualTask.request_id == request.id,
            ManualTask.kind == TaskKind.other,
            ManualTask.target == target,
        )
    ).first()
    if existing is not None:
        return existing
    task = ManualTask(request_id=request.id, kind=TaskKind.other, target=target, instructions=text)
    try:
        with session.begin_nested():
            session.add(task)
    except IntegrityError:
        found = session.scalars(
            select(ManualTask).where(
                ManualTask.request_id == request.id,
                ManualTask.kind == TaskKind.other,
                ManualTask.target == target,
            )
        ).one()
        return found
    return task


def stop_direct_marketing(
    session: Session,
    request: Request,
    env: Environment,
    located: Located,
    purposes: set[str],
    *,
    actor: Actor,
    reason: SuppressionReason,
    now: datetime,
    commit: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Suppression list, consent columns cleared; returns what was done."""
    suppressed = False
    if request.subject_email:
        suppression.suppress(
            session, request.subject_email, reason=reason, actor=actor, request=request, now=now
        )
        suppressed = True
    cleared = clear_marketing(
        env,
        marketing_targets(located, purposes),
        cleared_in(session, request, actor, now, commit),
    )
    audit.record(
        session,
        "marketing.stopped",
        actor,
        request=request,
        payload={
            "purposes": sorted(purposes),
            "suppressed": suppressed,
            "cleared": [
                {"source": c["source"], "table": c["table"], "changed": c["changed"]}
                for c in cleared
            ],
        },
        public=True,
        at=now,
    )
    return {"suppressed": suppressed, "cleared": cleared}


@dataclass
class ObjectionPlan:
    header: Header
    #: ``direct_marketing`` or ``other_processing``.
    objection_to: str
    processing: str | None
    grounds: str | None
    purposes: list[dict[str, Any]]
    #: Direct marketing: the consent columns that will be cleared.
    marketing: list[dict[str, Any]] = field(default_factory=list)

    @property
    def direct_marketing(self) -> bool:
        return self.objection_to == "direct_marketing"

    def selected(self) -> set[str]:
        return {p["key"] for p in self.purposes if p["selected"]}

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "objection_to": self.objection_to,
            "processing": self.processing,
            "grounds": self.grounds,
            "purposes": [dict(p) for p in self.purposes],
            "marketing": [dict(m) for m in self.marketing],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectionPlan:
        return cls(
            header=Header.from_dict(data),
            objection_to=data.get("objection_to") or "direct_marketing",
            processing=data.get("processing"),
            grounds=data.get("grounds"),
            purposes=[dict(p) for p in data.get("purposes", [])],
            marketing=[dict(m) for m in data.get("marketing", [])],
        )


@dataclass
class ObjectionOutcome:
    reference: str
    executed_at: datetime
    plan_sha256: str
    objection_to: str
    #: Per purpose: key, description, and (other processing) the decision and reasoning.
    purposes: list[dict[str, Any]]
    suppressed: bool
    cleared: list[dict[str, Any]]
    restriction: Restricted | None
    manual_tasks: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "right": Right.objection.value,
            "reference": self.reference,
            "executed_at": self.executed_at.isoformat(),
            "plan_sha256": self.plan_sha256,
            "objection_to": self.objection_to,
            "purposes": [dict(p) for p in self.purposes],
            "suppressed": self.suppressed,
            "cleared": list(self.cleared),
            "restriction": self.restriction.as_dict() if self.restriction else None,
            "manual_tasks": list(self.manual_tasks),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectionOutcome:
        return cls(
            reference=data["reference"],
            executed_at=datetime.fromisoformat(data["executed_at"]),
            plan_sha256=data.get("plan_sha256", ""),
            objection_to=data["objection_to"],
            purposes=[dict(p) for p in data.get("purposes", [])],
            suppressed=bool(data.get("suppressed")),
            cleared=list(data.get("cleared", [])),
            restriction=Restricted.from_dict(data["restriction"])
            if data.get("restriction")
            else None,
            manual_tasks=list(data.get("manual_tasks", [])),
        )


def select_purposes(plan: Any, keys: Sequence[str]) -> None:
    """Mark which of the plan's purposes the subject objects to (or withdrew consent for)."""
    known = {p["key"] for p in plan.purposes}
    unknown = set(keys) - known
    if unknown:
        raise WorkflowError(_l("That purpose is not in the plan."))
    for purpose in plan.purposes:
        purpose["selected"] = purpose["key"] in keys or (
            getattr(plan, "direct_marketing", False) and purpose["direct_marketing"]
        )


def decide_purpose(
    outcome: ObjectionOutcome,
    key: str,
    *,
    decision: str,
    reasoning: str,
    by: str,
    session: Session,
    request: Request,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record the decision on an objection to one purpose (Art. 21(1))."""
    reasoning = (reasoning or "").strip()
    if decision not in ("stop", "compelling_grounds"):
        raise WorkflowError(_l("Choose: stop the processing, or compelling legitimate grounds."))
    if not reasoning:
        raise WorkflowError(_l("Write the reasoning; it is the controller's proof."))
    purpose = next((p for p in outcome.purposes if p["key"] == key and p["selected"]), None)
    if purpose is None:
        raise WorkflowError(_l("That purpose is not objected to in this request."))
    if purpose["decision"]:
        raise WorkflowError(_l("That purpose has already been decided."))
    purpose.update(
        decision=decision, reasoning=reasoning, decided_by=by, decided_at=iso(now or utcnow())
    )
    if decision == "stop":
        task = stop_task(
            session,
            request,
            purpose["description"],
            str(
                _l(
                    "The subject objected and the processing stops: make sure their data is no longer used for this purpose, and note how."
                )
            ),
        )
        outcome.manual_tasks.append({"id": task.id, "kind": task.kind.value, "target": task.target})
    return purpose


class ObjectionHandler(RightHandler):
    right = Right.objection
    writes_sources = True

    @classmethod
    def plan(
        cls,
        session: Session,
        request: Request,
        *,
        env: Environment | None = None,
        chosen: Sequence[str] = (),
        previous: Mapping[str, Any] | None = None,
    ) -> ObjectionPlan:
        env = env or Environment.current()
        located = locate_subject(request, env, chosen)
        details = request.details or {}
        target = (
            "other_processing"
            if details.get("objection_to") == "other_processing"
            else "direct_marketing"
        )
        selected_before = {
            p["key"] for p in (previous or {}).get("purposes", []) if p.get("selected")
        }
        if target == "direct_marketing":
            purposes = [
                purpose_entry(env.profile, k, True)
                for k, p in env.profile.purposes.items()
                if p.direct_marketing
            ]
        else:
            purposes = [
                purpose_entry(env.profile, k, k in selected_before)
                for k, p in env.profile.purposes.items()
                if p.basis in OBJECTABLE and not p.direct_marketing
            ]
        dm = {p["key"] for p in purposes if p["direct_marketing"]}
        return ObjectionPlan(
            header=Header.build(request, env, located),
            objection_to=target,
            processing=details.get("processing"),
            grounds=details.get("grounds"),
            purposes=purposes,
            marketing=marketing_targets(located, dm) if target == "direct_marketing" else [],
        )

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> ObjectionPlan:
        return ObjectionPlan.from_dict(data)

    @classmethod
    def load_outcome(cls, data: Mapping[str, Any]) -> ObjectionOutcome:
        return ObjectionOutcome.from_dict(data)

    @classmethod
    def blockers(cls, plan: ObjectionPlan) -> list[str]:
        found = list(plan.header.blockers())
        if not plan.direct_marketing and not plan.selected():
            found.append(str(_l("Choose the purposes the subject objects to.")))
        return found

    @classmethod
    def execute(
        cls, session: Session, request: Request, plan: ObjectionPlan, *, run: Run
    ) -> ObjectionOutcome:
        located = locate_subject(request, run.env, plan.header.selection.chosen)
        selected = plan.selected()
        suppressed, cleared, restricted = False, [], None
        if plan.direct_marketing:
            stopped = stop_direct_marketing(
                session,
                request,
                run.env,
                located,
                selected,
                actor=run.actor,
                reason=SuppressionReason.objection,
                now=run.now,
                commit=run.commit,
            )
            suppressed, cleared = stopped["suppressed"], stopped["cleared"]
        else:
            restricted = restrict(
                session,
                request,
                run.env,
                purpose_targets(located, selected),
                actor=run.actor,
                now=run.now,
                why="Art. 18(1)(d): objection pending",
                commit=run.commit,
            )
        return ObjectionOutcome(
            reference=request.reference,
            executed_at=run.now,
            plan_sha256=run.row.plan_sha256 or "",
            objection_to=plan.objection_to,
            purposes=[dict(p) for p in plan.purposes if p["selected"]],
            suppressed=suppressed,
            cleared=cleared,
            restriction=restricted,
            manual_tasks=manual_task_list(run),
        )

    @classmethod
    def completion_problem(cls, session: Session, row: RequestPlan) -> str | None:
        outcome = row.outcome or {}
        if outcome.get("objection_to") != "other_processing":
            return None
        purposes = outcome.get("purposes", [])
        if any(not p.get("decision") for p in purposes):
            return str(_l("Decide the objection for every purpose objected to."))
        restriction = outcome.get("restriction") or {}
        overridden = any(p["decision"] == "compelling_grounds" for p in purposes)
        if overridden and restriction and not restriction.get("lifted_at"):
            return str(
                _l(
                    "Processing continues on compelling grounds: tell the subject and lift the restriction."
                )
            )
        return None

    @classmethod
    def summary(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "objection_to": data.get("objection_to"),
            "purposes": sorted(p["key"] for p in data.get("purposes", []) if p.get("selected")),
        }
