"""Restriction (Art. 18): mark the subject's data as only stored, and lift it only after notice.

Where the data map names a ``restriction_column`` the subject's rows get the moment of
restriction there (or ``true``), one transaction per source; elsewhere a handler marks them
by hand through a manual task. Lifting a restriction needs a notice to the subject first
(Art. 18(3)): :func:`send_lift_notice` queues it and logs it, and :func:`lift` refuses until
that notice exists. Rectification (while accuracy is contested, 18(1)(a)) and objection
(while the handler weighs the grounds, 18(1)(d)) restrict and lift through the same
functions.
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

from dsr import audit, identity, notifications
from dsr.audit import Actor
from dsr.models import ManualTask, Request, RequestPlan, Right, TaskKind
from dsr.rights.access import manual_task_list
from dsr.rights.base import (
    Environment,
    Header,
    Located,
    RightHandler,
    Run,
    json_key,
    locate_subject,
)
from dsr.rights.sourcewrite import (
    AfterSource,
    Count,
    SourceSession,
    change_column_per_source,
    cleared_for,
    moment_for,
)
from dsr.sources.datamap import TableMap
from dsr.workflow import WorkflowError

GROUNDS = ("accuracy_contested", "unlawful_processing", "legal_claims", "objection_pending")


def targets(
    located: Located, tables: Sequence[tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    """The subject's records per table that can be restricted (``tables``: only those)."""
    found = []
    for source, table_result, records in located.tables():
        table = table_result.table
        if not records or (tables is not None and (source.name, table.name) not in tables):
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


