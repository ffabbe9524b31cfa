"""Erasure (Art. 17): delete, anonymize or keep each record, in order, resumably.

The plan decides per record, from the data map: **delete**, **anonymize** (column by column)
or **retain** under an Art. 17(3) exception until a computed end date (Bokföringslagen 7:2:
a payment in a financial year ending 2025-12-31 is kept until 2032-12-31). A retained row
whose period has already ended gets the map's ``then`` instead. A row that a kept row still
refers to is kept as long as that row is (a child must not outlive its parent), and a row
processed on behalf of another controller is referred to that controller, not erased.
The handler may keep a whole table with a reason (the subject asked for less, or the data
is needed for legal claims, 17(3)(e)).

Approval starts a grace period (``erasure.grace_hours``) in which the erasure can be
cancelled. Executing locates the subject once more, fixes the work list (children before
parents) and works through it in batches of ``erasure.batch_size`` rows, each batch one
transaction on its source followed by a committed checkpoint and an audit event in the
service's database. A crash between the two is harmless: the re-run finds the batch's rows
already gone (or already anonymized), changes nothing more and logs that. Retained records
become follow-ups that ``dsr.rights.jobs.run_erasure_followups`` erases on the day after
their end date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlmodel import Session

from dsr import audit, deadlines
from dsr.models import (
    ErasureFollowup,
    FollowupAction,
    PlanState,
    Request,
    RequestPlan,
    Right,
)
from dsr.rights.access import manual_task_list, on_behalf_of
from dsr.rights.base import (
    Environment,
    Header,
    Located,
    RightHandler,
    Run,
    json_key,
    locate_subject,
)
from dsr.rights.sourcewrite import Count, SourceSession, SourceWriteError, key_text
from dsr.sources.datamap import Erasure, SourceMap, TableMap
from dsr.sources.results import Record
from dsr.workflow import WorkflowError

DELETE, ANONYMIZE, RETAIN, KEEP, REFER = "delete", "anonymize", "retain", "keep", "refer"
#: Actions that leave the row in the source.
STAYS = frozenset({ANONYMIZE, RETAIN, KEEP, REFER})


@dataclass
class RecordErasure:
    """What happens to one record, and why."""

    key: list[Any]
    action: str
    #: Retain: the last day the record is kept (None: no end date could be computed).
    until: date | None = None
    #: Retain: the law; keep: the handler's reason; refer: the other controller.
    basis: str = ""
    #: Retain: the Art. 17(3) point.
    exception: str = ""
    #: Retain: what happens when the period ends.
    then: str = ""
    #: Kept because rows of this table (still kept) refer to it.
    via: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "action": self.action,
            "until": self.until.isoformat() if self.until else None,
            "basis": self.basis,
            "exception": self.exception,
            "then": self.then,
            "via": self.via,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordErasure:
        until = data.get("until")
        return cls(
            key=list(data["key"]),
            action=data["action"],
            until=date.fromisoformat(until) if until else None,
            basis=data.get("basis", ""),
            exception=data.get("exception", ""),
            then=data.get("then", ""),
            via=data.get("via", ""),
        )


@dataclass
class TableErasure:
    source: str
    source_label: str
    table: str
    label: str
    #: The data map's rule for the table: delete | anonymize | retain.
    rule: str
    #: Why the handler keeps the whole table, or "".
    excluded: str = ""
    records: list[RecordErasure] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for record in self.records:
            found[record.action] = found.get(record.action, 0) + 1
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_label": self.source_label,
            "table": self.table,
            "label": self.label,
            "rule": self.rule,
            "excluded": self.excluded,
            "counts": self.counts(),
            "records": [r.as_dict() for r in self.records],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableErasure:
        return cls(
            source=data["source"],
            source_label=data["source_label"],
            table=data["table"],
            label=data["label"],
            rule=data["rule"],
            excluded=data.get("excluded", ""),
            records=[RecordErasure.from_dict(r) for r in data.get("records", [])],
        )


@dataclass
class ErasurePlan:
    header: Header
    #: What the subject asked: ``everything`` or ``specific`` (with their words).
    scope: str
    data_to_erase: str | None
    #: The day retention periods were judged against.
    today: date
    grace_hours: int
    tables: list[TableErasure]

    def table(self, source: str, name: str) -> TableErasure:
        for entry in self.tables:
            if entry.source == source and entry.table == name:
                return entry
        raise KeyError(name)

    def totals(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for entry in self.tables:
            for action, count in entry.counts().items():
                found[action] = found.get(action, 0) + count
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "scope": self.scope,
            "data_to_erase": self.data_to_erase,
            "today": self.today.isoformat(),
            "grace_hours": self.grace_hours,
            "totals": self.totals(),
            "tables": [t.as_dict() for t in self.tables],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErasurePlan:
        return cls(
            header=Header.from_dict(data),
            scope=data.get("scope") or "everything",
            data_to_erase=data.get("data_to_erase"),
            today=date.fromisoformat(data["today"]),
            grace_hours=int(data.get("grace_hours", 0)),
            tables=[TableErasure.from_dict(t) for t in data.get("tables", [])],
        )


@dataclass
class ErasureOutcome:
    """What was erased, what was kept and why: the subject's answer and the proof."""

    reference: str
    executed_at: datetime
    plan_sha256: str
    #: Per table and action: rows deleted or anonymized (``count``), with how many of them
    #: an earlier, interrupted run had already done (``already``).
    erased: list[dict[str, Any]]
    #: Per table and end date: rows kept, the law and Art. 17(3) point, and what follows.
    kept: list[dict[str, Any]]
    #: Rows processed for another controller, which the subject is referred to.
    referred: list[dict[str, Any]]
    #: Tables the handler kept whole, with the reason.
    excluded: list[dict[str, Any]]
    #: Scheduled erasures of the kept rows, on the day after their end date.
    followups: list[dict[str, Any]]
    batches: int
    changes_since_plan: dict[str, int]
    manual_tasks: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "right": Right.erasure.value,
            "reference": self.reference,
            "executed_at": self.executed_at.isoformat(),
            "plan_sha256": self.plan_sha256,
            "erased": list(self.erased),
            "kept": list(self.kept),
            "referred": list(self.referred),
            "excluded": list(self.excluded),
            "followups": list(self.followups),
            "batches": self.batches,
            "changes_since_plan": dict(self.changes_since_plan),
            "manual_tasks": list(self.manual_tasks),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErasureOutcome:
        return cls(
            reference=data["reference"],
            executed_at=datetime.fromisoformat(data["executed_at"]),
            plan_sha256=data.get("plan_sha256", ""),
            erased=list(data.get("erased", [])),
            kept=list(data.get("kept", [])),
            referred=list(data.get("referred", [])),
            excluded=list(data.get("excluded", [])),
            followups=list(data.get("followups", [])),
            batches=int(data.get("batches", 0)),
            changes_since_plan=dict(data.get("changes_since_plan", {})),
            manual_tasks=list(data.get("manual_tasks", [])),
        )


