"""Staff area: login, logout and the pages behind them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from dsr import accounts, audit
from dsr import config as config_module
from dsr.audit import Actor
from dsr.db import session as db_session
from dsr.web.auth import admin_required, safe_next, staff, staff_required
from dsr.web.forms import ConfirmForm, LoginForm

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next("")
    if form.validate_on_submit():
        s = db_session()
        try:
            user = accounts.authenticate(
                s,
                form.email.data or "",
                form.password.data or "",
                client_ip=request.remote_addr or "unknown",
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
        login_user(user)
        return redirect(safe_next(url_for("staff.home")))
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


@bp.get("/")
@staff_required
def home() -> Any:
    return render_template("staff/home.html")


@bp.get("/admin/config")
@admin_required
def admin_config() -> Any:
    """The effective configuration, with secrets hidden: what is this instance running with?"""
    rows = config_module.public_view(current_app.config)
    return render_template(
        "staff/admin_config.html", rows=rows, warnings=current_app.config.get("CONFIG_WARNINGS", [])
    )
