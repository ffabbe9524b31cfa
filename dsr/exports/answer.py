"""What an answer tells the subject, as plain data, from the executed plan of their request.

:func:`build_answer` reads the request, its executed plan (``RequestPlan.outcome``), its
manual tasks and the profile, and returns an :class:`Answer`: the controller, the request,
what was done in the subject's terms (``outcome``, one shape per right, described in
``schema/answer-v1.json``), the Art. 15 information for access, how to complain, and, for
access and portability, the tables of data. The tables hold record *keys* only; their values
are read from the sources when a writer iterates :meth:`DataTable.records`, so the answer
itself stays small however many records the subject has.

Staff identities (who decided, who recorded) stay out: the subject is told what was decided
and why, not by whom.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from dsr.models import ManualTask, Request, RequestPlan, Right
from dsr.profiles import Profile
from dsr.rights.base import Environment
from dsr.rights.content import AnswerTable, TableContent
from dsr.rights.information import controller_details
from dsr.rights.recipients import ART19_RIGHTS, recipients_for_subject

FORMAT = "dsr-answer"
VERSION = 1
SCHEMA_NAME = f"answer-v{VERSION}.json"

#: The GDPR article each right comes from, as the answer cites it.
ARTICLES: Mapping[Right, str] = {
    Right.access: "15",
    Right.rectification: "16",
    Right.erasure: "17",
    Right.restriction: "18",
    Right.portability: "20",
    Right.objection: "21",
    Right.consent_withdrawal: "7(3)",
    Right.human_review: "22(3)",
}

#: Rights whose answer carries the subject's data.
WITH_DATA = frozenset({Right.access, Right.portability})


@dataclass
class DataTable:
    """One table of the data in an answer; its records are read from the source on demand."""

    source: str
    source_label: str
    table: str
    label: str
    #: ``column, category, category_label, purpose, purpose_label, basis`` per field.
    fields: list[dict[str, Any]]
    #: Records listed in the executed plan.
    record_count: int
    #: Records left out whole (others' data, trade secrets; Art. 15(4)).
    withheld: int
    reader: AnswerTable | None = None

    @property
    def columns(self) -> list[str]:
        return [f["column"] for f in self.fields]

    def records(self) -> Iterator[dict[str, Any]]:
        """``{key, values, redacted}`` per record, read from the source in chunks."""
        if self.reader is None:
            return iter(())
        return self.reader.records()

    @property
    def missing(self) -> int:
        """Records no longer in the source when last read (erased since the plan ran)."""
        return self.reader.missing if self.reader is not None else 0


@dataclass
class Answer:
    right: Right
    language: str
    generated_at: datetime
    schema_url: str
    controller: dict[str, Any]
    request: dict[str, Any]
    subject: dict[str, Any]
    outcome: dict[str, Any]
    #: The Art. 15(1)-(2) information (access only).
    information: dict[str, Any] | None
    complaint: dict[str, Any]
    #: Systems without a connection that a person searched or changed by hand.
    manual_systems: list[dict[str, Any]]
    tables: list[DataTable] = field(default_factory=list)

    @property
    def record_count(self) -> int:
        return sum(t.record_count for t in self.tables)

    def sources(self) -> list[tuple[str, str, list[DataTable]]]:
        """The tables grouped by source, in the data map's order: (name, label, tables)."""
        grouped: dict[str, tuple[str, str, list[DataTable]]] = {}
        for table in self.tables:
            grouped.setdefault(table.source, (table.source, table.source_label, []))[2].append(
                table
            )
        return list(grouped.values())

    def head(self) -> dict[str, Any]:
        """Everything but the data, as the JSON document starts."""
        head: dict[str, Any] = {
            "$schema": self.schema_url,
            "format": FORMAT,
            "version": VERSION,
            "generated_at": self.generated_at.isoformat(),
            "language": self.language,
            "controller": self.controller,
            "request": self.request,
            "subject": self.subject,
            "summary": {
                "sources": len(self.sources()),
                "tables": len(self.tables),
                "records": self.record_count,
            },
            "outcome": self.outcome,
        }
        if self.information is not None:
            head["information"] = self.information
        head["complaint"] = self.complaint
        head["manual_systems"] = self.manual_systems
        return head


# --- building -------------------------------------------------------------------------------


