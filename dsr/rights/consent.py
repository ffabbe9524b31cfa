"""Withdrawal of consent (Art. 7(3)), per consent-based purpose of the profile.

The handler picks which of the profile's consent purposes the subject withdrew (their words
are on the plan); direct marketing is among them whatever its stated basis, since it stops
on request in any case (Art. 21(3)). Executing stops those purposes: the consent columns the data map names
for them are cleared, a purpose that is direct marketing also puts the address on the
suppression list, and the recipients' "stop" tasks are made. Withdrawal is not retroactive.

Where the withdrawn consent was the only basis for a table (every column serves only the
withdrawn purposes), no other basis remains and the records should go (Art. 17(1)(b)): the
plan offers their erasure, by the table's own erasure rule, and the handler may decline it
for a table with a reason. Tables retained by law are never erased here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlmodel import Session

from dsr import audit
from dsr.models import Request, Right, SuppressionReason
from dsr.profiles import LegalBasis
from dsr.rights.access import manual_task_list
from dsr.rights.base import (
    Environment,
    Header,
    Located,
    RightHandler,
    Run,
    json_key,
    locate_subject,
    source_not_changed,
)
from dsr.rights.objection import (
    clear_marketing,
    cleared_in,
    marketing_targets,
    purpose_entry,
    stop_direct_marketing,
)
from dsr.rights.sourcewrite import SourceSession, SourceWriteError
from dsr.sources.datamap import Erasure
from dsr.workflow import WorkflowError


def offer_tables(located: Located) -> list[dict[str, Any]]:
    """Tables holding the subject's records, with the purposes their columns serve."""
    found = []
    for source, table_result, records in located.tables():
        table = table_result.table
        if not records:
            continue
        found.append(
            {
                "source": source.name,
                "source_label": source.source.label or source.name,
                "table": table.name,
                "label": table.label or table.name,
                "rule": table.erasure.value,
                "purposes": sorted({c.purpose for c in table.columns.values()}),
                "keys": [json_key(r) for r in records],
                "declined": "",
            }
        )
    return found


