"""Admin view of the email outbox: what was sent, what is waiting, what failed and why.

Read-only, except that an email the service gave up on can be queued again once the cause
(a wrong address, a mail server that was down for hours) has been dealt with.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlmodel import col

from dsr import notifications
from dsr.audit import Actor
from dsr.db import session as db_session
from dsr.db import utcnow
from dsr.labels import OUTBOX_STATUS_LABELS
from dsr.models import EmailOutbox, OutboxStatus, Request
from dsr.web.auth import admin_required, staff
from dsr.web.forms import ConfirmForm

bp = Blueprint("outbox", __name__, url_prefix="/staff/admin/outbox")

PAGE_SIZE = 100


@bp.get("/")
@admin_required
def index() -> Any:
    s = db_session()
    shown = request.args.get("status")
    status = OutboxStatus(shown) if shown in {m.value for m in OutboxStatus} else None
    query = select(EmailOutbox).order_by(col(EmailOutbox.id).desc())
    if status is not None:
        query = query.where(EmailOutbox.status == status)
    before = request.args.get("before", type=int)
    if before:
        query = query.where(col(EmailOutbox.id) < before)
    rows = s.scalars(query.limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    request_ids = {r.request_id for r in rows if r.request_id is not None}
    references = dict(
        s.execute(
            select(col(Request.id), col(Request.reference)).where(col(Request.id).in_(request_ids))
        ).all()
    )
    counts = {
        OutboxStatus(value): count
        for value, count in s.execute(
            select(col(EmailOutbox.status), func.count()).group_by(col(EmailOutbox.status))
        ).all()
    }
    return render_template(
        "staff/admin_outbox.html",
        rows=rows,
        more=more,
        status=status,
        counts=counts,
        references=references,
        labels=OUTBOX_STATUS_LABELS,
        form=ConfirmForm(),
    )


@bp.post("/<int:outbox_id>/retry")
@admin_required
def retry(outbox_id: int) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    s = db_session()
    row = s.get(EmailOutbox, outbox_id)
    if row is None:
        abort(404)
    try:
        notifications.retry(s, row, Actor.staff(staff()), utcnow())
    except notifications.OutboxError as problem:
        flash(str(problem), "error")
        return redirect(url_for("outbox.index", status=OutboxStatus.dead.value)), 303
    s.commit()
    flash(_("The email to %(to)s is queued again.", to=row.to_addr), "success")
    return redirect(url_for("outbox.index", _anchor=f"email-{row.id}")), 303