# --- deciding --------------------------------------------------------------------------------


def _own_rule(
    source: SourceMap, table: TableMap, record: Record, excluded: str, today: date
) -> RecordErasure:
    key = json_key(record)
    controller = on_behalf_of(source, table, record)
    if controller:
        return RecordErasure(key, REFER, basis=controller)
    if excluded:
        return RecordErasure(key, KEEP, basis=excluded)
    if table.erasure is Erasure.delete:
        return RecordErasure(key, DELETE)
    if table.erasure is Erasure.anonymize:
        return RecordErasure(key, ANONYMIZE)
    rule = table.retain
    assert rule is not None
    until = record.retain_until
    if until is not None and until < today:
        # The period is over: what the map says happens then, happens now.
        return RecordErasure(key, rule.then.value)
    return RecordErasure(
        key, RETAIN, until, rule.basis, rule.exception, rule.then.value if until else ""
    )


def _latest(dates: Iterable[date | None]) -> date | None:
    values = list(dates)
    if not values or any(d is None for d in values):
        return None
    return max(d for d in values if d is not None)


def decide(
    env: Environment,
    located: Located,
    today: date,
    excluded: Mapping[tuple[str, str], str],
) -> list[TableErasure]:
    """Every located record's fate, per table, in the data map's order."""
    planned: list[TableErasure] = []
    for source_result in located.result.sources:
        source = source_result.source
        found = {t.name: recs for s, t, recs in located.tables() if s.name == source.name}
        decided: dict[str, list[tuple[Record, RecordErasure]]] = {}
        for table in source.tables:
            reason = excluded.get((source.name, table.name), "")
            decided[table.name] = [
                (record, _own_rule(source, table, record, reason, today))
                for record in found.get(table.name, [])
            ]
        # Children first: a row that stays keeps the rows it refers to.
        for table in reversed(source.tables):
            staying = [(r, d) for r, d in decided[table.name] if d.action in STAYS]
            for link in table.links:
                referring: dict[Any, list[RecordErasure]] = {}
                for record, decision in staying:
                    value = record.value(link.column)
                    if value is not None:
                        referring.setdefault(value, []).append(decision)
                for parent, decision in decided.get(link.table, []):
                    children = referring.get(parent.value(link.target_column))
                    if not children or decision.action != DELETE:
                        continue
                    first = next((c for c in children if c.action == RETAIN), children[0])
                    parent_rule = source.table(link.table)
                    then = (
                        parent_rule.retain.then.value
                        if parent_rule.retain is not None
                        else parent_rule.erasure.value
                    )
                    until = _latest(c.until if c.action == RETAIN else None for c in children)
                    decision.action = RETAIN
                    decision.until = until
                    decision.basis = first.basis
                    decision.exception = first.exception
                    decision.then = then if until else ""
                    decision.via = table.label or table.name
        for table in source.tables:
            records = [d for _, d in decided[table.name]]
            reason = excluded.get((source.name, table.name), "")
            if not records and not reason:
                continue
            planned.append(
                TableErasure(
                    source=source.name,
                    source_label=source.label or source.name,
                    table=table.name,
                    label=table.label or table.name,
                    rule=table.erasure.value,
                    excluded=reason,
                    records=records,
                )
            )
    return planned


