"""Staff pages for a request's plan: review it, decide, approve, run, and what follows.

``/staff/requests/<reference>/plan`` shows the request's plan with what its right needs
decided (redactions, corrections, tables kept, purposes, the person to review) and, once
run, the outcome. Every change is a POST to ``/plan/<action>``; the actions are listed in
``dsr.web.plan_actions`` and call ``dsr.rights.steps`` or ``dsr.rights.service``. The
suppression list has its page here too.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from dsr import identity, suppression
from dsr.audit import Actor
from dsr.db import session as db_session
from dsr.db import utcnow
from dsr.models import PlanState, Request, Right
from dsr.rights import rectification, service
from dsr.rights.base import Environment, locate_subject
from dsr.rights.sourcewrite import key_text
from dsr.sources.results import plain
from dsr.web.auth import handler_required, staff, staff_required
from dsr.web.plan_actions import ACTIONS, run_action

bp = Blueprint("plan", __name__, url_prefix="/staff")

#: Rows of values shown per table when a handler decides on records.
ROWS_SHOWN = 100


def _load(reference: str) -> Request:
    found = db_session().scalars(select(Request).where(Request.reference == reference)).first()
    if found is None:
        abort(404)
    return found


def plan_summary(item: Request) -> dict[str, Any] | None:
    """What the request page's plan panel shows (plain data)."""
    row = service.live_plan(db_session(), item)
    if row is None:
        return None
    return {
        "number": row.number,
        "state": row.state.value,
        "execute_after": row.execute_after,
        "executed_at": row.executed_at,
        "error": row.error,
    }


@bp.app_context_processor
def _panel() -> dict[str, Any]:
    return {"plan_summary": plan_summary}


def _record_labels(located: Any) -> dict[str, str]:
    """``source|table|key`` -> a few of the record's values, to tell records apart."""
    labels = {}
    for source, table, records in located.tables():
        for record in records[:ROWS_SHOWN]:
            values = [
                str(plain(f.value))
                for f in record.fields
                if f.category is not None and f.value not in (None, "")
            ][:3]
            labels[f"{source.name}|{table.name}|{record.key_text}"] = " · ".join(values)
    return labels


def _values(located: Any) -> dict[str, dict[str, Any]]:
    """``source|table`` -> columns and rows of values, for deciding on records."""
    shown: dict[str, dict[str, Any]] = {}
    for source, table, records in located.tables():
        if not records:
            continue
        columns = [c for c in table.table.columns]
        shown[f"{source.name}|{table.name}"] = {
            "columns": columns,
            "rows": [
                {
                    "key": record.key_text,
                    "key_json": [plain(k) for k in record.key],
                    "values": [plain(record.value(c)) for c in columns],
                }
                for record in records[:ROWS_SHOWN]
            ],
            "more": max(0, len(records) - ROWS_SHOWN),
        }
    return shown


@bp.get("/requests/<reference>/plan")
@staff_required
def show(reference: str) -> Any:
    s = db_session()
    item = _load(reference)
    row = service.live_plan(s, item)
    older = [r for r in service.history(s, item) if row is None or r.id != row.id]
    extra: dict[str, Any] = {}
    blockers: list[str] = []
    if row is not None and row.state == PlanState.draft:
        handler = service.handler_for(row.right)
        blockers = handler.blockers(handler.load(row.plan))
        if not identity.sufficient_for_right(item):
            blockers.insert(0, _("The subject's identity is not verified well enough yet."))
        if row.right in (Right.access, Right.rectification, Right.erasure):
            env = Environment.current()
            located = locate_subject(item, env, row.plan.get("selection", {}).get("chosen", []))
            extra["labels"] = _record_labels(located)
            extra["values"] = _values(located)
            if row.right == Right.rectification:
                plan = rectification.RectificationPlan.from_dict(row.plan)
                current = rectification.current_values(env, item, plan)
                extra["current"] = {"|".join(k): v for k, v in current.items()}
    return render_template(
        "staff/plan.html",
        item=item,
        row=row,
        plan=row.plan if row else None,
        outcome=row.outcome if row else None,
        older=older,
        blockers=blockers,
        extra=extra,
        names=service.staff_names(s, [r for r in [row, *older] if r is not None]),
        now=utcnow(),
        key_text=key_text,
    )


@bp.post("/requests/<reference>/plan/<action>")
@handler_required
def act(reference: str, action: str) -> Any:
    spec = ACTIONS.get(action)
    if spec is None:
        abort(404)
    s = db_session()
    item = _load(reference)
    row = service.live_plan(s, item)
    if spec.needs_plan and row is None:
        flash(_("Make a plan first."), "error")
        return redirect(url_for("plan.show", reference=reference))
    message = run_action(s, spec, item, row, Actor.staff(staff()))
    if message is not None:
        flash(message, "success")
    return redirect(url_for("plan.show", reference=reference))


# --- the suppression list ------------------------------------------------------------------------


@bp.get("/suppression")
@staff_required
def suppression_list() -> Any:
    return render_template("staff/plan_suppression.html", count=suppression.count(db_session()))


@bp.post("/suppression/export")
@handler_required
def suppression_export() -> Any:
    s = db_session()
    text = suppression.export_csv(s, actor=Actor.staff(staff()))
    s.commit()
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=suppression-list.csv"},
    )