def _by_source(entries: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault(entry["source"], []).append(entry)
    return grouped


def _mark(column: str, value: Any) -> Callable[[Any, Mapping[str, Any]], dict[str, Any]]:
    def intended(key: Any, row: Mapping[str, Any]) -> dict[str, Any]:
        return {} if row.get(column) not in (None, False, 0) else {column: value}

    return intended


def write_marks(
    env: Environment,
    entries: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    lift: bool = False,
    after_source: AfterSource | None = None,
) -> list[dict[str, Any]]:
    """Set (or clear) the restriction columns, one transaction per source; counts per table.

    ``after_source(name, counts)`` runs once each source has committed.
    """

    def mark(writer: SourceSession, mapped: TableMap, entry: Mapping[str, Any]) -> Count:
        column = writer.column(mapped, entry["column"])
        keys = writer.typed_keys(mapped, entry["keys"])
        if lift:
            return writer.set_column(mapped, keys, entry["column"], cleared_for(column))
        # Rows restricted before keep their date: only unmarked rows change.
        return writer.set_values(
            mapped, keys, _mark(entry["column"], moment_for(column, now)), [entry["column"]]
        )

    return change_column_per_source(env, entries, mark, after_source)


def by_hand_tasks(
    session: Session,
    request: Request,
    entries: Sequence[Mapping[str, Any]],
    *,
    lift: bool = False,
) -> list[dict[str, Any]]:
    """Manual tasks for tables without a restriction column (idempotent)."""
    made = []
    for entry in entries:
        if entry.get("column"):
            continue
        target = f"{entry['source_label']}: {entry['label']}" + (" (lift)" if lift else "")
        existing = session.scalars(
            select(ManualTask).where(
                ManualTask.request_id == request.id,
                ManualTask.kind == (TaskKind.other if lift else TaskKind.restrict),
                ManualTask.target == target,
            )
        ).first()
        if existing is None:
            count = len(entry["keys"])
            if lift:
                text = str(
                    _l(
                        "Lift the restriction of the subject's %(count)d records in %(table)s, now that the subject has been told.",
                        count=count,
                        table=entry["label"],
                    )
                )
            else:
                text = str(
                    _l(
                        "%(table)s has no restriction column: mark the subject's %(count)d records as restricted by hand (only stored, not otherwise used) and note how.",
                        count=count,
                        table=entry["label"],
                    )
                )
            existing = ManualTask(
                request_id=request.id,
                kind=TaskKind.other if lift else TaskKind.restrict,
                target=target[:200],
                instructions=text,
            )
            try:
                with session.begin_nested():
                    session.add(existing)
            except IntegrityError:
                continue
        made.append({"id": existing.id, "source": entry["source"], "table": entry["table"]})
    return made


@dataclass
class Restricted:
    """Records restricted by a plan, and the notice and lifting that end the restriction."""

    restricted_at: str
    #: Per table: source, table, label, column (None: by hand), keys.
    entries: list[dict[str, Any]]
    marked: list[dict[str, Any]]
    by_hand: list[dict[str, Any]]
    notice_at: str | None = None
    notice_reason: str | None = None
    lifted_at: str | None = None
    lifted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.lifted_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "restricted_at": self.restricted_at,
            "entries": [dict(e) for e in self.entries],
            "marked": list(self.marked),
            "by_hand": list(self.by_hand),
            "notice_at": self.notice_at,
            "notice_reason": self.notice_reason,
            "lifted_at": self.lifted_at,
            "lifted": list(self.lifted),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Restricted:
        return cls(
            restricted_at=data["restricted_at"],
            entries=[dict(e) for e in data.get("entries", [])],
            marked=list(data.get("marked", [])),
            by_hand=list(data.get("by_hand", [])),
            notice_at=data.get("notice_at"),
            notice_reason=data.get("notice_reason"),
            lifted_at=data.get("lifted_at"),
            lifted=list(data.get("lifted", [])),
        )


def restrict(
    session: Session,
    request: Request,
    env: Environment,
    entries: Sequence[Mapping[str, Any]],
    *,
    actor: Actor,
    now: datetime,
    why: str,
    commit: Callable[[], None] | None = None,
) -> Restricted:
    """Restrict the records of ``entries`` and log it; returns what was done.

    ``commit`` (a plan's run) makes each source's change and its record durable together.
    """
    chosen = [dict(e) for e in entries if e.get("included", True)]

    def marked_in(source_name: str, counts: list[dict[str, Any]]) -> None:
        audit.record(
            session,
            "restriction.marked",
            actor,
            request=request,
            reason=why,
            payload={
                "source": source_name,
                "tables": [
                    {"table": c["table"], "changed": c["changed"], "already": c["already"]}
                    for c in counts
                ],
            },
            at=now,
        )
        if commit is not None:
            commit()

    marked = write_marks(env, chosen, now, after_source=marked_in)
    by_hand = by_hand_tasks(session, request, chosen)
    audit.record(
        session,
        "restriction.applied",
        actor,
        request=request,
        reason=why,
        payload={
            "marked": [
                {"source": m["source"], "table": m["table"], "changed": m["changed"]}
                for m in marked
            ],
            "by_hand": [{"source": b["source"], "table": b["table"]} for b in by_hand],
        },
        public=True,
        at=now,
    )
    return Restricted(now.isoformat(), chosen, marked, by_hand)


def send_lift_notice(
    session: Session,
    request: Request,
    restricted: Restricted,
    *,
    reason: str,
    actor: Actor,
    now: datetime,
) -> None:
    """Tell the subject the restriction is about to be lifted, and why (Art. 18(3))."""
    reason = (reason or "").strip()
    if not restricted.active:
        raise WorkflowError(_l("The restriction has already been lifted."))
    if not reason:
        raise WorkflowError(_l("Say why the restriction is lifted; the subject is told."))
    if not request.subject_email:
        raise WorkflowError(_l("There is no email address to send the notice to."))
    notifications.queue_email(
        session,
        "restriction_lift_notice",
        request.subject_email,
        language=request.language,
        context={
            "request": request,
            "reason": reason,
            "status_url": identity.status_url(session, request, now),
        },
        request=request,
        carries_secret=True,
    )
    restricted.notice_at = now.isoformat()
    restricted.notice_reason = reason
    audit.record(
        session,
        "restriction.lift_notice",
        actor,
        request=request,
        reason=reason,
        public=True,
        at=now,
    )


def lift(
    session: Session,
    request: Request,
    env: Environment,
    restricted: Restricted,
    *,
    actor: Actor,
    now: datetime,
) -> None:
    """Lift the restriction; refused unless the subject was told first."""
    if not restricted.active:
        raise WorkflowError(_l("The restriction has already been lifted."))
    if not restricted.notice_at:
        raise WorkflowError(
            _l("The subject must be told before the restriction is lifted (Art. 18(3)).")
        )
    restricted.lifted = write_marks(env, restricted.entries, now, lift=True)
    by_hand_tasks(session, request, restricted.entries, lift=True)
    restricted.lifted_at = now.isoformat()
    audit.record(
        session,
        "restriction.lifted",
        actor,
        request=request,
        reason=restricted.notice_reason,
        payload={
            "notice_at": restricted.notice_at,
            "lifted": [
                {"source": m["source"], "table": m["table"], "changed": m["changed"]}
                for m in restricted.lifted
            ],
        },
        public=True,
        at=now,
    )


# --- the right ---------------------------------------------------------------------------------


@dataclass
class RestrictionPlan:
    header: Header
    grounds: str | None
    data_to_restrict: str | None
    #: Per table: source, table, label, column (None: by hand), keys, included.
    tables: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "grounds": self.grounds,
            "data_to_restrict": self.data_to_restrict,
            "tables": [dict(t) for t in self.tables],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestrictionPlan:
        return cls(
            header=Header.from_dict(data),
            grounds=data.get("grounds"),
            data_to_restrict=data.get("data_to_restrict"),
            tables=[dict(t) for t in data.get("tables", [])],
        )


@dataclass
class RestrictionOutcome:
    reference: str
    executed_at: datetime
    plan_sha256: str
    grounds: str | None
    restriction: Restricted
    manual_tasks: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "right": Right.restriction.value,
            "reference": self.reference,
            "executed_at": self.executed_at.isoformat(),
            "plan_sha256": self.plan_sha256,
            "grounds": self.grounds,
            "restriction": self.restriction.as_dict(),
            "manual_tasks": list(self.manual_tasks),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestrictionOutcome:
        return cls(
            reference=data["reference"],
            executed_at=datetime.fromisoformat(data["executed_at"]),
            plan_sha256=data.get("plan_sha256", ""),
            grounds=data.get("grounds"),
            restriction=Restricted.from_dict(data["restriction"]),
            manual_tasks=list(data.get("manual_tasks", [])),
        )


def set_included(plan: RestrictionPlan, *, source: str, table: str, included: bool) -> None:
    for entry in plan.tables:
        if (entry["source"], entry["table"]) == (source, table):
            entry["included"] = included
            return
    raise WorkflowError(_l("That table is not in the plan."))


class RestrictionHandler(RightHandler):
    right = Right.restriction
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
    ) -> RestrictionPlan:
        env = env or Environment.current()
        located = locate_subject(request, env, chosen)
        details = request.details or {}
        tables = targets(located)
        if previous:
            left_out = {
                (t["source"], t["table"])
                for t in previous.get("tables", [])
                if not t.get("included", True)
            }
            for entry in tables:
                entry["included"] = (entry["source"], entry["table"]) not in left_out
        grounds = details.get("grounds")
        return RestrictionPlan(
            header=Header.build(request, env, located),
            grounds=grounds if grounds in GROUNDS else None,
            data_to_restrict=details.get("data_to_restrict"),
            tables=tables,
        )

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> RestrictionPlan:
        return RestrictionPlan.from_dict(data)

    @classmethod
    def load_outcome(cls, data: Mapping[str, Any]) -> RestrictionOutcome:
        return RestrictionOutcome.from_dict(data)

    @classmethod
    def blockers(cls, plan: RestrictionPlan) -> list[str]:
        found = list(plan.header.blockers())
        if plan.tables and not any(t.get("included", True) for t in plan.tables):
            found.append(str(_l("Choose at least one table to restrict.")))
        return found

    @classmethod
    def execute(
        cls, session: Session, request: Request, plan: RestrictionPlan, *, run: Run
    ) -> RestrictionOutcome:
        located = locate_subject(request, run.env, plan.header.selection.chosen)
        wanted = [(t["source"], t["table"]) for t in plan.tables if t.get("included", True)]
        restricted = restrict(
            session,
            request,
            run.env,
            targets(located, wanted),
            actor=run.actor,
            now=run.now,
            why=f"Art. 18(1): {plan.grounds or '-'}",
            commit=run.commit,
        )
        return RestrictionOutcome(
            reference=request.reference,
            executed_at=run.now,
            plan_sha256=run.row.plan_sha256 or "",
            grounds=plan.grounds,
            restriction=restricted,
            manual_tasks=manual_task_list(run),
        )

    @classmethod
    def changed_categories(cls, row: RequestPlan) -> list[str]:
        return _categories(row.plan.get("tables", []))

    @classmethod
    def summary(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        tables = [t for t in data.get("tables", []) if t.get("included", True)]
        return {"tables": len(tables), "records": sum(len(t["keys"]) for t in tables)}


def _categories(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    from dsr.profiles import current_profile

    profile = current_profile()
    found: set[str] = set()
    for entry in entries:
        if not entry.get("included", True):
            continue
        try:
            mapped = profile.source(entry["source"]).table(entry["table"])
        except KeyError:
            continue
        found |= {c.category for c in mapped.columns.values()}
    return sorted(found)