def local_today(env: Environment, now: datetime) -> date:
    return deadlines.today(ZoneInfo(str(env.config["TIMEZONE"])), now)


def exclude_table(plan: ErasurePlan, *, source: str, table: str, reason: str) -> None:
    """Keep a whole table out of the erasure, with the reason the subject will be told."""
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError(_l("Say why this table is kept; the subject is told."))
    try:
        entry = plan.table(source, table)
    except KeyError:
        raise WorkflowError(_l("That table is not in the plan.")) from None
    entry.excluded = reason


def include_table(plan: ErasurePlan, *, source: str, table: str) -> None:
    try:
        plan.table(source, table).excluded = ""
    except KeyError:
        raise WorkflowError(_l("That table is not in the plan.")) from None


def exclusions(data: Mapping[str, Any] | None) -> dict[tuple[str, str], str]:
    if not data:
        return {}
    return {
        (t["source"], t["table"]): t["excluded"]
        for t in data.get("tables", [])
        if t.get("excluded")
    }


# --- executing -------------------------------------------------------------------------------


def _work(tables: Sequence[TableErasure], env: Environment) -> list[dict[str, Any]]:
    """Steps of (source, table, action, keys): per source, children before parents."""
    steps: list[dict[str, Any]] = []
    by_name = {(t.source, t.table): t for t in tables}
    for source in env.profile.sources:
        for mapped in reversed(source.tables):
            entry = by_name.get((source.name, mapped.name))
            if entry is None:
                continue
            for action in (DELETE, ANONYMIZE):
                keys = [r.key for r in entry.records if r.action == action]
                if keys:
                    steps.append(
                        {
                            "source": source.name,
                            "table": mapped.name,
                            "label": entry.label,
                            "action": action,
                            "keys": keys,
                        }
                    )
    return steps


def apply_step(
    env: Environment,
    step: Mapping[str, Any],
    keys: Sequence[Any],
    reflected: dict[str, dict[str, Any]] | None = None,
) -> Count:
    """One batch of a step in its own transaction. ``reflected`` (per source, the tables
    reflected so far) lets the batches of one run reflect each table once."""
    source = env.profile.source(step["source"])
    mapped = source.table(step["table"])
    tables = None if reflected is None else reflected.setdefault(source.name, {})
    with SourceSession(source, env.data_dir, tables=tables) as writer:
        typed = writer.typed_keys(mapped, keys)
        if step["action"] == DELETE:
            return writer.delete(mapped, typed)
        return writer.anonymize(mapped, typed)


def _fail(run: Run, request: Request, execution: dict[str, Any], message: str) -> None:
    run.row.state = PlanState.failed
    run.row.error = message
    run.row.claimed_by = None
    run.row.claimed_until = None
    audit.record(
        run.session,
        "plan.failed",
        run.actor,
        request=request,
        reason=message,
        payload={"plan": run.row.number, "cursor": execution.get("cursor")},
        at=run.now,
    )
    run.checkpoint(execution)


