"""Access (Art. 15): a copy of everything found, and what Art. 15(1)-(2) says must go with it.

The plan lists every table that holds the subject's records (keys, not values) and the
manual tasks for systems without a connection. Before approving, the handler may redact a
field or a whole record that carries others' data or trade secrets (Art. 15(4), Recital 63),
giving a reason; each redaction is logged. Executing locates the subject again, applies the
redactions and produces the answer content: the Art. 15 information and, per table, the
records to show, which the exports read table by table (``dsr.rights.content``).

Data a source holds on behalf of another controller (the table's ``on_behalf_of``, and rows
reached only through such a table) is not disclosed here: the subject is told to ask that
controller, whose processor this controller is for that data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlmodel import Session, col

from dsr import audit
from dsr.db import utcnow
from dsr.models import Request, RequestPlan, Right
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
from dsr.rights.content import AnswerTable, TableContent, answer_tables, column_info
from dsr.rights.information import information
from dsr.rights.sourcewrite import key_text
from dsr.sources.datamap import SourceMap, TableMap
from dsr.sources.results import Record
from dsr.workflow import WorkflowError


@dataclass(frozen=True)
class Redaction:
    source: str
    table: str
    key: list[Any]
    #: None: the whole record is left out.
    column: str | None
    reason: str
    by: str
    at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "table": self.table,
            "key": list(self.key),
            "column": self.column,
            "reason": self.reason,
            "by": self.by,
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Redaction:
        return cls(
            data["source"],
            data["table"],
            list(data["key"]),
            data.get("column"),
            data["reason"],
            data.get("by", ""),
            data.get("at", ""),
        )


def on_behalf_of(source: SourceMap, table: TableMap, record: Record) -> str:
    """The other controller a record is processed for, or "" when it is this controller's."""
    if table.on_behalf_of:
        return table.on_behalf_of
    if not record.people:
        return ""
    controllers = set()
    for person in record.people:
        name = person.split(":", 1)[0]
        try:
            controllers.add(source.table(name).on_behalf_of)
        except KeyError:
            controllers.add("")
    return next(iter(controllers)) if len(controllers) == 1 else ""


def split_found(
    env: Environment, located: Located, columns: Any = None
) -> tuple[list[TableContent], list[dict[str, Any]]]:
    """(tables with the subject's own records, tables withheld as another's processing).

    ``columns(table_map)`` picks the columns shown (default: every mapped column).
    """
    tables: list[TableContent] = []
    withheld: dict[tuple[str, str], dict[str, Any]] = {}
    for source_result, table_result, records in located.tables():
        source_map, table_map = source_result.source, table_result.table
        own: list[Record] = []
        for record in records:
            controller = on_behalf_of(source_map, table_map, record)
            if controller:
                entry = withheld.setdefault(
                    (source_map.name, table_map.name),
                    {
                        "source": source_map.name,
                        "table": table_map.name,
                        "label": table_map.label or table_map.name,
                        "controller": controller,
                        "record_count": 0,
                    },
                )
                entry["record_count"] += 1
            else:
                own.append(record)
        if not own:
            continue
        mapped = columns(table_map) if columns else list(table_map.columns.values())
        if not mapped:
            continue
        tables.append(
            TableContent(
                source=source_map.name,
                source_label=source_map.label or source_map.name,
                table=table_map.name,
                label=table_map.label or table_map.name,
                columns=[column_info(env.profile, c.name, c.category, c.purpose) for c in mapped],
                keys=[json_key(r) for r in own],
            )
        )
    return tables, list(withheld.values())


def _searched(located: Located) -> list[dict[str, Any]]:
    return [
        {
            "source": s.name,
            "label": s.source.label or s.name,
            "tables": [t.table.label or t.name for t in s.tables],
        }
        for s in located.result.sources
    ]


def _used(tables: Sequence[TableContent]) -> tuple[set[str], set[str]]:
    purposes = {c["purpose"] for t in tables for c in t.columns}
    categories = {c["category"] for t in tables for c in t.columns}
    return purposes, categories


def repeat_warning(session: Session, request: Request, env: Environment) -> bool:
    """True when the policy's free access requests per year are used up (flag, never refuse)."""
    if env.profile.rules.free_access_per_year is None or not request.subject_email:
        return False
    since = request.received_at - timedelta(days=366)
    earlier = session.scalars(
        select(col(Request.received_at)).where(
            Request.right == Right.access,
            Request.subject_email == request.subject_email,
            Request.id != request.id,
            Request.received_at > since,
            Request.received_at <= request.received_at,
        )
    ).all()
    return env.profile.rules.access_warning(
        [moment.date() for moment in earlier], request.received_at.date()
    )


