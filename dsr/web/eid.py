"""e-legitimation pages: the step on the status page, the provider's way back, what staff do
when the proven personnummer differs from the request's (``dsr.eid``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from dsr import eid, identity, oidc
from dsr.audit import Actor
from dsr.db import session as db_session
from dsr.models import AssuranceLevel, Request
from dsr.oidc import Failure, LoginFailed
from dsr.validation import FieldError, clean_text
from dsr.web import limits, signin
from dsr.web import status as status_pages
from dsr.web.auth import handler_required, staff
from dsr.web.casework import back_to, load
from dsr.web.forms import ConfirmForm
from dsr.web.intake_forms import REQUIRED, TEXT_FILTERS

bp = Blueprint("eid", __name__)

_STATE = _l("Start again from the page of your request.")
_CHECKS = _l(
    "The answer from the e-legitimation service did not pass our checks, so we cannot rely on it. Nothing has changed; please try again."
)
_SERVICE = _l(
    "We could not reach the e-legitimation service, or it did not answer as it should. Nothing has changed; please try again in a while."
)

#: What the subject reads for each failure: (heading, text, HTTP status).
FAILURES: dict[Failure, tuple[LazyString, LazyString, int]] = {
    Failure.cancelled: (
        _l("You cancelled the identification"),
        _l("Nothing has changed. You can identify yourself whenever you like."),
        200,
    ),
    Failure.provider_unreachable: (_l("The identification did not work"), _SERVICE, 502),
    Failure.discovery_invalid: (_l("The identification did not work"), _SERVICE, 502),
    Failure.token_exchange_failed: (_l("The identification did not work"), _SERVICE, 502),
    Failure.provider_error: (
        _l("The identification did not work"),
        _l(
            "The e-legitimation service could not identify you. Nothing has changed; please try again."
        ),
        502,
    ),
    Failure.unknown_state: (
        _l("We do not recognise this identification"),
        _l("It may have been made for another page. Start again from the page of your request."),
        400,
    ),
    Failure.replayed_state: (
        _l("This identification has already been used"),
        _l(
            "Each identification works once. If you want to identify yourself again, start from the page of your request."
        ),
        400,
    ),
    Failure.expired_state: (
        _l("The identification took too long"),
        _l(
            "An identification must be finished within ten minutes. Start again from the page of your request."
        ),
        400,
    ),
    Failure.other_browser: (
        _l("The identification was started in another browser"),
        _l(
            "Finish it in the browser where you started it, or start again from the page of your request in this one."
        ),
        400,
    ),
    Failure.wrong_acr: (
        _l("The identification was not strong enough"),
        _l(
            "We need an e-legitimation with a higher level of assurance than the one you used. Nothing has changed."
        ),
        403,
    ),
    Failure.missing_claim: (
        _l("The e-legitimation did not give us a personnummer"),
        _l(
            "We need a Swedish personnummer or samordningsnummer from the e-legitimation to know it is you. Nothing has changed. If you have no such number, answer us in a message on the page of your request."
        ),
        403,
    ),
    Failure.invalid_personnummer: (
        _l("The e-legitimation did not give us a personnummer"),
        _l(
            "We need a Swedish personnummer or samordningsnummer from the e-legitimation to know it is you. Nothing has changed. If you have no such number, answer us in a message on the page of your request."
        ),
        403,
    ),
    Failure.request_closed: (
        _l("Your request is closed"),
        _l("There is nothing to identify yourself for any more. Nothing has changed."),
        409,
    ),
}
FAILURE_DEFAULT = (_l("The identification did not work"), _CHECKS, 502)
#: Failures after which the browser may be shown the way back to its request: only when it
#: is the browser that started the identification.
_NO_WAY_BACK = {Failure.unknown_state, Failure.replayed_state, Failure.other_browser}


def _failure_page(failure: LoginFailed, status_token: str | None) -> Any:
    heading, text, status = FAILURES.get(failure.reason, FAILURE_DEFAULT)
    return (
        render_template(
            "oidc/eid_failed.html",
            heading=heading,
            text=text,
            status_token=status_token,
        ),
        status,
    )


@bp.app_context_processor
def _context() -> dict[str, Any]:
    return {"eid_offer": eid_offer, "eid_for_staff": eid_for_staff}


def eid_offer(request_: Request) -> dict[str, Any] | None:
    """What the status page says about e-legitimation for this request, if anything."""
    if not eid.enabled() or not request_.is_open or request_.anonymized_at is not None:
        return None
    if request_.eid_pnr_masked is not None:
        return {"state": "mismatch"}
    if request_.assurance == AssuranceLevel.eid_verified:
        return {"state": "verified", "at": request_.assurance_at}
    if eid.offered(request_):
        return {"state": "offer", "required": eid.required(request_)}
    return None


def eid_for_staff(item: Request) -> dict[str, Any]:
    """What the request page tells staff about e-legitimation."""
    needed = eid.required(item)
    return {
        "enabled": eid.enabled(),
        "needed": needed,
        "reached": identity.meets(item, AssuranceLevel.eid_verified),
        "proven": item.eid_pnr_masked,
        "form": ResolveForm(),
    }


@bp.post("/status/<token>/eid")
def start(token: str) -> Any:
    """Send the subject to the provider to identify with e-legitimation."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    request_, _row = status_pages._load(token)
    s = db_session()
    over = limits.exceeded(s, "verify", "ip", limits.client_ip())
    s.commit()
    if over:
        abort(429)
    secret = signin.browser_secret(create=True)
    assert secret is not None
    try:
        url = eid.start(s, request_, status_token=token, browser_secret=secret)
    except eid.NotOffered:
        return redirect(url_for("status.show", token=token))
    except LoginFailed as failure:
        s.commit()
        return _failure_page(failure, token)
    s.commit()
    return redirect(url, 303)