def build_answer(
    session: Session,
    request: Request,
    row: RequestPlan,
    env: Environment,
    *,
    now: datetime,
    base_url: str,
) -> Answer:
    """The answer to ``request`` from its executed plan ``row``."""
    if row.outcome is None or row.executed_at is None:
        raise ValueError("the plan has not been executed")
    outcome = row.outcome
    profile = env.profile
    tables = _data_tables(row.right, outcome, profile, env) if row.right in WITH_DATA else []
    shaped = OUTCOMES[row.right](row.plan, outcome)
    if row.right in ART19_RIGHTS:
        shaped["recipients"] = [
            _notice(n.as_dict()) for n in recipients_for_subject(session, request, profile)
        ]
    information = outcome.get("information") if row.right == Right.access else None
    authority = profile.authority
    return Answer(
        right=row.right,
        language=request.language,
        generated_at=now,
        schema_url=f"{base_url.rstrip('/')}/schema/{SCHEMA_NAME}",
        controller=controller_details(profile),
        request={
            "reference": request.reference,
            "right": row.right.value,
            "article": ARTICLES[row.right],
            "received_at": request.received_at.isoformat(),
            "executed_at": row.executed_at.isoformat(),
            "plan_sha256": row.plan_sha256 or "",
        },
        subject={"name": request.subject_name or "", "email": request.subject_email or ""},
        outcome=shaped,
        information=_canonical(information) if information else None,
        complaint={
            "authority": authority.name,
            "address": authority.address,
            "website": authority.website,
            "email": authority.email,
        },
        manual_systems=_manual_systems(session, request),
        tables=tables,
    )


def _data_tables(
    right: Right, outcome: Mapping[str, Any], profile: Profile, env: Environment
) -> list[DataTable]:
    found = []
    for data in outcome.get("tables", []):
        content = TableContent.from_dict(data)
        found.append(
            DataTable(
                source=content.source,
                source_label=content.source_label,
                table=content.table,
                label=content.label,
                fields=[
                    {
                        "column": c["column"],
                        "category": c["category"],
                        "category_label": c["category_label"],
                        "purpose": c["purpose"],
                        "purpose_label": c["purpose_label"],
                        "basis": c.get("basis"),
                    }
                    for c in content.columns
                ],
                record_count=content.record_count,
                withheld=content.withheld,
                reader=AnswerTable(content, profile, env.data_dir),
            )
        )
    return found


def _canonical(value: Any) -> Any:
    """``value`` with every object's keys sorted: a JSONB column hands keys back in its own
    order, and the same answer must read the same on every database."""
    if isinstance(value, Mapping):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def _manual_systems(session: Session, request: Request) -> list[dict[str, Any]]:
    tasks = session.scalars(
        select(ManualTask).where(ManualTask.request_id == request.id).order_by(col(ManualTask.id))
    )
    return [
        {
            "system": task.target,
            "kind": task.kind.value,
            "status": task.status.value,
            "note": task.note,
            "completed_at": task.completed_at.isoformat() if task.completed_at else None,
        }
        for task in tasks
    ]


def _notice(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("name", "kind", "service", "countries", "status", "notified_at")}


# --- what was done, per right ------------------------------------------------------------------

Shaper = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


def _where(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"source": entry["source"], "table": entry["table"], "label": entry["label"]}


def _withheld(outcome: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {**_where(w), "controller": w["controller"], "record_count": w["record_count"]}
        for w in outcome.get("withheld", [])
    ]


def _access(plan: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "record_count": int(outcome.get("record_count", 0)),
        "searched": [
            {"source": s["source"], "label": s["label"], "tables": list(s["tables"])}
            for s in outcome.get("searched", [])
        ],
        "withheld_for_others": _withheld(outcome),
        "redactions": [
            {**_where(r), "column": r["column"], "reason": r["reason"], "count": r["count"]}
            for r in outcome.get("redactions", [])
        ],
    }


