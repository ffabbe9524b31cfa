"""Staff area: login, logout and the pages behind them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from dsr import accounts, audit, identity, staff_sso
from dsr.audit import Actor
from dsr.db import session as db_session
from dsr.models import TokenPurpose
from dsr.web.auth import log_in, safe_next, staff, staff_required
from dsr.web.forms import ConfirmForm, LoginForm
from dsr.web.limits import client_ip

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next("")
    elif not staff_sso.local_passwords():
        # Single sign-on only: a password is never checked, whatever is posted.
        flash(
            _(
                "Passwords are turned off here. Log in with %(provider)s.",
                provider=staff_sso.provider_name(),
            ),
            "error",
        )
        return render_template("staff/login.html", form=form), 403
    if form.validate_on_submit():
        s = db_session()
        try:
            user = accounts.authenticate(
                s,
                form.email.data or "",
                form.password.data or "",
                client_ip=client_ip(),
                max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                lockout=timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"]),
            )
        except accounts.LoginThrottled as throttled:
            minutes = max(1, int(throttled.retry_after.total_seconds() // 60))
            flash(
                _("Too many failed attempts. Try again in %(minutes)d minutes.", minutes=minutes),
                "error",
            )
            return render_template("staff/login.html", form=form), 429
        s.commit()
        if user is None:
            flash(_("Wrong email or password."), "error")
            return render_template("staff/login.html", form=form), 401
        log_in(user)
        return redirect(safe_next(url_for("queue.index")))
    return render_template("staff/login.html", form=form)


@bp.post("/logout")
@staff_required
def logout() -> Any:
    form = ConfirmForm()
    if form.validate_on_submit():
        s = db_session()
        audit.record(s, "staff.logout", Actor.staff(staff()))
        s.commit()
        logout_user()
        flash(_("You have been logged out."), "info")
    return redirect(url_for("staff.login"))


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=12, max=1024)]
    )
    confirm = PasswordField(
        _l("The same password again"),
        validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))],
    )


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str) -> Any:
    """Where an invitation link leads: choose a password (the link works once)."""
    form = SetPasswordForm()
    s = db_session()
    if not staff_sso.local_passwords():
        flash(
            _(
                "Passwords are turned off here. Log in with %(provider)s.",
                provider=staff_sso.provider_name(),
            ),
            "info",
        )
        return redirect(url_for("staff.login"))
    if identity.find_token(s, TokenPurpose.staff_invite, token) is None:
        return render_template("staff/invite_invalid.html"), 404
    if form.validate_on_submit():
        try:
            user = accounts.accept_invite(s, token, form.password.data or "")
        except accounts.AccountError as exc:
            s.rollback()
            form.password.errors = [str(exc)]
            return render_template("staff/invite.html", form=form), 422
        s.commit()
        flash(_("Your password is set. Log in with %(email)s.", email=user.email), "success")
        return redirect(url_for("staff.login"))
    return render_template("staff/invite.html", form=form)
