"""The request page and every action on it.

Actions that write to the subject go through three steps: fill in the form, review (and
edit) the email it will send, send. Nothing is stored before the last step; the review step
renders the email with a placeholder where the private status link will go, because issuing
a link is itself a change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlmodel import Session, col
from wtforms.fields.choices import SelectChoice

from dsr import audit, crypto, identity, notifications, workflow
from dsr.audit import Actor
from dsr.db import session as db_session
from dsr.models import (
    AuditEvent,
    CloseReason,
    ManualTask,
    PauseReason,
    RefusalGrounds,
    RefusalScope,
    Request,
    RequestMessage,
    StaffUser,
    TaskStatus,
)
from dsr.web import staff_forms as forms
from dsr.web.auth import handler_required, staff, staff_required
from dsr.web.forms import ConfirmForm
from dsr.web.queue import assignable_staff

bp = Blueprint("casework", __name__, url_prefix="/staff/requests")


def load(reference: str) -> Request:
    found = db_session().scalars(select(Request).where(Request.reference == reference)).first()
    if found is None:
        abort(404)
    return found


def back_to(item: Request) -> Any:
    return redirect(url_for("casework.show", reference=item.reference))


def timeline(session: Session, item: Request) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.request_id == item.id).order_by(col(AuditEvent.seq))
        )
    )


@bp.get("/<reference>")
@staff_required
def show(reference: str) -> Any:
    s = db_session()
    item = load(reference)
    messages = list(
        s.scalars(
            select(RequestMessage)
            .where(RequestMessage.request_id == item.id)
            .order_by(col(RequestMessage.created_at))
        )
    )
    tasks = list(
        s.scalars(
            select(ManualTask).where(ManualTask.request_id == item.id).order_by(col(ManualTask.id))
        )
    )
    assign_form = forms.AssignForm()
    assign_form.assignee.choices = [SelectChoice("", _("Nobody"))] + [
        SelectChoice(str(m.id), m.name) for m in assignable_staff()
    ]
    assign_form.assignee.data = str(item.assignee_id or "")
    return render_template(
        "staff/request.html",
        item=item,
        events=timeline(s, item),
        messages=messages,
        tasks=tasks,
        pauses=workflow.pauses(s, item),
        blockers=workflow.completion_blockers(s, item) if item.is_open else [],
        required=identity.required_assurance(item.right),
        required_met=identity.sufficient_for_right(item),
        assign_form=assign_form,
        identity_form=forms.IdentityCheckForm(),
        task_form=forms.TaskForm(),
        confirm=ConfirmForm(),
        staff_names={m.id: m.name for m in s.scalars(select(StaffUser))},
        revealed_pnr=None,
    )


@bp.post("/<reference>/reveal-personnummer")
@staff_required
def reveal_personnummer(reference: str) -> Any:
    """Show the full personnummer once, and record that it was shown to whom."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    s = db_session()
    item = load(reference)
    if not item.subject_pnr_encrypted:
        return back_to(item)
    audit.record(s, "request.personnummer_shown", Actor.staff(staff()), request=item)
    s.commit()
    plain = crypto.decrypt(item.subject_pnr_encrypted, crypto.PNR_LABEL)
    shown = f"{plain[:8]}-{plain[8:]}" if len(plain) == 12 else plain
    flash(_("Personnummer: %(pnr)s (this viewing is recorded in the audit log)", pnr=shown), "info")
    return back_to(item)


@bp.post("/<reference>/assign")
@handler_required
def assign(reference: str) -> Any:
    s = db_session()
    item = load(reference)
    form = forms.AssignForm()
    form.assignee.choices = [SelectChoice("", "")] + [
        SelectChoice(str(m.id), m.name) for m in assignable_staff()
    ]
    if not form.validate_on_submit():
        flash(_("Choose someone to assign the request to."), "error")
        return back_to(item)
    assignee = s.get(StaffUser, int(form.assignee.data)) if form.assignee.data else None
    return _run(
        item,
        lambda: workflow.assign(s, item, assignee, actor=Actor.staff(staff())),
        _("Assignment saved."),
    )


@bp.post("/<reference>/take")
@handler_required
def take(reference: str) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    s = db_session()
    item = load(reference)
    me = staff()

    def act() -> None:
        workflow.assign(s, item, me, actor=Actor.staff(me))
        workflow.start_work(s, item, actor=Actor.staff(me))

    return _run(item, act, _("The request is yours."))


