"""The POST actions of the plan page: read the form, call one service, say what happened.

Each action is a form field parser and one call into ``dsr.rights``; a refusal
(``WorkflowError``) rolls back and is shown to the handler, anything else commits. Flask-WTF
checks every POST's CSRF token before it gets here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import flash, request
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlmodel import Session

from dsr.audit import Actor
from dsr.models import Request, RequestPlan
from dsr.rights import service, steps
from dsr.workflow import WorkflowError

TEXT_LIMIT = 5000


def text(name: str, limit: int = TEXT_LIMIT) -> str:
    return (request.form.get(name) or "").strip()[:limit]


def json_key(name: str) -> list[Any] | None:
    """A record key sent as JSON (``[17]``); empty means "every record"."""
    raw = text(name, 500)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise WorkflowError(_l("That record is not in the plan.")) from None
    if not isinstance(value, list):
        raise WorkflowError(_l("That record is not in the plan."))
    return value


def pair(value: str) -> tuple[str, str]:
    """``source|table`` from a select option."""
    source, _, table = value.partition("|")
    if not source or not table:
        raise WorkflowError(_l("That table is not in the plan."))
    return source, table


def number(name: str) -> int:
    try:
        return int(text(name, 20))
    except ValueError:
        raise WorkflowError(_l("That is not in the plan.")) from None


Run = Callable[[Session, Request, RequestPlan | None, Actor], Any]


@dataclass(frozen=True)
class PlanAction:
    run: Run
    done: LazyString
    needs_plan: bool = True


def _plan(row: RequestPlan | None) -> RequestPlan:
    assert row is not None
    return row


def _correction(s: Session, item: Request, row: RequestPlan | None, actor: Actor) -> None:
    source, table, column = (text("column", 600).split("|") + ["", "", ""])[:3]
    steps.add_correction(
        s,
        _plan(row),
        actor=actor,
        source=source,
        table=table,
        column=column,
        key=json_key("key"),
        proposed=text("proposed"),
    )


ACTIONS: dict[str, PlanAction] = {
    "make": PlanAction(
        lambda s, item, row, a: service.make_plan(s, item, actor=a),
        _l("The plan is made. Nothing has changed in any system yet."),
        needs_plan=False,
    ),
    "choose": PlanAction(
        lambda s, item, row, a: service.make_plan(
            s, item, actor=a, chosen=request.form.getlist("people")
        ),
        _l("The plan now covers the records of the people you chose."),
        needs_plan=False,
    ),
    "approve": PlanAction(
        lambda s, item, row, a: service.approve(s, _plan(row), actor=a),
        _l("The plan is approved."),
    ),
    "execute": PlanAction(
        lambda s, item, row, a: service.execute(s, _plan(row), actor=a),
        _l("The plan has been executed."),
    ),
    "cancel": PlanAction(
        lambda s, item, row, a: service.cancel(s, _plan(row), actor=a, reason=text("reason")),
        _l("The plan is cancelled; nothing was changed."),
    ),
    "redact": PlanAction(
        lambda s, item, row, a: steps.redact(
            s,
            _plan(row),
            actor=a,
            source=pair(text("table"))[0],
            table=pair(text("table"))[1],
            key=json_key("key") or [],
            column=text("column", 200) or None,
            reason=text("reason"),
        ),
        _l("The redaction is noted; it applies when the answer is produced."),
    ),
    "unredact": PlanAction(
        lambda s, item, row, a: steps.remove_redaction(
            s, _plan(row), actor=a, index=number("index")
        ),
        _l("The redaction is removed."),
    ),
    "keep_table": PlanAction(
        lambda s, item, row, a: steps.keep_table(
            s,
            _plan(row),
            actor=a,
            source=pair(text("table"))[0],
            table=pair(text("table"))[1],
            reason=text("reason"),
        ),
        _l("The table is kept out of the erasure."),
    ),
    "erase_table": PlanAction(
        lambda s, item, row, a: steps.erase_table(
            s, _plan(row), actor=a, source=pair(text("table"))[0], table=pair(text("table"))[1]
        ),
        _l("The table is part of the erasure again."),
    ),
    "correction": PlanAction(_correction, _l("The correction is added; decide it next.")),
    "decide": PlanAction(
        lambda s, item, row, a: steps.decide_correction(
            s,
            _plan(row),
            actor=a,
            correction_id=number("correction"),
            decision=text("decision", 20),
            value=text("value") or None,
            reason=text("reason"),
        ),
        _l("The decision is noted."),
    ),
    "statement": PlanAction(
        lambda s, item, row, a: steps.add_statement(
            s, _plan(row), actor=a, text=text("text"), about=text("about", 200)
        ),
        _l("The supplementary statement is recorded."),
    ),
    "restrict_now": PlanAction(
        lambda s, item, row, a: steps.restrict_while_checking(s, _plan(row), actor=a),
        _l("The contested data is restricted while it is checked."),
    ),
    "tables": PlanAction(
        lambda s, item, row, a: steps.restrict_tables(
            s, _plan(row), actor=a, tables=[pair(v) for v in request.form.getlist("tables")]
        ),
        _l("The tables to restrict are chosen."),
    ),
    "lift_notice": PlanAction(
        lambda s, item, row, a: steps.send_lift_notice(
            s, _plan(row), actor=a, reason=text("reason")
        ),
        _l("The subject is told that the restriction will be lifted."),
    ),
    "lift": PlanAction(
        lambda s, item, row, a: steps.lift_restriction(s, _plan(row), actor=a),
        _l("The restriction is lifted."),
    ),
    "purposes": PlanAction(
        lambda s, item, row, a: steps.select_purposes(
            s, _plan(row), actor=a, keys=request.form.getlist("purposes")
        ),
        _l("The purposes are chosen."),
    ),
    "decide_purpose": PlanAction(
        lambda s, item, row, a: steps.decide_objection(
            s,
            _plan(row),
            actor=a,
            purpose=text("purpose", 200),
            decision=text("decision", 40),
            reasoning=text("reasoning"),
        ),
        _l("The decision on the objection is recorded."),
    ),
    "stop_marketing": PlanAction(
        lambda s, item, row, a: steps.stop_marketing_now(s, _plan(row), actor=a),
        _l("Direct marketing to the subject has stopped."),
    ),
    "decline": PlanAction(
        lambda s, item, row, a: steps.decline_erasure(
            s,
            _plan(row),
            actor=a,
            source=pair(text("table"))[0],
            table=pair(text("table"))[1],
            reason=text("reason"),
        ),
        _l("Those records are kept, with your reason."),
    ),
    "send_again": PlanAction(
        lambda s, item, row, a: steps.send_again(s, _plan(row), actor=a),
        _l("Sent again; see the result below."),
    ),
    "download": PlanAction(
        lambda s, item, row, a: steps.offer_download(s, _plan(row), actor=a, note=text("note")),
        _l("The data will be offered as a download."),
    ),
    "decisions": PlanAction(
        lambda s, item, row, a: steps.choose_decisions(
            s, _plan(row), actor=a, names=request.form.getlist("decisions")
        ),
        _l("The decision to review is chosen."),
    ),
    "conclude": PlanAction(
        lambda s, item, row, a: steps.conclude_review(
            s, _plan(row), actor=a, result=text("result", 20), explanation=text("explanation")
        ),
        _l("The review is concluded and the subject will be told."),
    ),
}


def run_action(
    s: Session, spec: PlanAction, item: Request, row: RequestPlan | None, actor: Actor
) -> str | None:
    """Run one action in the request's transaction; returns the message for success."""
    try:
        spec.run(s, item, row, actor)
    except WorkflowError as exc:
        s.rollback()
        flash(str(exc), "error")
        return None
    s.commit()
    return str(spec.done)
