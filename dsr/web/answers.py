"""The answer on the staff request page (make, preview, release) and its public JSON Schema.

``/staff/requests/<reference>/answer...`` are POSTs: making an answer, releasing it, and
previewing its JSON or PDF, which shows the subject's data to a staff member and is
therefore logged, so it cannot be a GET. ``GET /schema/answer-v1.json`` serves the schema the
answer document names in its ``$schema``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from dsr.audit import Actor
from dsr.db import session as db_session
from dsr.exports import SCHEMA_DIR
from dsr.exports import service as answers
from dsr.exports.answer import SCHEMA_NAME
from dsr.exports.sealed import SealedFileError
from dsr.models import Export, ExportState, ManualTask, PlanState, Request, TaskStatus
from dsr.rights.service import live_plan
from dsr.web.auth import handler_required, staff, staff_required
from dsr.web.forms import ConfirmForm
from dsr.workflow import WorkflowError

bp = Blueprint("answers", __name__)


@bp.get("/schema/<name>")
def schema(name: str) -> Any:
    if name != SCHEMA_NAME:
        abort(404)
    return Response(
        (SCHEMA_DIR / name).read_bytes(),
        mimetype="application/schema+json",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def answer_summary(item: Request) -> dict[str, Any]:
    """What the request page's answer panel shows (plain data)."""
    s = db_session()
    exports = answers.exports_of(s, item)
    names = answers.staff_names(s, exports)
    row = live_plan(s, item)
    executed = row is not None and row.state == PlanState.executed
    building = any(e.state == ExportState.building for e in exports)
    open_tasks = s.scalar(
        select(func.count())
        .select_from(ManualTask)
        .where(ManualTask.request_id == item.id, ManualTask.status == TaskStatus.open)
    )
    return {
        "open_tasks": open_tasks or 0,
        "needed": item.right in answers.ANSWER_REQUIRED,
        "can_prepare": executed and not building and item.anonymized_at is None,
        "executed": executed,
        "exports": [
            {
                "id": e.id,
                "state": e.state.value,
                "progress": e.progress,
                "error": e.error,
                "size_bytes": e.size_bytes,
                "sha256": e.sha256,
                "created_at": e.created_at,
                "ready_at": e.ready_at,
                "released_at": e.released_at,
                "released_by": names.get(e.released_by_id or 0, ""),
                "expires_at": e.expires_at,
                "purged_at": e.purged_at,
                "download_count": e.download_count,
                "stale": e.state == ExportState.ready and answers.is_stale(s, e),
            }
            for e in exports
        ],
    }


@bp.app_context_processor
def _panel() -> dict[str, Any]:
    return {"answer_summary": answer_summary}


def _load(reference: str) -> Request:
    found = db_session().scalars(select(Request).where(Request.reference == reference)).first()
    if found is None:
        abort(404)
    return found


def _export(item: Request, export_id: int) -> Export:
    export = db_session().get(Export, export_id)
    if export is None or export.request_id != item.id:
        abort(404)
    return export


def _back(item: Request) -> Any:
    return redirect(url_for("casework.show", reference=item.reference, _anchor="answer-h"))


@bp.post("/staff/requests/<reference>/answer")
@handler_required
def prepare(reference: str) -> Any:
    """Make the answer (again): the scheduler builds it, and the panel shows the progress."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    s = db_session()
    item = _load(reference)
    try:
        answers.prepare(s, item, actor=Actor.staff(staff()))
    except WorkflowError as exc:
        s.rollback()
        flash(str(exc), "error")
        return _back(item)
    s.commit()
    flash(_("The answer is being made. This page shows how far it has come."), "success")
    return _back(item)


@bp.post("/staff/requests/<reference>/answer/<int:export_id>/release")
@handler_required
def release(reference: str, export_id: int) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    s = db_session()
    item = _load(reference)
    export = _export(item, export_id)
    try:
        answers.release(s, export, actor=Actor.staff(staff()))
    except WorkflowError as exc:
        s.rollback()
        flash(str(exc), "error")
        return _back(item)
    s.commit()
    flash(_("The answer is released; the subject has been emailed that it is ready."), "success")
    return _back(item)


@bp.post("/staff/requests/<reference>/answer/<int:export_id>/preview/<kind>")
@staff_required
def preview(reference: str, export_id: int, kind: str) -> Any:
    """The answer's JSON or PDF, shown in the browser; the viewing is logged."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if kind not in answers.PREVIEWS:
        abort(404)
    s = db_session()
    item = _load(reference)
    export = _export(item, export_id)
    try:
        content, name, mimetype = answers.read_member(s, export, kind, actor=Actor.staff(staff()))
    except WorkflowError as exc:
        s.rollback()
        flash(str(exc), "error")
        return _back(item)
    except (OSError, SealedFileError):
        s.rollback()
        flash(_("The answer's file cannot be read or does not check out: make it again."), "error")
        return _back(item)
    s.commit()
    return Response(
        content,
        mimetype=mimetype,
        headers={"Content-Disposition": f'inline; filename="{item.reference}-{name}"'},
    )