def _start(run: Run, request: Request, plan: ErasurePlan) -> dict[str, Any]:
    """Fix the work list from the records located now, and commit it before any change."""
    located = locate_subject(request, run.env, plan.header.selection.chosen)
    if located.problems():
        raise WorkflowError(
            _l("Some sources could not be searched; nothing has been erased. Try again later.")
        )
    tables = decide(run.env, located, local_today(run.env, run.now), exclusions(plan.as_dict()))
    planned = {(t.source, t.table, key_text(r.key)) for t in plan.tables for r in t.records}
    current = {(t.source, t.table, key_text(r.key)) for t in tables for r in t.records}
    execution = {
        "tables": [t.as_dict() for t in tables],
        "work": _work(tables, run.env),
        "cursor": {"step": 0, "offset": 0},
        "done": [],
        "batches": 0,
        "changes_since_plan": {"added": len(current - planned), "gone": len(planned - current)},
    }
    run.checkpoint(execution)
    return execution


def _followups(
    session: Session, row: RequestPlan, request: Request, tables: Sequence[TableErasure], env: Any
) -> list[ErasureFollowup]:
    existing = session.scalars(
        select(ErasureFollowup).where(ErasureFollowup.plan_id == row.id)
    ).all()
    if existing:
        return list(existing)
    order = {
        (source.name, mapped.name): position
        for source in env.profile.sources
        for position, mapped in enumerate(reversed(source.tables))
    }
    groups: dict[tuple[str, str, date, str, str], list[list[Any]]] = {}
    for entry in tables:
        for record in entry.records:
            if record.action == RETAIN and record.until is not None:
                basis = f"{record.basis} (art. {record.exception})"
                group = (entry.source, entry.table, record.until, record.then, basis)
                groups.setdefault(group, []).append(record.key)
    created = []
    for (source, table, until, then, basis), keys in sorted(groups.items(), key=lambda g: g[0][2]):
        followup = ErasureFollowup(
            plan_id=row.id,
            request_id=request.id,
            source=source,
            table_name=table,
            action=FollowupAction(then or DELETE),
            position=order.get((source, table), 0),
            keys=keys,
            basis=basis,
            due_on=until,
        )
        session.add(followup)
        created.append(followup)
    session.flush()
    return created


def _outcome(
    run: Run,
    request: Request,
    execution: Mapping[str, Any],
    followups: Sequence[ErasureFollowup],
) -> ErasureOutcome:
    tables = [TableErasure.from_dict(t) for t in execution["tables"]]
    erased = [
        {
            "source": d["source"],
            "table": d["table"],
            "label": d["label"],
            "action": "deleted" if d["action"] == DELETE else "anonymized",
            "count": d["planned"],
            "changed": d["changed"],
            "already": d["already"] + d["absent"],
        }
        for d in _merged(execution["done"])
    ]
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    referred: dict[tuple[str, str], dict[str, Any]] = {}
    excluded = []
    for entry in tables:
        if entry.excluded:
            excluded.append(
                {
                    "source": entry.source,
                    "table": entry.table,
                    "label": entry.label,
                    "reason": entry.excluded,
                    "count": len(entry.records),
                }
            )
        for record in entry.records:
            if record.action == RETAIN:
                group = (entry.source, entry.table, record.until, record.basis, record.via)
                item = kept.setdefault(
                    group,
                    {
                        "source": entry.source,
                        "table": entry.table,
                        "label": entry.label,
                        "until": record.until.isoformat() if record.until else None,
                        "basis": record.basis,
                        "exception": record.exception,
                        "then": record.then,
                        "via": record.via,
                        "count": 0,
                    },
                )
                item["count"] += 1
            elif record.action == REFER:
                item = referred.setdefault(
                    (entry.source, entry.table),
                    {
                        "source": entry.source,
                        "table": entry.table,
                        "label": entry.label,
                        "controller": record.basis,
                        "count": 0,
                    },
                )
                item["count"] += 1
    return ErasureOutcome(
        reference=request.reference,
        executed_at=run.now,
        plan_sha256=run.row.plan_sha256 or "",
        erased=erased,
        kept=sorted(kept.values(), key=lambda k: (k["source"], k["table"], k["until"] or "")),
        referred=list(referred.values()),
        excluded=excluded,
        followups=[
            {
                "id": f.id,
                "source": f.source,
                "table": f.table_name,
                "action": f.action.value,
                "due_on": f.due_on.isoformat(),
                "count": len(f.keys),
            }
            for f in followups
        ],
        batches=int(execution["batches"]),
        changes_since_plan=dict(execution["changes_since_plan"]),
        manual_tasks=manual_task_list(run),
    )


