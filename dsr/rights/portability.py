"""Portability (Art. 20): the data the subject provided, machine-readable, or sent onwards.

In scope is what the data map marks as provided by the subject (given or observed, not
inferred) and processed on consent or contract (``Profile.in_portability_scope``); the plan
says for every column left out why (not provided, or another legal basis). Executing
produces the scoped content: per table the columns and record keys, which the exports
render as JSON and CSV, and :meth:`PortabilityOutcome.document` builds the JSON sent
directly to another controller when the subject asked for that (``dsr.rights.transfer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlmodel import Session

from dsr import audit
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import Request, RequestPlan, Right
from dsr.rights.access import _searched, manual_task_list, split_found
from dsr.rights.base import Environment, Header, RightHandler, Run, digest, locate_subject
from dsr.rights.content import AnswerTable, TableContent, answer_tables
from dsr.rights.sourcewrite import key_text
from dsr.rights.transfer import TransferError, check_url, transmit
from dsr.sources.datamap import ColumnMap, TableMap
from dsr.workflow import WorkflowError

DOCUMENT_FORMAT = "dsr-portability"
DOCUMENT_VERSION = 1


def scoped_columns(env: Environment, table: TableMap) -> list[ColumnMap]:
    return [c for c in table.columns.values() if env.profile.in_portability_scope(c)]


def left_out(env: Environment, located: Any) -> list[dict[str, Any]]:
    """Per table holding the subject's records, the columns outside Art. 20 and why."""
    found = []
    for _source, table_result, records in located.tables():
        if not records:
            continue
        table = table_result.table
        columns = []
        for column in table.columns.values():
            if env.profile.in_portability_scope(column):
                continue
            purpose = env.profile.purposes[column.purpose]
            reason = "not_provided" if not column.provided else "legal_basis"
            columns.append({"column": column.name, "reason": reason, "basis": purpose.basis.value})
        if columns:
            found.append(
                {
                    "source": _source.name,
                    "table": table.name,
                    "label": table.label or table.name,
                    "whole_table": len(columns) == len(table.columns),
                    "columns": columns,
                }
            )
    return found


@dataclass
class PortabilityPlan:
    header: Header
    #: ``download`` or ``controller`` (sent to ``recipient_url``).
    delivery: str
    recipient_url: str | None
    tables: list[TableContent]
    left_out: list[dict[str, Any]]
    withheld: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "delivery": self.delivery,
            "recipient_url": self.recipient_url,
            "tables": [t.as_dict() for t in self.tables],
            "left_out": list(self.left_out),
            "withheld": list(self.withheld),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PortabilityPlan:
        return cls(
            header=Header.from_dict(data),
            delivery=data.get("delivery") or "download",
            recipient_url=data.get("recipient_url"),
            tables=[TableContent.from_dict(t) for t in data.get("tables", [])],
            left_out=list(data.get("left_out", [])),
            withheld=list(data.get("withheld", [])),
        )


