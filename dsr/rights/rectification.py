"""Rectification (Art. 16): the subject's corrections, decided one by one, applied per source.

The subject says in their own words what is wrong and what it should say. The handler turns
that into corrections, each aimed at a mapped, rectifiable column (of one record, or of all
the subject's records in the table) with the value the subject proposed, and accepts it,
edits it (the value written differs, with a reason) or rejects it (with a reason). The plan
page shows each proposal next to the current values. Where data cannot be changed, the
subject's supplementary statement is recorded with the request (16, second sentence).

If the subject asked, the data is restricted while its accuracy is checked (Art. 18(1)(a));
once corrected, the restriction is lifted after the subject has been told (18(3)).
Executing writes the accepted values, all of one source in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlmodel import Session

from dsr import audit
from dsr.db import utcnow
from dsr.models import Request, RequestPlan, Right
from dsr.rights.access import manual_task_list
from dsr.rights.base import (
    Environment,
    Header,
    RightHandler,
    Run,
    iso,
    json_key,
    locate_subject,
    source_not_changed,
)
from dsr.rights.restriction import Restricted, targets
from dsr.rights.sourcewrite import SourceSession, SourceWriteError, coerce, key_text
from dsr.sources.sql import SourceFailure, read_only, source_engine
from dsr.workflow import WorkflowError

DECISIONS = ("pending", "accepted", "edited", "rejected")


@dataclass
class Correction:
    id: int
    source: str
    table: str
    column: str
    #: One record, or None for every record of the subject in the table.
    key: list[Any] | None
    #: What the subject says it should be, as the handler took it from their words.
    proposed: str
    decision: str = "pending"
    #: What will be written: the proposal (accepted) or the handler's value (edited).
    value: str | None = None
    reason: str = ""
    decided_by: str = ""
    decided_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "table": self.table,
            "column": self.column,
            "key": list(self.key) if self.key is not None else None,
            "proposed": self.proposed,
            "decision": self.decision,
            "value": self.value,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Correction:
        return cls(
            id=int(data["id"]),
            source=data["source"],
            table=data["table"],
            column=data["column"],
            key=list(data["key"]) if data.get("key") is not None else None,
            proposed=data["proposed"],
            decision=data.get("decision", "pending"),
            value=data.get("value"),
            reason=data.get("reason", ""),
            decided_by=data.get("decided_by", ""),
            decided_at=data.get("decided_at"),
        )


@dataclass
class RectificationPlan:
    header: Header
    data_to_correct: str | None
    correct_values: str | None
    message: str | None
    #: Rectifiable columns of the tables holding the subject's records, with their keys.
    columns: list[dict[str, Any]]
    corrections: list[Correction] = field(default_factory=list)
    #: The subject's supplementary statements, for data that is not changed.
    statements: list[dict[str, Any]] = field(default_factory=list)
    #: Restriction while accuracy is checked (Art. 18(1)(a)), once applied.
    restriction: dict[str, Any] | None = None

    def column(self, source: str, table: str, column: str) -> dict[str, Any]:
        for entry in self.columns:
            if (entry["source"], entry["table"], entry["column"]) == (source, table, column):
                return entry
        raise WorkflowError(_l("That column cannot be rectified."))

    def correction(self, correction_id: int) -> Correction:
        for item in self.corrections:
            if item.id == correction_id:
                return item
        raise WorkflowError(_l("There is no such correction."))

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "data_to_correct": self.data_to_correct,
            "correct_values": self.correct_values,
            "message": self.message,
            "columns": [dict(c) for c in self.columns],
            "corrections": [c.as_dict() for c in self.corrections],
            "statements": [dict(s) for s in self.statements],
            "restriction": dict(self.restriction) if self.restriction else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RectificationPlan:
        return cls(
            header=Header.from_dict(data),
            data_to_correct=data.get("data_to_correct"),
            correct_values=data.get("correct_values"),
            message=data.get("message"),
            columns=[dict(c) for c in data.get("columns", [])],
            corrections=[Correction.from_dict(c) for c in data.get("corrections", [])],
            statements=[dict(s) for s in data.get("statements", [])],
            restriction=dict(data["restriction"]) if data.get("restriction") else None,
        )


@dataclass
class RectificationOutcome:
    reference: str
    executed_at: datetime
    plan_sha256: str
    #: Per correction applied: where, how many records, how many changed now.
    applied: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    statements: list[dict[str, Any]]
    restriction: Restricted | None
    manual_tasks: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "right": Right.rectification.value,
            "reference": self.reference,
            "executed_at": self.executed_at.isoformat(),
            "plan_sha256": self.plan_sha256,
            "applied": list(self.applied),
            "rejected": list(self.rejected),
            "statements": list(self.statements),
            "restriction": self.restriction.as_dict() if self.restriction else None,
            "manual_tasks": list(self.manual_tasks),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RectificationOutcome:
        return cls(
            reference=data["reference"],
            executed_at=datetime.fromisoformat(data["executed_at"]),
            plan_sha256=data.get("plan_sha256", ""),
            applied=list(data.get("applied", [])),
            rejected=list(data.get("rejected", [])),
            statements=list(data.get("statements", [])),
            restriction=Restricted.from_dict(data["restriction"])
            if data.get("restriction")
            else None,
            manual_tasks=list(data.get("manual_tasks", [])),
        )


# --- the handler's decisions ---------------------------------------------------------------------


def check_value(env: Environment, source: str, table: str, column: str, value: str) -> None:
    """Refuse a value the column cannot hold (letters in a number, a too long text)."""
    mapped_source = env.profile.source(source)
    engine = source_engine(mapped_source.resolve_url(env.data_dir))
    try:
        from sqlalchemy import MetaData

        with read_only(engine.connect()) as connection:
            metadata = MetaData()
            metadata.reflect(bind=connection, schema=mapped_source.schema, only=[table])
            reflected = next(iter(metadata.tables.values()))
        coerce(reflected.c[column], value)
    except ValueError as exc:
        raise WorkflowError(
            _l(
                "%(value)s does not fit the column %(column)s (%(problem)s).",
                value=value,
                column=column,
                problem=str(exc) or "wrong type",
            )
        ) from None
    finally:
        engine.dispose()


def add_correction(
    plan: RectificationPlan,
    *,
    source: str,
    table: str,
    column: str,
    key: Sequence[Any] | None,
    proposed: str,
) -> Correction:
    entry = plan.column(source, table, column)
    proposed = (proposed or "").strip()
    if not proposed:
        raise WorkflowError(_l("Write the value the subject proposes."))
    if key is not None and key_text(key) not in {key_text(k) for k in entry["keys"]}:
        raise WorkflowError(_l("That record is not in the plan."))
    item = Correction(
        id=max((c.id for c in plan.corrections), default=0) + 1,
        source=source,
        table=table,
        column=column,
        key=list(key) if key is not None else None,
        proposed=proposed,
    )
    plan.corrections.append(item)
    return item


def decide(
    plan: RectificationPlan,
    correction_id: int,
    *,
    decision: str,
    value: str | None,
    reason: str,
    by: str,
    env: Environment | None = None,
    now: datetime | None = None,
) -> Correction:
    """Accept, edit (write ``value`` instead) or reject one correction."""
    item = plan.correction(correction_id)
    reason = (reason or "").strip()
    if decision not in ("accepted", "edited", "rejected"):
        raise WorkflowError(_l("Choose accept, edit or reject."))
    if decision in ("edited", "rejected") and not reason:
        raise WorkflowError(_l("Say why; the subject is told."))
    written = item.proposed if decision == "accepted" else (value or "").strip()
    if decision == "edited" and not written:
        raise WorkflowError(_l("Write the value to use instead."))
    if decision != "rejected" and env is not None:
        check_value(env, item.source, item.table, item.column, written)
    item.decision = decision
    item.value = written if decision != "rejected" else None
    item.reason = reason
    item.decided_by = by
    item.decided_at = iso(now or utcnow())
    return item


def add_statement(
    plan: RectificationPlan, *, text: str, by: str, about: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """Record the subject's supplementary statement (Art. 16) for data that stays as it is."""
    text = (text or "").strip()
    if not text:
        raise WorkflowError(_l("Write the subject's statement."))
    statement = {
        "id": max((int(s["id"]) for s in plan.statements), default=0) + 1,
        "about": (about or "").strip(),
        "text": text,
        "recorded_by": by,
        "recorded_at": iso(now or utcnow()),
    }
    plan.statements.append(statement)
    return statement