def _portability(plan: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
    delivery = outcome.get("delivery", {})
    return {
        "record_count": int(outcome.get("record_count", 0)),
        "left_out": [
            {
                **_where(t),
                "whole_table": bool(t["whole_table"]),
                "columns": [
                    {"column": c["column"], "reason": c["reason"], "basis": c["basis"]}
                    for c in t["columns"]
                ],
            }
            for t in outcome.get("left_out", [])
        ],
        "withheld_for_others": _withheld(outcome),
        "delivery": {
            "method": delivery.get("method") or "download",
            "status": delivery.get("status") or "download",
            "recipient_url": delivery.get("recipient_url"),
            "at": delivery.get("at"),
        },
    }


def _restriction_summary(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not data:
        return None
    return {
        "restricted_at": data["restricted_at"],
        "tables": [
            {
                **_where(e),
                "records": len(e.get("keys", [])),
                "how": "marked" if e.get("column") else "by_hand",
            }
            for e in data.get("entries", [])
            if e.get("included", True)
        ],
        "notice_at": data.get("notice_at"),
        "notice_reason": data.get("notice_reason"),
        "lifted_at": data.get("lifted_at"),
    }


def _rectification(plan: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
    corrections = {c["id"]: c for c in plan.get("corrections", [])}
    labels = {(c["source"], c["table"]): c["label"] for c in plan.get("columns", [])}

    def label(entry: Mapping[str, Any]) -> str:
        return labels.get((entry["source"], entry["table"]), entry["table"])

    applied = []
    for item in outcome.get("applied", []):
        correction = corrections.get(item["id"], {})
        applied.append(
            {
                "source": item["source"],
                "table": item["table"],
                "label": label(item),
                "column": item["column"],
                "value": correction.get("value"),
                "decision": item["decision"],
                "reason": correction.get("reason") or None,
                "records": item["records"],
                "changed": item["changed"],
            }
        )
    return {
        "applied": applied,
        "rejected": [
            {
                "source": item["source"],
                "table": item["table"],
                "label": label(item),
                "column": item["column"],
                "proposed": corrections.get(item["id"], {}).get("proposed"),
                "reason": item["reason"],
            }
            for item in outcome.get("rejected", [])
        ],
        "statements": [
            {"about": s.get("about", ""), "text": s["text"], "recorded_at": s.get("recorded_at")}
            for s in outcome.get("statements", [])
        ],
        "restriction": _restriction_summary(outcome.get("restriction")),
    }


def _restriction(plan: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "grounds": outcome.get("grounds"),
        "restriction": _restriction_summary(outcome.get("restriction")),
    }


def _cleared(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **_where(e),
            "column": e["column"],
            "count": int(e.get("planned", 0)) - int(e.get("absent", 0)),
        }
        for e in entries
    ]


def _objection(plan: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "objection_to": outcome["objection_to"],
        "purposes": [
            {
                "key": p["key"],
                "description": p["description"],
                "direct_marketing": bool(p.get("direct_marketing")),
                "decision": p.get("decision") or None,
                "reasoning": p.get("reasoning") or None,
            }
            for p in outcome.get("purposes", [])
        ],
        "suppressed": bool(outcome.get("suppressed")),
        "cleared": _cleared(outcome.get("cleared", [])),
        "restriction": _restriction_summary(outcome.get("restriction")),
    }


def _consent(plan: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "withdrawn": [
            {"key": w["key"], "description": w["description"]} for w in outcome.get("withdrawn", [])
        ],
        "suppressed": bool(outcome.get("suppressed")),
        "cleared": _cleared(outcome.get("cleared", [])),
        "erased": [
            {
                **_where(e),
                "action": e["action"],
                "count": int(e.get("planned", 0)) - int(e.get("absent", 0)),
            }
            for e in outcome.get("erased", [])
        ],
        "declined": [{**_where(d), "reason": d["declined"]} for d in outcome.get("declined", [])],
    }


def _review(plan: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
    conclusion = outcome.get("conclusion")
    return {
        "decisions": [
            {"name": d["name"], "logic": d["logic"], "consequences": d["consequences"]}
            for d in outcome.get("decisions", [])
        ],
        "conclusion": {
            "result": conclusion["result"],
            "explanation": conclusion["explanation"],
            "at": conclusion.get("at"),
        }
        if conclusion
        else None,
    }


def _erasure(plan: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
    labels = {(t["source"], t["table"]): t["label"] for t in plan.get("tables", [])}
    return {
        "erased": [
            {**_where(e), "action": e["action"], "count": e["count"]}
            for e in outcome.get("erased", [])
        ],
        "kept": [
            {
                **_where(k),
                "count": k["count"],
                "until": k["until"],
                "basis": k["basis"],
                "exception": k["exception"],
                "then": k["then"] or None,
                "via": k["via"] or None,
            }
            for k in outcome.get("kept", [])
        ],
        "referred": [
            {**_where(r), "controller": r["controller"], "count": r["count"]}
            for r in outcome.get("referred", [])
        ],
        "excluded": [
            {**_where(x), "reason": x["reason"], "count": x["count"]}
            for x in outcome.get("excluded", [])
        ],
        "followups": [
            {
                "source": f["source"],
                "table": f["table"],
                "label": labels.get((f["source"], f["table"]), f["table"]),
                "action": f["action"],
                "due_on": f["due_on"],
                "count": f["count"],
            }
            for f in outcome.get("followups", [])
        ],
    }


OUTCOMES: Mapping[Right, Shaper] = {
    Right.access: _access,
    Right.portability: _portability,
    Right.rectification: _rectification,
    Right.restriction: _restriction,
    Right.objection: _objection,
    Right.consent_withdrawal: _consent,
    Right.human_review: _review,
    Right.erasure: _erasure,
}
