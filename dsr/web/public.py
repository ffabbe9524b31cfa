"""Public pages for data subjects: the start page, a form per right, email verification.

How a submission avoids telling anyone whether an address is known
------------------------------------------------------------------
Whatever was submitted (a new request, a duplicate of an open one, an address over its
daily limit, a bot's honeypot hit), the browser is sent to the same page, which says that
an email with the reference, the due date and a six-digit code is on its way, and asks for
the code. Only after the code is entered (proving control of the address) does the service
show the reference, the legal due date and the private status link, by opening the status
page.

The code form is bound to the submission through the Flask session cookie, which is signed
but readable by anyone holding it. It therefore holds only the id of the verification token
issued for this submission: no address, no reference, no secret. For a duplicate the token
belongs to the existing request, and the email speaks of that request; for a dropped
submission there is no token and every code is simply wrong.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from dsr import identity, intake, labels, ratelimit
from dsr.audit import Actor
from dsr.config import LANGUAGES
from dsr.db import session as db_session
from dsr.db import utcnow
from dsr.identity import CodeCheck
from dsr.models import Channel, Request, RequestStatus, Right, TokenPurpose, VerificationToken
from dsr.profiles import current_profile
from dsr.request_details import fields_for
from dsr.validation import InvalidInput
from dsr.web import limits
from dsr.web.forms import ConfirmForm
from dsr.web.intake_forms import (
    CodeForm,
    code_error,
    details_for_display,
    hint,
    public_form,
    show_errors,
)

log = logging.getLogger(__name__)

bp = Blueprint("public", __name__)

#: Session key holding the id of the verification token of the latest submission.
SUBMISSION_TOKEN = "intake_token"  # noqa: S105 - a key name, not a secret


@bp.app_template_global()
def right_title(right: Right | str) -> str:
    return str(labels.RIGHT_TITLES[Right(right)])


@bp.app_template_global()
def right_name(right: Right | str) -> str:
    return str(labels.RIGHT_NAMES[Right(right)])


bp.add_app_template_global(details_for_display, "request_details_shown")


@bp.app_template_global()
def request_status_label(status: RequestStatus | str) -> str:
    return str(labels.STATUS_LABELS[RequestStatus(status)])


@bp.get("/")
def index() -> Any:
    rights = [
        (right, labels.RIGHT_TITLES[right], labels.RIGHT_SUMMARIES[right])
        for right in current_profile().rights
    ]
    return render_template("public/index.html", rights=rights)


@bp.post("/language")
def set_language() -> Any:
    """Remember the visitor's language (a POST, because it changes what they are served)."""
    form = ConfirmForm()
    lang = request.form.get("lang")
    if form.validate_on_submit() and lang in LANGUAGES:
        session["lang"] = lang
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("public.index")
    return redirect(target)


def _offered(slug: str) -> Right:
    try:
        right = Right(slug)
    except ValueError:
        abort(404)
    if right not in current_profile().rights:
        abort(404)
    return right


def _render_form(right: Right, form: Any, status: int = 200) -> Any:
    detail_names = [f.name for f in fields_for(right)]
    return (
        render_template(
            "public/request_form.html",
            right=right,
            form=form,
            detail_fields=[form[name] for name in detail_names],
            hint=lambda name: hint(right, name),
            summary=labels.RIGHT_SUMMARIES[right],
        ),
        status,
    )


@bp.route("/request/<slug>", methods=["GET", "POST"])
def request_form(slug: str) -> Any:
    right = _offered(slug)
    form = public_form(right)()
    if request.method == "GET" or not form.validate_on_submit():
        return _render_form(right, form, 200 if request.method == "GET" else 400)

    # The input is checked first (it touches nothing), so that both limits are counted in
    # one transaction, committed before any answer and before the work they limit: a
    # refused or failing attempt still counts.
    language = str(get_locale() or "sv")
    submission = invalid = None
    try:
        submission = intake.check_submission(
            right,
            name=form.name.data,
            email=form.email.data,
            personnummer=form.personnummer.data,
            phone=form.phone.data,
            details={name: form[name].data for name in (f.name for f in fields_for(right))},
            language=language if language in LANGUAGES else "sv",
        )
    except InvalidInput as exc:
        invalid = exc
    s = db_session()
    over_ip = limits.exceeded(s, "submit", "ip", limits.client_ip())
    over_email = (
        not over_ip
        and not form.website.data
        and submission is not None
        and limits.exceeded(s, "submit", "email", submission.subject.email or "")
    )
    ratelimit.commit_counts(s)
    if over_ip:
        abort(429)
    if form.website.data:
        log.info("honeypot field filled in; submission dropped")
        return _to_sent_page(None)
    if invalid is not None or submission is None:
        show_errors(form, invalid.errors if invalid is not None else {})
        return _render_form(right, form, 422)
    if over_email:
        log.info("daily submissions for one address exceeded; submission dropped")
        return _to_sent_page(None)
    filed = intake.file_request(
        s, submission, channel=Channel.web, actor=Actor.subject(), code_for_page=True
    )
    # Taken before the commit, which would expire the row and cost a query to read it back.
    token_id = filed.verification.row.id if filed.verification else None
    s.commit()
    return _to_sent_page(token_id)