@bp.get("/eid/callback")
def callback_page() -> Any:
    """Where the provider sends the browser back: carries its answer into a POST."""
    return signin.continue_page(url_for("eid.callback"), request.args)


@bp.post("/eid/callback")
def callback() -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if not eid.enabled():
        abort(404)
    s = db_session()
    over = limits.exceeded(s, "verify", "ip", limits.client_ip())
    s.commit()
    if over:
        abort(429)
    try:
        done = eid.finish(
            s,
            signin.callback_fields(request.form),
            browser_secret=signin.browser_secret(create=False),
        )
    except LoginFailed as failure:
        s.commit()
        way_back = None
        if failure.login is not None and failure.reason not in _NO_WAY_BACK:
            way_back = oidc.return_to(failure.login)
        return _failure_page(failure, way_back)
    s.commit()
    if done.outcome == eid.Outcome.verified:
        flash(_("Thank you. You have identified yourself with e-legitimation."), "success")
    else:
        flash(
            _(
                "You have identified yourself, but with another personnummer than the one in your request. We will look into it before we go on."
            ),
            "info",
        )
    return redirect(url_for("status.show", token=done.status_token, _anchor="eid"))


# --- staff: a proven personnummer that differs from the request's ---------------------------------


class ResolveForm(FlaskForm):
    reason = TextAreaField(_l("Why"), validators=REQUIRED, filters=TEXT_FILTERS)


def _resolve(reference: str, adopt: bool) -> Any:
    item = load(reference)
    form = ResolveForm()
    if not form.validate_on_submit():
        flash(_("Say why, for the audit log."), "error")
        return back_to(item)
    try:
        reason = clean_text(form.reason.data, max_length=2000, required=True) or ""
    except FieldError as exc:
        flash(str(exc.message), "error")
        return back_to(item)
    if item.eid_pnr_masked is None or not item.is_open:
        return back_to(item)
    s = db_session()
    resolve = eid.adopt_proven_number if adopt else eid.discard_proven_number
    resolve(s, item, actor=Actor.staff(staff()), reason=reason)
    s.commit()
    if adopt:
        flash(_("The request now carries the personnummer proven by e-legitimation."), "success")
    else:
        flash(_("The personnummer proven by e-legitimation was deleted."), "success")
    return back_to(item)


@bp.post("/staff/requests/<reference>/eid-number/adopt")
@handler_required
def adopt(reference: str) -> Any:
    return _resolve(reference, adopt=True)


@bp.post("/staff/requests/<reference>/eid-number/discard")
@handler_required
def discard(reference: str) -> Any:
    return _resolve(reference, adopt=False)