def _merged(done: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for item in done:
        group = (item["source"], item["table"], item["action"])
        entry = merged.setdefault(
            group,
            {
                "source": item["source"],
                "table": item["table"],
                "label": item["label"],
                "action": item["action"],
                "planned": 0,
                "changed": 0,
                "already": 0,
                "absent": 0,
            },
        )
        for name in ("planned", "changed", "already", "absent"):
            entry[name] += item[name]
    return list(merged.values())


class ErasureHandler(RightHandler):
    right = Right.erasure
    grace_period = True
    resumable = True
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
    ) -> ErasurePlan:
        env = env or Environment.current()
        located = locate_subject(request, env, chosen)
        today = local_today(env, located.result.located_at)
        details = request.details or {}
        return ErasurePlan(
            header=Header.build(request, env, located),
            scope=str(details.get("scope") or "everything"),
            data_to_erase=details.get("data_to_erase"),
            today=today,
            grace_hours=int(env.config["ERASURE_GRACE_HOURS"]),
            tables=decide(env, located, today, exclusions(previous)),
        )

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> ErasurePlan:
        return ErasurePlan.from_dict(data)

    @classmethod
    def load_outcome(cls, data: Mapping[str, Any]) -> ErasureOutcome:
        return ErasureOutcome.from_dict(data)

    @classmethod
    def execute(
        cls, session: Session, request: Request, plan: ErasurePlan, *, run: Run
    ) -> ErasureOutcome:
        execution = dict(run.row.execution or {})
        if "work" not in execution:
            execution = _start(run, request, plan)
        # Read once: every checkpoint commits, which expires the row, and reading any of its
        # attributes afterwards would load (and decode) the whole plan and work list again.
        number = run.row.number
        reflected: dict[str, dict[str, Any]] = {}
        batch_size = max(1, int(run.env.config["ERASURE_BATCH_SIZE"]))
        work = execution["work"]
        cursor = dict(execution["cursor"])
        while cursor["step"] < len(work):
            step = work[cursor["step"]]
            keys = step["keys"][cursor["offset"] : cursor["offset"] + batch_size]
            try:
                count = apply_step(run.env, step, keys, reflected)
            except (SourceWriteError, KeyError) as exc:
                message = f"{step['source']}.{step['table']}: {exc}"
                _fail(run, request, {**execution, "cursor": cursor}, message)
                raise WorkflowError(
                    _l(
                        "The erasure stopped: %(problem)s. What was done so far is kept; it resumes from there.",
                        problem=message,
                    )
                ) from None
            execution["batches"] = int(execution["batches"]) + 1
            done = {
                "source": step["source"],
                "table": step["table"],
                "label": step["label"],
                "action": step["action"],
                **count.as_dict(),
            }
            execution["done"] = [*execution["done"], done]
            audit.record(
                session,
                "erasure.batch",
                run.actor,
                request=request,
                payload={
                    "plan": number,
                    "batch": execution["batches"],
                    "source": step["source"],
                    "table": step["table"],
                    "action": step["action"],
                    **count.as_dict(),
                },
                at=run.now,
            )
            cursor["offset"] += batch_size
            if cursor["offset"] >= len(step["keys"]):
                cursor = {"step": cursor["step"] + 1, "offset": 0}
            execution["cursor"] = cursor
            run.checkpoint(execution, only=("cursor", "done", "batches"))
        tables = [TableErasure.from_dict(t) for t in execution["tables"]]
        followups = _followups(session, run.row, request, tables, run.env)
        outcome = _outcome(run, request, execution, followups)
        if outcome.kept:
            audit.record(
                session,
                "erasure.kept",
                run.actor,
                request=request,
                payload={
                    "plan": run.row.number,
                    "kept": [
                        {
                            "source": k["source"],
                            "table": k["table"],
                            "count": k["count"],
                            "until": k["until"],
                            "basis": k["basis"],
                            "exception": k["exception"],
                            "via": k["via"],
                        }
                        for k in outcome.kept
                    ],
                },
                at=run.now,
            )
        return outcome

    @classmethod
    def changed_categories(cls, row: RequestPlan) -> list[str]:
        from dsr.profiles import current_profile

        profile = current_profile()
        categories: set[str] = set()
        for entry in row.plan.get("tables", []):
            if any(r["action"] in (DELETE, ANONYMIZE) for r in entry["records"]):
                try:
                    mapped = profile.source(entry["source"]).table(entry["table"])
                except KeyError:
                    continue
                categories |= {c.category for c in mapped.columns.values()}
        return sorted(categories)

    @classmethod
    def summary(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"totals": dict(data.get("totals", {}))}