def _to_sent_page(token_id: int | None) -> Any:
    if token_id is None:
        session.pop(SUBMISSION_TOKEN, None)
    else:
        session[SUBMISSION_TOKEN] = token_id
    return redirect(url_for("public.sent"))


def _render_sent(code_form: CodeForm | None = None, status: int = 200) -> Any:
    return (
        render_template(
            "public/sent.html",
            code_form=code_form or CodeForm(),
            resend_form=ConfirmForm(),
            token_hours=identity.verification_ttl().total_seconds() // 3600,
        ),
        status,
    )


@bp.get("/request/sent")
def sent() -> Any:
    """The page after every submission: identical whatever happened to it."""
    return _render_sent()


def _submission_token() -> VerificationToken | None:
    token_id = session.get(SUBMISSION_TOKEN)
    if not isinstance(token_id, int):
        return None
    row = db_session().get(VerificationToken, token_id)
    if row is None or row.purpose != TokenPurpose.verify_email or row.request_id is None:
        return None
    return row


@bp.post("/request/sent")
def confirm_code() -> Any:
    """The code typed on the page after submitting."""
    form = CodeForm()
    if not form.validate_on_submit():
        return _render_sent(form, 400)
    s = db_session()
    row = _submission_token()
    request_ = s.get(Request, row.request_id) if row is not None else None
    over = limits.exceeded(s, "verify", "ip", limits.client_ip())
    if request_ is not None and request_.subject_email:
        over = limits.exceeded(s, "verify", "email", request_.subject_email) or over
    s.commit()
    if over:
        abort(429)
    now = utcnow()
    result = identity.check_code(s, row, form.code.data or "", now) if row else CodeCheck.wrong
    s.commit()
    if result != CodeCheck.accepted:
        show_errors(form, {"code": code_error(result, row)})
        return _render_sent(form, 422)
    assert row is not None
    confirmed = identity.confirm_email(s, row, actor=Actor.subject(), now=now)
    token = identity.issue_status_token(s, confirmed, now)
    s.commit()
    session.pop(SUBMISSION_TOKEN, None)
    flash(_("Thank you. Your email address is confirmed."), "success")
    return redirect(url_for("status.show", token=token))


@bp.post("/request/resend")
def resend() -> Any:
    """A new code for the latest submission (the same answer whatever the submission was)."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    s = db_session()
    row = _submission_token()
    request_ = s.get(Request, row.request_id) if row is not None else None
    over = limits.exceeded(s, "resend", "ip", limits.client_ip())
    if request_ is not None and request_.subject_email:
        over = limits.exceeded(s, "resend", "email", request_.subject_email) or over
    s.commit()
    if over:
        abort(429)
    if request_ is not None and request_.subject_email:
        issued = identity.resend_verification(s, request_, actor=Actor.subject())
        s.commit()
        session[SUBMISSION_TOKEN] = issued.row.id
    flash(_("We have sent you a new email with a new code. Earlier codes no longer work."), "info")
    return redirect(url_for("public.sent"))


# --- the link in the email ---------------------------------------------------------------------


@bp.get("/verify/<token>")
def verify_link(token: str) -> Any:
    """Shows a confirm button: following a link (or a mail scanner prefetching it) changes
    nothing."""
    row = identity.find_token(db_session(), TokenPurpose.verify_email, token)
    if row is None:
        return render_template("public/link_invalid.html"), 404
    request_ = db_session().get(Request, row.request_id)
    return render_template("public/verify.html", form=ConfirmForm(), request_=request_)


@bp.post("/verify/<token>")
def verify_confirm(token: str) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    s = db_session()
    over = limits.exceeded(s, "verify", "ip", limits.client_ip())
    s.commit()
    if over:
        abort(429)
    now = utcnow()
    row = identity.find_token(s, TokenPurpose.verify_email, token, now)
    if row is None:
        return render_template("public/link_invalid.html"), 404
    confirmed = identity.confirm_email(s, row, actor=Actor.subject(), now=now)
    status_token = identity.issue_status_token(s, confirmed, now)
    s.commit()
    flash(_("Thank you. Your email address is confirmed."), "success")
    return redirect(url_for("status.show", token=status_token))