def _columns(located: Any) -> list[dict[str, Any]]:
    found = []
    for source, table_result, records in located.tables():
        if not records:
            continue
        table = table_result.table
        for name in table.rectifiable:
            mapped = table.columns[name]
            found.append(
                {
                    "source": source.name,
                    "table": table.name,
                    "label": table.label or table.name,
                    "column": name,
                    "category": mapped.category,
                    "keys": [json_key(r) for r in records],
                }
            )
    return found


def current_values(
    env: Environment, request: Request, plan: RectificationPlan
) -> dict[tuple[str, str, str], list[tuple[str, Any]]]:
    """(source, table, column) -> [(key text, value)] as the sources hold them now, for the
    page that shows each proposal next to the current value."""
    located = locate_subject(request, env, plan.header.selection.chosen)
    values: dict[tuple[str, str, str], list[tuple[str, Any]]] = {}
    for source, table_result, records in located.tables():
        for name in table_result.table.rectifiable:
            values[(source.name, table_result.name, name)] = [
                (record.key_text, record.value(name)) for record in records
            ]
    return values


class RectificationHandler(RightHandler):
    right = Right.rectification
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
    ) -> RectificationPlan:
        env = env or Environment.current()
        located = locate_subject(request, env, chosen)
        details = request.details or {}
        plan = RectificationPlan(
            header=Header.build(request, env, located),
            data_to_correct=details.get("data_to_correct"),
            correct_values=details.get("correct_values"),
            message=details.get("message"),
            columns=_columns(located),
        )
        if previous:
            old = RectificationPlan.from_dict(previous)
            available = {(c["source"], c["table"], c["column"]) for c in plan.columns}
            plan.corrections = [
                c for c in old.corrections if (c.source, c.table, c.column) in available
            ]
            plan.statements = old.statements
            plan.restriction = old.restriction
        return plan

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> RectificationPlan:
        return RectificationPlan.from_dict(data)

    @classmethod
    def load_outcome(cls, data: Mapping[str, Any]) -> RectificationOutcome:
        return RectificationOutcome.from_dict(data)

    @classmethod
    def blockers(cls, plan: RectificationPlan) -> list[str]:
        found = list(plan.header.blockers())
        if any(c.decision == "pending" for c in plan.corrections):
            found.append(str(_l("Decide every proposed correction first.")))
        if not plan.corrections and not plan.statements:
            found.append(str(_l("Add the corrections the subject proposes, or their statement.")))
        return found

    @classmethod
    def execute(
        cls, session: Session, request: Request, plan: RectificationPlan, *, run: Run
    ) -> RectificationOutcome:
        located = locate_subject(request, run.env, plan.header.selection.chosen)
        accepted = [c for c in plan.corrections if c.decision in ("accepted", "edited")]
        by_source: dict[str, list[Correction]] = {}
        for item in accepted:
            by_source.setdefault(item.source, []).append(item)
        applied: list[dict[str, Any]] = []
        for source_name, items in by_source.items():
            source = run.env.profile.source(source_name)
            done = []
            try:
                with SourceSession(source, run.env.data_dir) as writer:
                    for item in items:
                        mapped = source.table(item.table)
                        keys = (
                            [item.key]
                            if item.key is not None
                            else [json_key(r) for r in located.records(source_name, item.table)]
                        )
                        column = writer.column(mapped, item.column)
                        try:
                            value = coerce(column, item.value)
                        except ValueError:
                            raise WorkflowError(
                                _l("A corrected value no longer fits its column; decide it again.")
                            ) from None
                        count = writer.set_column(
                            mapped, writer.typed_keys(mapped, keys), item.column, value
                        )
                        done.append(
                            {
                                "id": item.id,
                                "source": item.source,
                                "table": item.table,
                                "column": item.column,
                                "decision": item.decision,
                                "records": count.planned - count.absent,
                                "changed": count.changed,
                                "already": count.already,
                            }
                        )
            except (SourceWriteError, SourceFailure) as exc:
                raise source_not_changed(source, exc) from None
            audit.record(
                session,
                "rectification.applied",
                run.actor,
                request=request,
                payload={
                    "plan": run.row.number,
                    "source": source_name,
                    "corrections": [
                        {k: d[k] for k in ("id", "table", "column", "records", "changed")}
                        for d in done
                    ],
                },
                at=run.now,
            )
            run.commit()
            applied.extend(done)
        return RectificationOutcome(
            reference=request.reference,
            executed_at=run.now,
            plan_sha256=run.row.plan_sha256 or "",
            applied=applied,
            rejected=[
                {
                    "id": c.id,
                    "source": c.source,
                    "table": c.table,
                    "column": c.column,
                    "reason": c.reason,
                }
                for c in plan.corrections
                if c.decision == "rejected"
            ],
            statements=list(plan.statements),
            restriction=Restricted.from_dict(plan.restriction) if plan.restriction else None,
            manual_tasks=manual_task_list(run),
        )

    @classmethod
    def completion_problem(cls, session: Session, row: RequestPlan) -> str | None:
        restriction = (row.outcome or {}).get("restriction")
        if restriction and not restriction.get("lifted_at"):
            return str(
                _l(
                    "The data is still restricted while its accuracy was checked: tell the subject and lift the restriction."
                )
            )
        return None

    @classmethod
    def changed_categories(cls, row: RequestPlan) -> list[str]:
        categories = {
            c["category"]
            for c in row.plan.get("columns", [])
            for item in row.plan.get("corrections", [])
            if item["decision"] in ("accepted", "edited")
            and (c["source"], c["table"], c["column"])
            == (item["source"], item["table"], item["column"])
        }
        return sorted(categories)

    @classmethod
    def summary(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        decided: dict[str, int] = {}
        for item in data.get("corrections", []):
            decided[item["decision"]] = decided.get(item["decision"], 0) + 1
        return {"corrections": decided, "statements": len(data.get("statements", []))}


def restrict_while_checking(
    session: Session,
    request: Request,
    plan: RectificationPlan,
    env: Environment,
    *,
    actor: Any,
    now: datetime,
) -> Restricted:
    """Restrict the contested data until it is corrected (Art. 18(1)(a)), if the subject asked.

    The contested data is what the tables with rectifiable columns hold about the subject.
    """
    if plan.restriction:
        raise WorkflowError(_l("The data is already restricted while it is checked."))
    from dsr.rights.restriction import restrict

    located = locate_subject(request, env, plan.header.selection.chosen)
    tables = sorted({(c["source"], c["table"]) for c in plan.columns})
    restricted = restrict(
        session,
        request,
        env,
        targets(located, tables),
        actor=actor,
        now=now,
        why="Art. 18(1)(a): accuracy contested",
    )
    plan.restriction = restricted.as_dict()
    return restricted
