"""Staff single sign-on pages: to the company's identity provider and back (``dsr.staff_sso``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from dsr import staff_sso
from dsr.db import session as db_session
from dsr.oidc import Failure, LoginFailed
from dsr.web import signin
from dsr.web.auth import log_in, safe_next
from dsr.web.forms import ConfirmForm

bp = Blueprint("sso", __name__, url_prefix="/staff/sso")

_AGAIN = _l("Try again, or ask an administrator if it keeps happening.")

#: What staff read for each failure, and the HTTP status.
FAILURES: dict[Failure, tuple[LazyString, int]] = {
    Failure.cancelled: (_l("You cancelled the sign-in. Nothing has changed."), 200),
    Failure.unknown_account: (
        _l(
            "There is no active staff account here for %(email)s. Signing in does not create one: ask an administrator to invite you with that address."
        ),
        403,
    ),
    Failure.email_unverified: (
        _l(
            "The identity provider does not confirm that %(email)s is your address, so it cannot sign you in here."
        ),
        403,
    ),
    Failure.missing_claim: (
        _l("The identity provider did not tell us your email address, which is your login here."),
        403,
    ),
    Failure.provider_unreachable: (
        _l("The identity provider could not be reached, or did not answer as it should."),
        502,
    ),
    Failure.discovery_invalid: (
        _l("The identity provider could not be reached, or did not answer as it should."),
        502,
    ),
    Failure.unknown_state: (_l("This sign-in is not known here. Start again."), 400),
    Failure.replayed_state: (_l("This sign-in was already used. Start again."), 400),
    Failure.expired_state: (_l("The sign-in took too long. Start again."), 400),
    Failure.other_browser: (
        _l("The sign-in was started in another browser. Start again in this one."),
        400,
    ),
}
FAILURE_DEFAULT = (
    _l("The identity provider's answer did not pass our checks, so it cannot sign you in."),
    502,
)


def _failure_page(failure: LoginFailed, email: str | None = None) -> Any:
    text, status = FAILURES.get(failure.reason, FAILURE_DEFAULT)
    return (
        render_template(
            "staff/sso_failed.html",
            text=str(text) % {"email": email or "–"},
            again=_AGAIN,
            provider=staff_sso.provider_name(),
        ),
        status,
    )


@bp.app_context_processor
def _context() -> dict[str, Any]:
    return {"staff_sso_login": _login_options}


def _login_options() -> dict[str, Any]:
    return {
        "enabled": staff_sso.enabled(),
        "name": staff_sso.provider_name(),
        "passwords": staff_sso.local_passwords(),
    }


@bp.post("/start")
def start() -> Any:
    """Send the browser to the company's identity provider."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if not staff_sso.enabled():
        abort(404)
    s = db_session()
    secret = signin.browser_secret(create=True)
    assert secret is not None
    try:
        url = staff_sso.start(s, browser_secret=secret, next_path=safe_next(""))
    except LoginFailed as failure:
        s.commit()
        return _failure_page(failure)
    s.commit()
    return redirect(url, 303)


@bp.get("/callback")
def callback_page() -> Any:
    """Where the provider sends the browser back: carries its answer into a POST."""
    return signin.continue_page(url_for("sso.callback"), request.args)


@bp.post("/callback")
def callback() -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if not staff_sso.enabled():
        abort(404)
    s = db_session()
    try:
        signed_in = staff_sso.finish(
            s,
            signin.callback_fields(request.form),
            browser_secret=signin.browser_secret(create=False),
        )
    except LoginFailed as failure:
        s.commit()
        return _failure_page(failure, failure.vouched_for)
    s.commit()
    log_in(signed_in.user)
    return redirect(signed_in.next_path or url_for("queue.index"))