@bp.post("/<reference>/resume")
@handler_required
def resume(reference: str) -> Any:
    s = db_session()
    item = load(reference)
    form = forms.ResumeForm()
    if not form.validate_on_submit():
        abort(400)
    return _run(
        item,
        lambda: workflow.resume(s, item, actor=Actor.staff(staff()), note=form.note.data),
        _("The clock is running again."),
    )


@bp.post("/<reference>/identity-check")
@handler_required
def identity_check(reference: str) -> Any:
    s = db_session()
    item = load(reference)
    form = forms.IdentityCheckForm()
    if not form.validate_on_submit():
        flash(_("Choose how the identity was checked and add a note."), "error")
        return back_to(item)
    return _run(
        item,
        lambda: identity.record_staff_check(
            s,
            item,
            method=form.method.data or "",
            note=form.note.data or "",
            actor=Actor.staff(staff()),
        ),
        _("The identity check is recorded."),
    )


@bp.post("/<reference>/match-personnummer")
@handler_required
def match_personnummer(reference: str) -> Any:
    """Check the given personnummer against the customer records the verified email leads to."""
    from dsr.profiles import current_profile
    from dsr.sources import matching

    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    s = db_session()
    item = load(reference)
    try:
        result = matching.match_personnummer(
            s,
            item,
            current_profile(),
            data_dir=current_app.config["DATA_DIR"],
            actor=Actor.staff(staff()),
        )
    except matching.MatchRefused:
        flash(_("The personnummer can be matched once the email address is confirmed."), "error")
        return back_to(item)
    s.commit()
    messages = {
        matching.MatchOutcome.matched: (
            _("The personnummer matches the customer record the email leads to."),
            "success",
        ),
        matching.MatchOutcome.different: (
            _(
                "The customer record the email leads to has another personnummer, or none: not matched."
            ),
            "warning",
        ),
        matching.MatchOutcome.no_customer: (
            _("The email address leads to no customer record: nothing to match against."),
            "warning",
        ),
        matching.MatchOutcome.source_problem: (
            _("A data source could not be searched; try again later."),
            "error",
        ),
    }
    message, category = messages[result.outcome]
    flash(message, category)
    return back_to(item)


@bp.post("/<reference>/tasks/<int:task_id>")
@handler_required
def finish_task(reference: str, task_id: int) -> Any:
    s = db_session()
    item = load(reference)
    task = s.get(ManualTask, task_id)
    if task is None or task.request_id != item.id:
        abort(404)
    form = forms.TaskForm()
    if not form.validate_on_submit():
        flash(_("Choose an outcome and note what was done."), "error")
        return back_to(item)
    return _run(
        item,
        lambda: workflow.complete_task(
            s,
            task,
            status=TaskStatus(form.status.data),
            note=form.note.data or "",
            actor=Actor.staff(staff()),
        ),
        _("The task is finished."),
    )


def _run(item: Request, act: Callable[[], Any], success: str) -> Any:
    """Run a service call, commit on success, show the refusal otherwise."""
    s = db_session()
    try:
        act()
    except workflow.WorkflowError as exc:
        s.rollback()
        flash(str(exc), "error")
        return back_to(item)
    s.commit()
    flash(success, "success")
    return back_to(item)


# --- actions with a form page (and an email to review) ----------------------------------------


@dataclass(frozen=True)
class Action:
    name: str
    title: LazyString
    form: type[FlaskForm]
    #: Template of the email the action sends, or None.
    email: str | None
    #: What the action does, from the filled-in form.
    run: Callable[[Session, Request, Any, Actor, str | None, str | None], Any]
    #: The email's template context, from the filled-in form (the status link is added).
    context: Callable[[Request, Any], dict[str, Any]] | None = None
    done: LazyString | None = None
    danger: bool = False