@dataclass
class AccessPlan:
    header: Header
    #: Tables holding the subject's records, with the keys and the columns shown.
    tables: list[TableContent]
    #: Tables (or rows) processed for another controller: not disclosed here.
    withheld: list[dict[str, Any]]
    searched: list[dict[str, Any]]
    redactions: list[Redaction] = field(default_factory=list)
    information: dict[str, Any] = field(default_factory=dict)
    #: The policy's free access requests within twelve months are used up: staff decide.
    repeat_warning: bool = False

    def table(self, source: str, name: str) -> TableContent:
        for content in self.tables:
            if content.source == source and content.table == name:
                return content
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "tables": [t.as_dict() for t in self.tables],
            "withheld": list(self.withheld),
            "searched": list(self.searched),
            "redactions": [r.as_dict() for r in self.redactions],
            "information": dict(self.information),
            "repeat_warning": self.repeat_warning,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccessPlan:
        return cls(
            header=Header.from_dict(data),
            tables=[TableContent.from_dict(t) for t in data.get("tables", [])],
            withheld=list(data.get("withheld", [])),
            searched=list(data.get("searched", [])),
            redactions=[Redaction.from_dict(r) for r in data.get("redactions", [])],
            information=dict(data.get("information", {})),
            repeat_warning=bool(data.get("repeat_warning")),
        )