@dataclass
class ConsentPlan:
    header: Header
    consent: str | None
    purposes: list[dict[str, Any]]
    #: Every table with the subject's records and its purposes; the erasure offer and the
    #: consent columns follow from which purposes are selected.
    tables: list[dict[str, Any]]
    #: Consent columns per table, with the purpose each serves.
    consent_columns: list[dict[str, Any]]

    def selected(self) -> set[str]:
        return {p["key"] for p in self.purposes if p["selected"]}

    def erasure_offer(self) -> list[dict[str, Any]]:
        """Tables resting only on the withdrawn consents: no other basis remains."""
        chosen = self.selected()
        return [
            t
            for t in self.tables
            if chosen and set(t["purposes"]) <= chosen and t["rule"] != Erasure.retain.value
        ]

    def to_clear(self) -> list[dict[str, Any]]:
        chosen = self.selected()
        offered = {(t["source"], t["table"]) for t in self.erasure_offer() if not t["declined"]}
        return [
            c
            for c in self.consent_columns
            if c["purpose"] in chosen and (c["source"], c["table"]) not in offered
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "consent": self.consent,
            "purposes": [dict(p) for p in self.purposes],
            "tables": [dict(t) for t in self.tables],
            "consent_columns": [dict(c) for c in self.consent_columns],
            "erasure_offer": [
                {k: t[k] for k in ("source", "table", "label", "rule", "declined")}
                | {"records": len(t["keys"])}
                for t in self.erasure_offer()
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsentPlan:
        return cls(
            header=Header.from_dict(data),
            consent=data.get("consent"),
            purposes=[dict(p) for p in data.get("purposes", [])],
            tables=[dict(t) for t in data.get("tables", [])],
            consent_columns=[dict(c) for c in data.get("consent_columns", [])],
        )


@dataclass
class ConsentOutcome:
    reference: str
    executed_at: datetime
    plan_sha256: str
    withdrawn: list[dict[str, Any]]
    suppressed: bool
    cleared: list[dict[str, Any]]
    erased: list[dict[str, Any]]
    declined: list[dict[str, Any]]
    manual_tasks: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "right": Right.consent_withdrawal.value,
            "reference": self.reference,
            "executed_at": self.executed_at.isoformat(),
            "plan_sha256": self.plan_sha256,
            "withdrawn": list(self.withdrawn),
            "suppressed": self.suppressed,
            "cleared": list(self.cleared),
            "erased": list(self.erased),
            "declined": list(self.declined),
            "manual_tasks": list(self.manual_tasks),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsentOutcome:
        return cls(
            reference=data["reference"],
            executed_at=datetime.fromisoformat(data["executed_at"]),
            plan_sha256=data.get("plan_sha256", ""),
            withdrawn=list(data.get("withdrawn", [])),
            suppressed=bool(data.get("suppressed")),
            cleared=list(data.get("cleared", [])),
            erased=list(data.get("erased", [])),
            declined=list(data.get("declined", [])),
            manual_tasks=list(data.get("manual_tasks", [])),
        )


def decline_erasure(plan: ConsentPlan, *, source: str, table: str, reason: str) -> None:
    """Keep a table the plan offers to erase, with the reason (another basis after all)."""
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError(_l("Say why these records are kept; the subject is told."))
    for entry in plan.tables:
        if (entry["source"], entry["table"]) == (source, table):
            entry["declined"] = reason
            return
    raise WorkflowError(_l("That table is not in the plan."))


def _erase(
    env: Environment,
    entries: Sequence[Mapping[str, Any]],
    after_source: Callable[[str, list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:
    """Erase offered tables by their own rule, children before parents, one transaction
    per source; ``after_source(name, counts)`` runs once each source has committed."""
    done: list[dict[str, Any]] = []
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault(entry["source"], []).append(entry)
    for source_name, group in grouped.items():
        source = env.profile.source(source_name)
        order = {t.name: i for i, t in enumerate(source.tables)}
        before = len(done)
        try:
            with SourceSession(source, env.data_dir) as writer:
                for entry in sorted(group, key=lambda e: -order.get(e["table"], 0)):
                    mapped = source.table(entry["table"])
                    keys = writer.typed_keys(mapped, entry["keys"])
                    if mapped.erasure is Erasure.anonymize:
                        count = writer.anonymize(mapped, keys)
                    else:
                        count = writer.delete(mapped, keys)
                    done.append(
                        {
                            "source": entry["source"],
                            "table": entry["table"],
                            "label": entry["label"],
                            "action": "anonymized"
                            if mapped.erasure is Erasure.anonymize
                            else "deleted",
                            **count.as_dict(),
                        }
                    )
        except SourceWriteError as exc:
            raise source_not_changed(source, exc) from None
        if after_source is not None:
            after_source(source_name, done[before:])
    return done


class ConsentHandler(RightHandler):
    right = Right.consent_withdrawal
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
    ) -> ConsentPlan:
        env = env or Environment.current()
        located = locate_subject(request, env, chosen)
        # Consent purposes, and direct marketing whatever basis the controller gives it: a
        # subject who takes back their "consent" to marketing must not get it any more.
        consent_keys = [
            k
            for k, p in env.profile.purposes.items()
            if p.basis is LegalBasis.consent or p.direct_marketing
        ]
        before = {p["key"] for p in (previous or {}).get("purposes", []) if p.get("selected")}
        declined = {
            (t["source"], t["table"]): t["declined"]
            for t in (previous or {}).get("tables", [])
            if t.get("declined")
        }
        purposes = [
            purpose_entry(env.profile, k, k in before or len(consent_keys) == 1)
            for k in consent_keys
        ]
        tables = offer_tables(located)
        for entry in tables:
            entry["declined"] = declined.get((entry["source"], entry["table"]), "")
        return ConsentPlan(
            header=Header.build(request, env, located),
            consent=(request.details or {}).get("consent"),
            purposes=purposes,
            tables=tables,
            consent_columns=[
                {
                    **m,
                    "purpose": env.profile.source(m["source"])
                    .table(m["table"])
                    .columns[m["column"]]
                    .purpose,
                }
                for m in marketing_targets(located, set(consent_keys))
            ],
        )

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> ConsentPlan:
        return ConsentPlan.from_dict(data)

    @classmethod
    def load_outcome(cls, data: Mapping[str, Any]) -> ConsentOutcome:
        return ConsentOutcome.from_dict(data)

    @classmethod
    def blockers(cls, plan: ConsentPlan) -> list[str]:
        found = list(plan.header.blockers())
        if not plan.selected():
            found.append(str(_l("Choose the consent the subject withdrew.")))
        return found

    @classmethod
    def execute(
        cls, session: Session, request: Request, plan: ConsentPlan, *, run: Run
    ) -> ConsentOutcome:
        located = locate_subject(request, run.env, plan.header.selection.chosen)
        chosen = plan.selected()
        marketing = {k for k in chosen if run.env.profile.purposes[k].direct_marketing}
        fresh = {(t["source"], t["table"]): t for t in offer_tables(located)}
        to_erase = [
            {**t, "keys": fresh[(t["source"], t["table"])]["keys"]}
            for t in plan.erasure_offer()
            if not t["declined"] and (t["source"], t["table"]) in fresh
        ]
        suppressed = False
        cleared: list[dict[str, Any]] = []
        if marketing:
            stopped = stop_direct_marketing(
                session,
                request,
                run.env,
                located,
                set(),
                actor=run.actor,
                reason=SuppressionReason.consent_withdrawal,
                now=run.now,
                commit=run.commit,
            )
            suppressed = stopped["suppressed"]
        erasing = {(t["source"], t["table"]) for t in to_erase}
        columns = [
            c
            for c in marketing_targets(located, chosen)
            if (c["source"], c["table"]) not in erasing
        ]
        cleared = clear_marketing(
            run.env, columns, cleared_in(session, request, run.actor, run.now, run.commit)
        )

        def erased_in(source_name: str, counts: list[dict[str, Any]]) -> None:
            audit.record(
                session,
                "consent.erased",
                run.actor,
                request=request,
                reason="Art. 17(1)(b)",
                payload={
                    "source": source_name,
                    "tables": [
                        {"table": c["table"], "action": c["action"], "changed": c["changed"]}
                        for c in counts
                    ],
                },
                at=run.now,
            )
            run.commit()

        erased = _erase(run.env, to_erase, erased_in)
        audit.record(
            session,
            "consent.withdrawn",
            run.actor,
            request=request,
            payload={
                "plan": run.row.number,
                "purposes": sorted(chosen),
                "cleared": [{"table": c["table"], "changed": c["changed"]} for c in cleared],
                "erased": [
                    {"table": e["table"], "action": e["action"], "changed": e["changed"]}
                    for e in erased
                ],
            },
            public=True,
            at=run.now,
        )
        return ConsentOutcome(
            reference=request.reference,
            executed_at=run.now,
            plan_sha256=run.row.plan_sha256 or "",
            withdrawn=[
                {"key": p["key"], "description": p["description"]}
                for p in plan.purposes
                if p["selected"]
            ],
            suppressed=suppressed,
            cleared=cleared,
            erased=erased,
            declined=[
                {
                    "source": t["source"],
                    "table": t["table"],
                    "label": t["label"],
                    "reason": t["declined"],
                }
                for t in plan.erasure_offer()
                if t["declined"]
            ],
            manual_tasks=manual_task_list(run),
        )

    @classmethod
    def summary(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "purposes": sorted(p["key"] for p in data.get("purposes", []) if p.get("selected")),
            "erasure_offer": len(data.get("erasure_offer", [])),
        }
