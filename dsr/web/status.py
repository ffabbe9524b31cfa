"""The subject's private status page: ``/status/<token>``.

Whoever holds a live status link (emailed to the subject's address) sees the request: its
state, legal due date and days left, the public part of its history, the messages with
staff, and a reply box. Anyone else gets the same 404 as for a page that does not exist:
unknown, revoked and malformed tokens are indistinguishable.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import LazyString, force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlmodel import Session, col
from wtforms import StringField, TextAreaField

from dsr import identity, labels, messages
from dsr.audit import Actor
from dsr.config import LANGUAGES
from dsr.db import session as db_session
from dsr.db import utcnow
from dsr.exports import service as answers
from dsr.exports.sealed import SealedFileError
from dsr.identity import CodeCheck
from dsr.models import AuditEvent, Request, RequestStatus, TokenPurpose, VerificationToken
from dsr.validation import FieldError, clean_text
from dsr.web import limits
from dsr.web.forms import ConfirmForm
from dsr.web.intake_forms import REQUIRED, TEXT_FILTERS, CodeForm, code_error, show_errors
from dsr.workflow import WorkflowError

log = logging.getLogger(__name__)

bp = Blueprint("status", __name__, url_prefix="/status")

REPLY_MAX = 5000

#: How each public event reads on the timeline. Events without an entry show the default.
TIMELINE: dict[str, LazyString] = {
    "request.created": _l("We received your request."),
    "request.verified": _l("Your request was confirmed and is waiting to be handled."),
    "request.extended": _l("We extended the time we have to answer."),
    "request.paused": _l(
        "We asked you for more information. The time stands still until you answer."
    ),
    "request.resumed": _l("The time started running again."),
    "identity.eid_verified": _l("You identified yourself with e-legitimation."),
    "identity.eid_mismatch": _l(
        "You identified yourself with e-legitimation, with another personnummer than the one in the request."
    ),
    "request.started": _l("We have started working on your request."),
    "request.message_sent": _l("We sent you a message."),
    "request.message_received": _l("You sent us a message."),
    "request.completed": _l("Your request is completed."),
    "request.refused": _l("We refused your request. Our message explains why."),
    "request.partially_refused": _l("We refused part of your request. Our message explains why."),
    "request.withdrawn": _l("You withdrew your request."),
    "request.expired": _l("The request expired: the email address was never confirmed."),
    "export.released": _l("Our answer is ready for you to download."),
    "export.downloaded": _l("You downloaded the answer."),
}
TIMELINE_DEFAULT = _l("Your request was updated.")
#: Events whose reason was written for the subject (the extension's grounds, the question).
REASON_SHOWN = frozenset({"request.extended", "request.paused"})


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Your message"), validators=REQUIRED, filters=TEXT_FILTERS)


class DownloadForm(FlaskForm):
    download_code = StringField(
        _l("Download code from the email"),
        validators=REQUIRED,
        render_kw={
            "class": "code-input",
            "inputmode": "numeric",
            "autocomplete": "one-time-code",
            "maxlength": 12,
        },
    )


def _load(token: str) -> tuple[Request, VerificationToken]:
    s = db_session()
    row = identity.find_token(s, TokenPurpose.status, token)
    if row is None or row.request_id is None:
        abort(404)
    request_ = s.get(Request, row.request_id)
    if request_ is None or request_.anonymized_at is not None:
        abort(404)
    return request_, row


def _timeline(s: Session, request_: Request) -> list[dict[str, Any]]:
    events = s.scalars(
        select(AuditEvent)
        .where(AuditEvent.request_id == request_.id, AuditEvent.public.is_(True))  # type: ignore[attr-defined]
        .order_by(col(AuditEvent.seq))
    )
    return [
        {
            "at": event.occurred_at,
            "text": TIMELINE.get(event.action, TIMELINE_DEFAULT),
            "reason": event.reason if event.action in REASON_SHOWN else None,
        }
        for event in events
    ]


def _page(
    token: str,
    request_: Request,
    *,
    reply_form: ReplyForm | None = None,
    code_form: CodeForm | None = None,
    download_form: DownloadForm | None = None,
    status: int = 200,
) -> Any:
    s = db_session()
    # The subject's own language unless they chose one on this visit.
    chosen = request.args.get("lang") in LANGUAGES or session.get("lang") in LANGUAGES
    with nullcontext() if chosen else force_locale(request_.language):
        html = render_template(
            "status/show.html",
            token=token,
            request_=request_,
            status_label=labels.STATUS_LABELS[request_.status],
            timeline=_timeline(s, request_),
            messages=messages.conversation(s, request_),
            reply_form=reply_form or ReplyForm(),
            code_form=code_form or CodeForm(),
            resend_form=ConfirmForm(),
            unverified=request_.status == RequestStatus.unverified,
            downloads=_downloads(s, request_),
            download_form=download_form or DownloadForm(),
        )
    return html, status


def _downloads(s: Session, request_: Request) -> list[dict[str, Any]]:
    """The answer the subject can download now (none or one), as the page shows it."""
    export = answers.offered(s, request_)
    if export is None:
        return []
    return [
        {
            "size_bytes": export.size_bytes or 0,
            "sha256": export.sha256,
            "released_at": export.released_at,
            "expires_at": export.expires_at,
        }
    ]


@bp.get("/<token>")
def show(token: str) -> Any:
    request_, _row = _load(token)
    return _page(token, request_)


@bp.post("/<token>/reply")
def reply(token: str) -> Any:
    form = ReplyForm()
    if not form.validate_on_submit():
        abort(400)
    request_, _row = _load(token)
    s = db_session()
    over = limits.exceeded(s, "reply", "request", str(request_.id))
    s.commit()
    if over:
        abort(429)
    try:
        body = clean_text(form.body.data, max_length=REPLY_MAX, required=True)
        messages.subject_reply(s, request_, body or "")
    except FieldError as exc:
        show_errors(form, {"body": exc.message})
        return _page(token, request_, reply_form=form, status=422)
    except WorkflowError as exc:
        flash(str(exc), "error")
        return redirect(url_for("status.show", token=token))
    s.commit()
    flash(_("Your message was sent."), "success")
    return redirect(url_for("status.show", token=token))


def _latest_verification(s: Session, request_: Request) -> VerificationToken | None:
    """The request's newest verification token (earlier ones were revoked when it was
    issued); ``identity.check_code`` tells whether it still works."""
    return s.scalars(
        select(VerificationToken)
        .where(
            VerificationToken.request_id == request_.id,
            VerificationToken.purpose == TokenPurpose.verify_email,
        )
        .order_by(col(VerificationToken.id).desc())
        .limit(1)
    ).first()


@bp.post("/<token>/code")
def confirm_code(token: str) -> Any:
    form = CodeForm()
    if not form.validate_on_submit():
        abort(400)
    request_, _row = _load(token)
    s = db_session()
    over = limits.exceeded(s, "verify", "ip", limits.client_ip())
    if request_.subject_email:
        over = limits.exceeded(s, "verify", "email", request_.subject_email) or over
    s.commit()
    if over:
        abort(429)
    now = utcnow()
    row = _latest_verification(s, request_)
    result = identity.check_code(s, row, form.code.data or "", now) if row else CodeCheck.expired
    s.commit()
    if result != CodeCheck.accepted:
        show_errors(form, {"code": code_error(result, row)})
        return _page(token, request_, code_form=form, status=422)
    assert row is not None
    identity.confirm_email(s, row, actor=Actor.subject(), now=now)
    s.commit()
    flash(_("Thank you. Your email address is confirmed."), "success")
    return redirect(url_for("status.show", token=token))


@bp.post("/<token>/resend")
def resend(token: str) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    request_, _row = _load(token)
    s = db_session()
    if request_.status != RequestStatus.unverified or not request_.subject_email:
        return redirect(url_for("status.show", token=token))
    over = limits.exceeded(s, "resend", "ip", limits.client_ip())
    over = limits.exceeded(s, "resend", "email", request_.subject_email) or over
    s.commit()
    if over:
        abort(429)
    identity.resend_verification(s, request_, actor=Actor.subject())
    s.commit()
    flash(_("We have sent you a new email with a new code. Earlier codes no longer work."), "info")
    return redirect(url_for("status.show", token=token))


# --- the answer: a fresh emailed code for each download ------------------------------------------


def download_code_error(result: CodeCheck, row: VerificationToken | None) -> LazyString:
    """What to say about a download code that was not accepted."""
    if result == CodeCheck.exhausted:
        return _l("Too many wrong codes: this code no longer works. Ask for a new code above.")
    if result == CodeCheck.expired:
        return _l(
            "The code has expired, was used, or a newer one has been sent. Ask for a new code above."
        )
    left = max(0, identity.max_code_attempts() - (row.attempts if row else 0))
    return _l("That code is not right. Tries left: %(left)d.", left=left)


@bp.post("/<token>/answer/code")
def answer_code(token: str) -> Any:
    """Email a download code to the request's address (the answer needs it)."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    request_, _row = _load(token)
    s = db_session()
    if answers.offered(s, request_) is None or not request_.subject_email:
        return redirect(url_for("status.show", token=token))
    over = limits.exceeded(s, "resend", "ip", limits.client_ip())
    over = limits.exceeded(s, "resend", "email", request_.subject_email) or over
    s.commit()
    if over:
        abort(429)
    answers.send_download_code(s, request_)
    s.commit()
    flash(
        _("We have emailed you a download code. Type it below; earlier codes no longer work."),
        "info",
    )
    return redirect(url_for("status.show", token=token, _anchor="downloads"))