@dataclass
class AccessOutcome:
    """The answer's content: the information and, per table, the records to show."""

    reference: str
    language: str
    executed_at: datetime
    plan_sha256: str
    information: dict[str, Any]
    tables: list[TableContent]
    withheld: list[dict[str, Any]]
    searched: list[dict[str, Any]]
    #: What was redacted, told to the subject: per table and column, how many and why.
    redactions: list[dict[str, Any]]
    #: Manual tasks of the request (their notes complete the answer): id, kind, target.
    manual_tasks: list[dict[str, Any]]
    #: Records that appeared or disappeared between plan and execution.
    changes_since_plan: dict[str, int]

    @property
    def record_count(self) -> int:
        return sum(t.record_count for t in self.tables)

    def answer_tables(self, env: Environment) -> list[AnswerTable]:
        """The tables of the answer, each reading its records from the source when asked."""
        return list(answer_tables(self.tables, env.profile, env.data_dir))

    def as_dict(self) -> dict[str, Any]:
        return {
            "right": Right.access.value,
            "reference": self.reference,
            "language": self.language,
            "executed_at": self.executed_at.isoformat(),
            "plan_sha256": self.plan_sha256,
            "record_count": self.record_count,
            "information": dict(self.information),
            "tables": [t.as_dict() for t in self.tables],
            "withheld": list(self.withheld),
            "searched": list(self.searched),
            "redactions": list(self.redactions),
            "manual_tasks": list(self.manual_tasks),
            "changes_since_plan": dict(self.changes_since_plan),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccessOutcome:
        return cls(
            reference=data["reference"],
            language=data["language"],
            executed_at=datetime.fromisoformat(data["executed_at"]),
            plan_sha256=data["plan_sha256"],
            information=dict(data["information"]),
            tables=[TableContent.from_dict(t) for t in data["tables"]],
            withheld=list(data.get("withheld", [])),
            searched=list(data.get("searched", [])),
            redactions=list(data.get("redactions", [])),
            manual_tasks=list(data.get("manual_tasks", [])),
            changes_since_plan=dict(data.get("changes_since_plan", {})),
        )


# --- the handler's decisions ---------------------------------------------------------------------


def redact(
    plan: AccessPlan,
    *,
    source: str,
    table: str,
    key: Sequence[Any],
    column: str | None,
    reason: str,
    by: str,
    now: datetime | None = None,
) -> Redaction:
    """Leave a field (or, with ``column`` None, a whole record) out of the answer, with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError(
            _l("Say why this is redacted: whose rights or which secret it protects.")
        )
    try:
        content = plan.table(source, table)
    except KeyError:
        raise WorkflowError(_l("That table is not in the plan.")) from None
    wanted = key_text(key)
    if wanted not in {key_text(k) for k in content.keys}:
        raise WorkflowError(_l("That record is not in the plan."))
    if column is not None and column not in {c["column"] for c in content.columns}:
        raise WorkflowError(_l("That column is not shown in the answer."))
    for existing in plan.redactions:
        same = (existing.source, existing.table, key_text(existing.key), existing.column)
        if same == (source, table, wanted, column):
            raise WorkflowError(_l("That is already redacted."))
    redaction = Redaction(source, table, list(key), column, reason, by, iso(now or utcnow()) or "")
    plan.redactions.append(redaction)
    return redaction


def remove_redaction(plan: AccessPlan, index: int) -> Redaction:
    if not 0 <= index < len(plan.redactions):
        raise WorkflowError(_l("There is no such redaction."))
    return plan.redactions.pop(index)


def _apply_redactions(
    tables: list[TableContent], redactions: Sequence[Redaction]
) -> list[dict[str, Any]]:
    """Remove redacted records, mark redacted fields; return what the subject is told."""
    told: dict[tuple[str, str, str | None, str], dict[str, Any]] = {}
    for content in tables:
        mine = [r for r in redactions if (r.source, r.table) == (content.source, content.table)]
        whole = {key_text(r.key) for r in mine if r.column is None}
        kept = [k for k in content.keys if key_text(k) not in whole]
        content.withheld = len(content.keys) - len(kept)
        content.keys = kept
        present = {key_text(k) for k in kept}
        for redaction in mine:
            text = key_text(redaction.key)
            if redaction.column is not None and text in present:
                content.redacted_fields.setdefault(text, []).append(redaction.column)
            elif redaction.column is not None:
                continue
            entry = told.setdefault(
                (content.source, content.table, redaction.column, redaction.reason),
                {
                    "source": content.source,
                    "table": content.table,
                    "label": content.label,
                    "column": redaction.column,
                    "reason": redaction.reason,
                    "count": 0,
                },
            )
            entry["count"] += 1
    return list(told.values())


class Access(RightHandler):
    right = Right.access

    @classmethod
    def plan(
        cls,
        session: Session,
        request: Request,
        *,
        env: Environment | None = None,
        chosen: Sequence[str] = (),
        previous: Mapping[str, Any] | None = None,
    ) -> AccessPlan:
        env = env or Environment.current()
        located = locate_subject(request, env, chosen)
        tables, withheld = split_found(env, located)
        purposes, categories = _used(tables)
        plan = AccessPlan(
            header=Header.build(request, env, located),
            tables=tables,
            withheld=withheld,
            searched=_searched(located),
            information=information(env.profile, purposes, categories, request.language),
            repeat_warning=repeat_warning(session, request, env),
        )
        if previous:
            # Redactions of records still in the plan stay; the rest no longer apply.
            for old in AccessPlan.from_dict(previous).redactions:
                try:
                    content = plan.table(old.source, old.table)
                except KeyError:
                    continue
                if key_text(old.key) in {key_text(k) for k in content.keys}:
                    plan.redactions.append(old)
        return plan

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> AccessPlan:
        return AccessPlan.from_dict(data)

    @classmethod
    def load_outcome(cls, data: Mapping[str, Any]) -> AccessOutcome:
        return AccessOutcome.from_dict(data)

    @classmethod
    def execute(
        cls, session: Session, request: Request, plan: AccessPlan, *, run: Run
    ) -> AccessOutcome:
        located = locate_subject(request, run.env, plan.header.selection.chosen)
        if located.problems():
            raise WorkflowError(
                _l("Some sources could not be searched; the answer would be incomplete.")
            )
        tables, withheld = split_found(run.env, located)
        planned = {(t.source, t.table, key_text(k)) for t in plan.tables for k in t.keys}
        now_found = {(t.source, t.table, key_text(k)) for t in tables for k in t.keys}
        redactions = _apply_redactions(tables, plan.redactions)
        purposes, categories = _used(tables)
        outcome = AccessOutcome(
            reference=request.reference,
            language=request.language,
            executed_at=run.now,
            plan_sha256=run.row.plan_sha256 or "",
            information=information(run.env.profile, purposes, categories, request.language),
            tables=tables,
            withheld=withheld,
            searched=_searched(located),
            redactions=redactions,
            manual_tasks=manual_task_list(run),
            changes_since_plan={
                "added": len(now_found - planned),
                "gone": len(planned - now_found),
            },
        )
        audit.record(
            session,
            "access.disclosed",
            run.actor,
            request=request,
            payload={
                "plan": run.row.number,
                "plan_sha256": run.row.plan_sha256,
                "sources": [s["source"] for s in outcome.searched],
                "tables": [
                    {
                        "source": t.source,
                        "table": t.table,
                        "records": t.record_count,
                        "withheld": t.withheld,
                        "redacted_fields": sum(len(v) for v in t.redacted_fields.values()),
                    }
                    for t in tables
                ],
                "categories": sorted(categories),
                "withheld_for_others": [
                    {"table": w["table"], "records": w["record_count"]} for w in withheld
                ],
                "redactions": len(plan.redactions),
            },
            at=run.now,
        )
        return outcome

    @classmethod
    def summary(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "tables": len(data.get("tables", [])),
            "records": sum(len(t["keys"]) for t in data.get("tables", [])),
            "redactions": len(data.get("redactions", [])),
        }


def manual_task_list(run: Run) -> list[dict[str, Any]]:
    from dsr.models import ManualTask

    tasks = run.session.scalars(
        select(ManualTask)
        .where(ManualTask.request_id == run.row.request_id)
        .order_by(col(ManualTask.id))
    ).all()
    return [{"id": t.id, "kind": t.kind.value, "target": t.target} for t in tasks]


def outcome_of(row: RequestPlan) -> AccessOutcome | None:
    """The stored answer content of an executed access plan."""
    return AccessOutcome.from_dict(row.outcome) if row.outcome else None
