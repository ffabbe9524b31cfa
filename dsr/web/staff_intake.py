"""Staff registering a request that came by letter, phone, email or in person.

The date and time it actually arrived starts the legal clock (Art. 12(3); LEGAL.md A1), so
it is asked for explicitly: a past date is normal, a future one is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dsr import intake, labels
from dsr.audit import Actor
from dsr.config import LANGUAGES
from dsr.db import session as db_session
from dsr.db import utcnow
from dsr.intake import Assurance
from dsr.models import AssuranceLevel, Channel, Right
from dsr.profiles import current_profile
from dsr.request_details import fields_for
from dsr.validation import FieldError, InvalidInput, Message, clean_line
from dsr.web.auth import handler_required, staff
from dsr.web.intake_forms import STAFF_CHECK_LABELS, hint, show_errors, staff_form

bp = Blueprint("staff_intake", __name__, url_prefix="/staff/intake")

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
STAFF_CHANNELS = (Channel.letter, Channel.phone, Channel.email, Channel.in_person)
STAFF_LEVELS = (AssuranceLevel.none, AssuranceLevel.email_verified, AssuranceLevel.staff_verified)


@bp.get("/")
@handler_required
def choose() -> Any:
    rights = [(right, labels.RIGHT_TITLES[right]) for right in current_profile().rights]
    return render_template("staff/intake/choose.html", rights=rights)


def _right(slug: str) -> Right:
    try:
        right = Right(slug)
    except ValueError:
        abort(404)
    if right not in current_profile().rights:
        abort(404)
    return right


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _received_at(raw: str | None, now: datetime) -> datetime:
    """A local date and time from the form (``2026-03-05T14:30``) as an aware instant."""
    try:
        local = datetime.strptime((raw or "").strip(), LOCAL_FORMAT)
    except ValueError:
        raise FieldError(
            _l("Enter the date and time, e.g. 2026-03-05 14:30.")
            if raw
            else _l("Enter when the request reached us.")
        ) from None
    return intake.check_received_at(local.replace(tzinfo=_zone()), now)


def _assurance(form: Any, errors: dict[str, Message]) -> Assurance | None:
    try:
        level = AssuranceLevel(form.assurance.data or AssuranceLevel.none.value)
    except ValueError:
        level = AssuranceLevel.none
    if level not in STAFF_LEVELS:
        errors["assurance"] = _l("Choose one of the options.")
        return None
    if level == AssuranceLevel.none:
        return None
    method = form.assurance_method.data or ""
    if method not in STAFF_CHECK_LABELS:
        errors["assurance_method"] = _l("Say how the identity was checked.")
    try:
        note = clean_line(form.assurance_note.data, max_length=500, required=True)
    except FieldError as exc:
        errors["assurance_note"] = exc.message
        note = None
    if level == AssuranceLevel.email_verified and not (form.email.data or "").strip():
        errors["email"] = _l("Give the email address that is known to be theirs.")
    if "assurance_method" in errors or note is None or "email" in errors:
        return None
    return Assurance(level, method, note)


def _render(right: Right, form: Any, status: int = 200) -> Any:
    return (
        render_template(
            "staff/intake/form.html",
            right=right,
            form=form,
            detail_fields=[form[f.name] for f in fields_for(right)],
            hint=lambda name: hint(right, name),
        ),
        status,
    )


@bp.route("/<slug>", methods=["GET", "POST"])
@handler_required
def register(slug: str) -> Any:
    right = _right(slug)
    form = staff_form(right)()
    if request.method == "GET":
        form.received_at.data = utcnow().astimezone(_zone()).strftime(LOCAL_FORMAT)
        return _render(right, form)
    if not form.validate_on_submit():
        return _render(right, form, 400)

    now = utcnow()
    errors: dict[str, Message] = {}
    channel = form.channel.data
    if channel not in {c.value for c in STAFF_CHANNELS}:
        errors["channel"] = _l("Choose how the request reached us.")
    try:
        received_at = _received_at(form.received_at.data, now)
    except FieldError as exc:
        errors["received_at"] = exc.message
    language = form.language.data if form.language.data in LANGUAGES else "sv"
    assurance = _assurance(form, errors)
    try:
        submission = intake.check_submission(
            right,
            name=form.name.data,
            email=form.email.data,
            personnummer=form.personnummer.data,
            phone=form.phone.data,
            details={f.name: form[f.name].data for f in fields_for(right)},
            language=language,
            email_required=False,
            now=now,
        )
    except InvalidInput as invalid:
        errors = {**invalid.errors, **errors}
    if errors:
        show_errors(form, errors)
        return _render(right, form, 422)

    s = db_session()
    filed = intake.file_request(
        s,
        submission,
        channel=Channel(channel),
        actor=Actor.staff(staff()),
        received_at=received_at,
        now=now,
        assurance=assurance,
        created_by=staff(),
        acknowledge=bool(form.acknowledge.data),
    )
    s.commit()
    if filed.created:
        flash(
            _(
                "Registered as %(reference)s. Legal due date: %(date)s.",
                reference=filed.request.reference,
                date=filed.request.due_legal.isoformat(),
            ),
            "success",
        )
    else:
        flash(
            _(
                "This person already has an open request for this right: %(reference)s. "
                "The new contact was recorded on it instead of filing a second request.",
                reference=filed.request.reference,
            ),
            "warning",
        )
    return redirect(url_for("staff_intake.choose"))
