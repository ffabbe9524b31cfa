"""Administration: staff accounts, API tokens and the effective configuration. Admins only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlmodel import col
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from dsr import accounts, apitokens, eid, identity, staff_sso
from dsr import config as config_module
from dsr.audit import Actor
from dsr.db import session as db_session
from dsr.models import ApiToken, Right, StaffRole, StaffUser
from dsr.profiles import current_profile
from dsr.web.auth import admin_required, staff
from dsr.web.forms import ConfirmForm

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")

ROLE_CHOICES = [
    SelectChoice(StaffRole.handler.value, _l("Handler")),
    SelectChoice(StaffRole.auditor.value, _l("Auditor (read-only)")),
    SelectChoice(StaffRole.admin.value, _l("Administrator")),
]


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[DataRequired()])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[DataRequired()])


@bp.get("/staff")
@admin_required
def staff_list() -> Any:
    members = list(
        db_session().scalars(
            select(StaffUser).order_by(col(StaffUser.active).desc(), col(StaffUser.name))
        )
    )
    return render_template(
        "staff/admin_staff.html",
        members=members,
        form=InviteForm(),
        role_form=RoleForm(),
        confirm=ConfirmForm(),
    )


@bp.post("/staff")
@admin_required
def invite() -> Any:
    form = InviteForm()
    if not form.validate_on_submit():
        members = list(db_session().scalars(select(StaffUser).order_by(col(StaffUser.name))))
        return render_template(
            "staff/admin_staff.html",
            members=members,
            form=form,
            role_form=RoleForm(),
            confirm=ConfirmForm(),
        ), 422
    s = db_session()
    try:
        user = accounts.invite_staff(
            s,
            form.email.data or "",
            StaffRole(form.role.data),
            name=form.name.data,
            actor=Actor.staff(staff()),
            valid_for=timedelta(hours=current_app.config["STAFF_INVITE_HOURS"]),
            base_url=current_app.config["BASE_URL"],
            sign_on_with=None if staff_sso.local_passwords() else staff_sso.provider_name(),
        )
    except accounts.AccountError as exc:
        s.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.staff_list"))
    s.commit()
    if staff_sso.local_passwords():
        flash(
            _("%(email)s is invited and will get an email to choose a password.", email=user.email),
            "success",
        )
    else:
        flash(
            _(
                "%(email)s is invited and will get an email saying to log in with %(provider)s.",
                email=user.email,
                provider=staff_sso.provider_name(),
            ),
            "success",
        )
    return redirect(url_for("admin.staff_list"))


def _member(user_id: int) -> StaffUser:
    user = db_session().get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/staff/<int:user_id>/role")
@admin_required
def change_role(user_id: int) -> Any:
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    s = db_session()
    user = _member(user_id)
    try:
        accounts.change_role(s, user, StaffRole(form.role.data), actor=Actor.staff(staff()))
    except accounts.AccountError as exc:
        s.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.staff_list"))
    s.commit()
    flash(_("The role of %(email)s is changed.", email=user.email), "success")
    return redirect(url_for("admin.staff_list"))


@bp.post("/staff/<int:user_id>/active")
@admin_required
def toggle_active(user_id: int) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    s = db_session()
    user = _member(user_id)
    try:
        accounts.set_active(s, user, not user.active, actor=Actor.staff(staff()))
    except accounts.AccountError as exc:
        s.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.staff_list"))
    s.commit()
    message = (
        _("%(email)s can log in again.") if user.active else _("%(email)s can no longer log in.")
    )
    flash(message % {"email": user.email}, "success")
    return redirect(url_for("admin.staff_list"))


@bp.get("/config")
@admin_required
def config() -> Any:
    """The effective configuration, with secrets hidden: what is this instance running with?"""
    rows = config_module.public_view(current_app.config)
    profile = current_profile()
    identity_rows = [
        (right, identity.required_assurance(right)) for right in Right if profile.offers(right)
    ]
    return render_template(
        "staff/admin_config.html",
        rows=rows,
        warnings=current_app.config.get("CONFIG_WARNINGS", []),
        identity_rows=identity_rows,
        eid_enabled=eid.enabled(),
        eid_redirect=eid.redirect_uri(),
        sso_enabled=staff_sso.enabled(),
        sso_redirect=staff_sso.redirect_uri(),
    )


class TokenForm(FlaskForm):
    name = StringField(_l("Name of the system"), validators=[DataRequired(), Length(max=100)])


@bp.get("/tokens")
@admin_required
def tokens() -> Any:
    return render_template(
        "staff/admin_tokens.html",
        tokens=apitokens.listing(db_session()),
        form=TokenForm(),
        new_token=None,
    )


@bp.post("/tokens")
@admin_required
def create_token() -> Any:
    """Create a token; it is shown on the answering page only, once, and never again."""
    form = TokenForm()
    s = db_session()
    if not form.validate_on_submit():
        return render_template(
            "staff/admin_tokens.html", tokens=apitokens.listing(s), form=form, new_token=None
        ), 422
    try:
        row, token = apitokens.create(
            s, form.name.data or "", actor=Actor.staff(staff()), created_by=staff()
        )
    except apitokens.ApiTokenError as exc:
        s.rollback()
        form.name.errors = [str(exc)]
        return render_template(
            "staff/admin_tokens.html", tokens=apitokens.listing(s), form=form, new_token=None
        ), 422
    s.commit()
    return render_template(
        "staff/admin_tokens.html",
        tokens=apitokens.listing(s),
        form=TokenForm(formdata=None),
        new_token=(row.name, token),
    )


@bp.post("/tokens/<int:token_id>/revoke")
@admin_required
def revoke_token(token_id: int) -> Any:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    s = db_session()
    row = s.get(ApiToken, token_id)
    if row is None:
        abort(404)
    try:
        apitokens.revoke(s, row.name, actor=Actor.staff(staff()))
    except apitokens.ApiTokenError as exc:
        s.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.tokens"))
    s.commit()
    flash(
        _(
            "The token %(name)s is revoked; systems using it are refused from now on.",
            name=row.name,
        ),
        "success",
    )
    return redirect(url_for("admin.tokens"))