def _extend_context(item: Request, form: Any) -> dict[str, Any]:
    from dsr import deadlines

    preview = deadlines.due_for_date(
        deadlines.received_date(item.received_at),
        regime=item.regime,
        extended=True,
        paused_days=workflow.total_paused_days(db_session(), item),
    )
    return {"request": item, "reason": form.reason.data, "due_legal": preview.legal}


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action(
            "extend",
            _l("Extend the deadline"),
            forms.ExtendForm,
            "extension_notice",
            lambda s, r, f, actor, subj, text: workflow.extend(
                s, r, reason=f.reason.data, actor=actor, email_subject=subj, email_text=text
            ),
            _extend_context,
            _l("The deadline is extended and the subject will be told why."),
        ),
        Action(
            "ask",
            _l("Ask the subject for information"),
            forms.AskForm,
            "information_request",
            lambda s, r, f, actor, subj, text: workflow.pause(
                s,
                r,
                reason=PauseReason(f.reason.data),
                question=f.question.data,
                actor=actor,
                email_subject=subj,
                email_text=text,
            ),
            lambda r, f: {"request": r, "question": f.question.data},
            _l("The question is sent and the clock has stopped until the subject answers."),
        ),
        Action(
            "refuse",
            _l("Refuse the request"),
            forms.RefuseForm,
            "refusal",
            lambda s, r, f, actor, subj, text: workflow.refuse(
                s,
                r,
                scope=RefusalScope(f.scope.data),
                grounds=RefusalGrounds(f.grounds.data),
                reason=f.reason.data,
                justification=f.justification.data,
                actor=actor,
                email_subject=subj,
                email_text=text,
            ),
            lambda r, f: {
                "request": r,
                "reason": f.reason.data,
                "partial": f.scope.data == "partial",
            },
            _l(
                "The refusal is recorded and the subject will be told the reasons and how to complain."
            ),
            danger=True,
        ),
        Action(
            "message",
            _l("Write to the subject"),
            forms.MessageForm,
            "staff_message",
            lambda s, r, f, actor, subj, text: workflow.message_subject(
                s,
                r,
                body=f.body.data,
                actor=actor,
                author=staff(),
                email_subject=subj,
                email_text=text,
            ),
            lambda r, f: {"request": r, "body": f.body.data},
            _l("The message is sent."),
        ),
        Action(
            "complete",
            _l("Complete the request"),
            forms.CompleteForm,
            "completion",
            lambda s, r, f, actor, subj, text: workflow.complete(
                s, r, summary=f.summary.data or "", actor=actor, email_subject=subj, email_text=text
            ),
            lambda r, f: {"request": r, "summary": f.summary.data or ""},
            _l("The request is completed."),
        ),
        Action(
            "withdraw",
            _l("Record that the subject withdrew the request"),
            forms.WithdrawForm,
            None,
            lambda s, r, f, actor, subj, text: workflow.withdraw(
                s, r, note=f.note.data, actor=actor
            ),
            done=_l("The request is closed as withdrawn."),
            danger=True,
        ),
        Action(
            "close",
            _l("Close as spam or duplicate"),
            forms.CloseForm,
            None,
            lambda s, r, f, actor, subj, text: workflow.close_as(
                s, r, reason=CloseReason(f.reason.data), note=f.note.data, actor=actor
            ),
            done=_l("The request is closed."),
            danger=True,
        ),
    )
}


@bp.route("/<reference>/<action>", methods=["GET", "POST"])
@handler_required
def act(reference: str, action: str) -> Any:
    spec = ACTIONS.get(action)
    if spec is None:
        abort(404)
    s = db_session()
    item = load(reference)
    form = spec.form()
    draft: tuple[str, str] | None = None
    if request.method == "POST" and form.validate_on_submit():
        step = request.form.get("step", "draft")
        if spec.email and spec.context and step == "draft":
            # Review: show the email as it will be sent; nothing is stored yet.
            context = {
                **spec.context(item, form),
                "status_url": notifications.STATUS_LINK_PLACEHOLDER,
            }
            draft_subject, draft_text, _html = notifications.render(
                spec.email, item.language, context
            )
            form.email_subject.data, form.email_text.data = draft_subject, draft_text
            draft = (draft_subject, draft_text)
        else:
            subject, text = _edited_email(form) if spec.email else (None, None)
            try:
                spec.run(s, item, form, Actor.staff(staff()), subject, text)
            except workflow.WorkflowError as exc:
                s.rollback()
                flash(str(exc), "error")
                return render_template(
                    "staff/action.html", item=item, spec=spec, form=form, draft=None
                )
            s.commit()
            flash(str(spec.done), "success")
            return back_to(item)
    return render_template("staff/action.html", item=item, spec=spec, form=form, draft=draft)


def _edited_email(form: Any) -> tuple[str | None, str | None]:
    """The handler's version of the email, or (None, None) if they left the draft as it was."""
    subject = (form.email_subject.data or "").strip()
    text = (form.email_text.data or "").replace("\r\n", "\n")
    original_subject = request.form.get("original_subject", "")
    original_text = request.form.get("original_text", "").replace("\r\n", "\n")
    if subject == original_subject.strip() and text.strip() == original_text.strip():
        return None, None
    return subject or None, text or None
