"""The queue: every request with its deadline, filtered in the URL, bulk actions, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from sqlmodel import col

from dsr import audit, deadlines, identity, labels, queue, workflow
from dsr.audit import Actor
from dsr.db import get_db
from dsr.db import session as db_session
from dsr.models import (
    AssuranceLevel,
    Channel,
    CloseReason,
    Request,
    RequestStatus,
    Right,
    StaffUser,
)
from dsr.web.auth import handler_required, staff, staff_required
from dsr.web.forms import ConfirmForm

bp = Blueprint("queue", __name__, url_prefix="/staff")

BULK_LIMIT = 200


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _query_options() -> dict[str, Any]:
    zone = _zone()
    return {
        "me_id": staff().id,
        "today": deadlines.today(zone),
        "due_soon_days": current_app.config["DEADLINES_DUE_SOON_DAYS"],
        "zone": zone,
    }


def assignable_staff() -> list[StaffUser]:
    return list(
        db_session().scalars(
            select(StaffUser)
            .where(col(StaffUser.active).is_(True), col(StaffUser.role).in_(["admin", "handler"]))
            .order_by(col(StaffUser.name))
        )
    )


@bp.get("/")
@staff_required
def index() -> Any:
    f, errors = queue.QueueFilter.from_args(request.args)
    after = queue.Cursor.decode(request.args.get("after", ""), f.sort)
    before = queue.Cursor.decode(request.args.get("before", ""), f.sort)
    result = queue.page(
        db_session(),
        f,
        after=after,
        before=before if after is None else None,
        limit=current_app.config["STAFF_PAGE_SIZE"],
        **_query_options(),
    )
    return render_template(
        "staff/queue.html",
        page=result,
        f=f,
        errors=errors,
        rights=list(Right),
        statuses=list(RequestStatus),
        channels=list(Channel),
        staff_members=assignable_staff(),
        close_reasons=list(CloseReason),
        form=ConfirmForm(),
        words=_words(),
    )


def _words() -> dict[str, dict[Any, str]]:
    """The words for the values the rows show, translated once per page, not once per row."""
    return {
        "right": {value: labels.label("right", value) for value in Right},
        "status": {value: labels.label("status", value) for value in RequestStatus},
        "assurance": {value: labels.label("assurance", value) for value in AssuranceLevel},
    }


@bp.post("/bulk")
@handler_required
def bulk() -> Any:
    """Apply one action to the ticked requests: assign, remind to verify, close as spam/duplicate."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()][:BULK_LIMIT]
    action = request.form.get("action", "")
    back = url_for("queue.index") + "?" + request.form.get("filter_qs", "")
    if not ids:
        flash(_("Tick at least one request."), "error")
        return redirect(back)
    s = db_session()
    actor = Actor.staff(staff())
    requests_ = list(s.scalars(select(Request).where(col(Request.id).in_(ids))))
    done, skipped = 0, []
    for item in requests_:
        try:
            if action == "assign":
                raw = request.form.get("assignee", "")
                assignee = s.get(StaffUser, int(raw)) if raw.isdigit() else None
                if raw and assignee is None:
                    raise workflow.WorkflowError(_("Unknown staff member."))
                workflow.assign(s, item, assignee, actor=actor)
            elif action == "remind":
                if item.status != RequestStatus.unverified or not item.subject_email:
                    raise workflow.WorkflowError(
                        _("Only unverified requests with an email address can be reminded.")
                    )
                identity.resend_verification(s, item, actor=actor)
            elif action in ("spam", "duplicate"):
                workflow.close_as(
                    s,
                    item,
                    reason=CloseReason(action),
                    note=request.form.get("note", ""),
                    actor=actor,
                )
            else:
                abort(400)
            done += 1
        except workflow.WorkflowError as exc:
            skipped.append(f"{item.reference}: {exc}")
    s.commit()
    flash(_("%(n)d request(s) updated.", n=done), "success")
    for message in skipped:
        flash(message, "warning")
    return redirect(back)


CSV_COLUMNS = (
    "reference",
    "right",
    "regime",
    "status",
    "channel",
    "received_at",
    "due_legal",
    "extended",
    "assurance",
    "assignee",
    "closed_at",
    "outcome",
)


def _csv_row(item: Request) -> list[str]:
    outcome = (
        item.close_reason.value
        if item.close_reason
        else (item.refusal_scope.value + "_refusal" if item.refusal_scope else "")
    )
    return [
        item.reference,
        item.right.value,
        item.regime.value,
        item.status.value,
        item.channel.value,
        item.received_at.isoformat(),
        item.due_legal.isoformat(),
        "yes" if item.extended_at else "no",
        item.assurance.value,
        item.assignee.email if item.assignee else "",
        item.closed_at.isoformat() if item.closed_at else "",
        outcome,
    ]


@bp.post("/export.csv")
@staff_required
def export_csv() -> Any:
    """The filtered register as CSV, for the accountability record.

    It carries no subject identities: references, rights, dates and outcomes only. The export
    is a disclosure of the register, so it is audited (and is therefore a POST).
    """
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    f, _errors = queue.QueueFilter.from_args(request.form)
    options = _query_options()
    s = db_session()
    audit.record(s, "register.exported", Actor.staff(staff()), payload={"filter": f.to_args()})
    s.commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        with get_db(app).transaction() as session:
            for count, item in enumerate(queue.iter_matching(session, f, **options), start=1):
                writer.writerow(_csv_row(item))
                if count % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    stamp = options["today"].isoformat()
    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="dsr-register-{stamp}.csv"'},
    )