@bp.post("/<token>/answer")
def answer_download(token: str) -> Any:
    """The answer's ZIP for a right, fresh code: the download is counted and logged here,
    in the POST, and the response is the file itself, so no GET ever changes anything."""
    form = DownloadForm()
    valid = form.validate_on_submit()
    if form.csrf_token.errors:
        abort(400)
    request_, _row = _load(token)
    if not valid:  # no code typed
        return _page(token, request_, download_form=form, status=422)
    s = db_session()
    export = answers.offered(s, request_)
    if export is None:
        flash(_("There is no answer to download any more."), "error")
        return redirect(url_for("status.show", token=token))
    over = limits.exceeded(s, "verify", "ip", limits.client_ip())
    if request_.subject_email:
        over = limits.exceeded(s, "verify", "email", request_.subject_email) or over
    s.commit()
    if over:
        abort(429)
    result = answers.check_download_code(s, request_, form.download_code.data or "")
    s.commit()
    if result != CodeCheck.accepted:
        row = answers.latest_download_code(s, request_)
        show_errors(form, {"download_code": download_code_error(result, row)})
        return _page(token, request_, download_form=form, status=422)
    try:
        plain = answers.open_plaintext(export)
    except (OSError, SealedFileError, WorkflowError):
        log.exception("answer file of export %s cannot be read", export.id)
        flash(
            _("Your answer cannot be read right now. We have been told; please try later."), "error"
        )
        return redirect(url_for("status.show", token=token))
    answers.record_download(s, export)
    s.commit()

    def chunks() -> Any:
        with plain:
            while chunk := plain.read(64 * 1024):
                yield chunk

    return Response(
        chunks(),
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{request_.reference}.zip"',
            "Content-Length": str(export.size_bytes or 0),
        },
    )