@dataclass
class PortabilityOutcome:
    reference: str
    executed_at: datetime
    plan_sha256: str
    controller: dict[str, str]
    tables: list[TableContent]
    left_out: list[dict[str, Any]]
    withheld: list[dict[str, Any]]
    searched: list[dict[str, Any]]
    #: method, recipient_url, status (download | pending | delivered | failed), attempts,
    #: and of the last attempt: at, http_status, error, sha256 and bytes of what was sent.
    delivery: dict[str, Any]
    manual_tasks: list[dict[str, Any]]
    changes_since_plan: dict[str, int]

    @property
    def record_count(self) -> int:
        return sum(t.record_count for t in self.tables)

    def answer_tables(self, env: Environment) -> list[AnswerTable]:
        """The scoped tables, each reading its records from the source when asked (for CSV)."""
        return list(answer_tables(self.tables, env.profile, env.data_dir))

    def document(self, env: Environment) -> dict[str, Any]:
        """The whole portable document as JSON (what is sent to another controller)."""
        tables = []
        for table in self.answer_tables(env):
            tables.append(
                {
                    "source": table.content.source,
                    "table": table.content.table,
                    "label": table.content.label,
                    "columns": [
                        {
                            "column": c["column"],
                            "category": c["category"],
                            "description": c["category_label"],
                        }
                        for c in table.content.columns
                    ],
                    "records": [record["values"] for record in table.records()],
                }
            )
        return {
            "format": DOCUMENT_FORMAT,
            "version": DOCUMENT_VERSION,
            "controller": dict(self.controller),
            "reference": self.reference,
            "generated_at": self.executed_at.isoformat(),
            "tables": tables,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "right": Right.portability.value,
            "reference": self.reference,
            "executed_at": self.executed_at.isoformat(),
            "plan_sha256": self.plan_sha256,
            "controller": dict(self.controller),
            "record_count": self.record_count,
            "tables": [t.as_dict() for t in self.tables],
            "left_out": list(self.left_out),
            "withheld": list(self.withheld),
            "searched": list(self.searched),
            "delivery": dict(self.delivery),
            "manual_tasks": list(self.manual_tasks),
            "changes_since_plan": dict(self.changes_since_plan),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PortabilityOutcome:
        return cls(
            reference=data["reference"],
            executed_at=datetime.fromisoformat(data["executed_at"]),
            plan_sha256=data.get("plan_sha256", ""),
            controller=dict(data.get("controller", {})),
            tables=[TableContent.from_dict(t) for t in data.get("tables", [])],
            left_out=list(data.get("left_out", [])),
            withheld=list(data.get("withheld", [])),
            searched=list(data.get("searched", [])),
            delivery=dict(data.get("delivery", {})),
            manual_tasks=list(data.get("manual_tasks", [])),
            changes_since_plan=dict(data.get("changes_since_plan", {})),
        )


def send(
    session: Session,
    request: Request,
    outcome: PortabilityOutcome,
    env: Environment,
    *,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """POST the document to the other controller once more and record the result."""
    now = now or utcnow()
    delivery = outcome.delivery
    if delivery.get("method") != "controller":
        raise WorkflowError(_l("The subject asked for a download, not a transfer."))
    if delivery.get("status") == "delivered":
        return
    body = outcome.document(env)
    result = transmit(
        delivery["recipient_url"],
        body,
        env.config,
        idempotency_key=f"{outcome.reference}:{outcome.plan_sha256}",
    )
    delivery.update(
        status="delivered" if result.ok else "failed",
        attempts=int(delivery.get("attempts", 0)) + 1,
        at=now.isoformat(),
        http_status=result.status,
        error=result.error,
        sha256=result.sha256,
        bytes=result.size,
    )
    audit.record(
        session,
        "portability.transmitted" if result.ok else "portability.transmission_failed",
        actor,
        request=request,
        reason=result.error,
        payload={
            "host": result.host,
            "http_status": result.status,
            "sha256": result.sha256,
            "bytes": result.size,
            "tables": len(outcome.tables),
            "records": outcome.record_count,
        },
        at=now,
    )


class Portability(RightHandler):
    right = Right.portability

    @classmethod
    def plan(
        cls,
        session: Session,
        request: Request,
        *,
        env: Environment | None = None,
        chosen: Sequence[str] = (),
        previous: Mapping[str, Any] | None = None,
    ) -> PortabilityPlan:
        env = env or Environment.current()
        located = locate_subject(request, env, chosen)
        tables, withheld = split_found(env, located, lambda t: scoped_columns(env, t))
        details = request.details or {}
        delivery = "controller" if details.get("delivery") == "controller" else "download"
        return PortabilityPlan(
            header=Header.build(request, env, located),
            delivery=delivery,
            recipient_url=details.get("recipient_url") if delivery == "controller" else None,
            tables=tables,
            left_out=left_out(env, located),
            withheld=withheld,
        )

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> PortabilityPlan:
        return PortabilityPlan.from_dict(data)

    @classmethod
    def load_outcome(cls, data: Mapping[str, Any]) -> PortabilityOutcome:
        return PortabilityOutcome.from_dict(data)

    @classmethod
    def blockers(cls, plan: PortabilityPlan) -> list[str]:
        found = list(plan.header.blockers())
        if plan.delivery == "controller":
            try:
                check_url(plan.recipient_url or "")
            except TransferError as exc:
                found.append(str(exc))
        return found

    @classmethod
    def execute(
        cls, session: Session, request: Request, plan: PortabilityPlan, *, run: Run
    ) -> PortabilityOutcome:
        located = locate_subject(request, run.env, plan.header.selection.chosen)
        if located.problems():
            raise WorkflowError(
                _l("Some sources could not be searched; the answer would be incomplete.")
            )
        tables, withheld = split_found(run.env, located, lambda t: scoped_columns(run.env, t))
        planned = {(t.source, t.table, key_text(k)) for t in plan.tables for k in t.keys}
        current = {(t.source, t.table, key_text(k)) for t in tables for k in t.keys}
        controller = run.env.profile.controller
        outcome = PortabilityOutcome(
            reference=request.reference,
            executed_at=run.now,
            plan_sha256=run.row.plan_sha256 or digest(plan.as_dict()),
            controller={
                "name": controller.name,
                "organisation_number": controller.organisation_number,
                "email": controller.privacy_email,
            },
            tables=tables,
            left_out=left_out(run.env, located),
            withheld=withheld,
            searched=_searched(located),
            delivery={
                "method": plan.delivery,
                "recipient_url": plan.recipient_url,
                "status": "pending" if plan.delivery == "controller" else "download",
                "attempts": 0,
            },
            manual_tasks=manual_task_list(run),
            changes_since_plan={"added": len(current - planned), "gone": len(planned - current)},
        )
        audit.record(
            session,
            "portability.prepared",
            run.actor,
            request=request,
            payload={
                "plan": run.row.number,
                "tables": [
                    {"source": t.source, "table": t.table, "records": t.record_count}
                    for t in tables
                ],
                "left_out": [
                    {"table": t["table"], "columns": [c["column"] for c in t["columns"]]}
                    for t in outcome.left_out
                ],
                "delivery": plan.delivery,
            },
            at=run.now,
        )
        if plan.delivery == "controller":
            send(session, request, outcome, run.env, actor=run.actor, now=run.now)
        return outcome

    @classmethod
    def completion_problem(cls, session: Session, row: RequestPlan) -> str | None:
        delivery = (row.outcome or {}).get("delivery", {})
        if delivery.get("method") == "controller" and delivery.get("status") != "delivered":
            return str(
                _l(
                    "The data has not reached the other controller: send it again, or offer it as a download."
                )
            )
        return None

    @classmethod
    def summary(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "tables": len(data.get("tables", [])),
            "records": sum(len(t["keys"]) for t in data.get("tables", [])),
            "delivery": data.get("delivery"),
        }


def as_download(outcome: PortabilityOutcome, note: str) -> None:
    """After a failed transfer: the subject gets the data as a download instead."""
    note = (note or "").strip()
    if not note:
        raise WorkflowError(_l("Note why the data is offered as a download instead."))
    if outcome.delivery.get("status") == "delivered":
        raise WorkflowError(_l("The data has already reached the other controller."))
    outcome.delivery.update(method="download", status="download", fallback=note)
