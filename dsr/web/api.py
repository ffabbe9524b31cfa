"""JSON API for trusted systems: ``/api/v1`` (described by ``/api/v1/openapi.json``).

Bearer tokens (``dsr.apitokens``), no cookies and no CSRF (the blueprint is exempt: a
browser cannot send the Authorization header across sites). Errors are JSON:
``{"errors": {field: message}}``, messages in English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlmodel import Session, col

from dsr import apitokens, identity, intake
from dsr.audit import Actor
from dsr.config import LANGUAGES
from dsr.db import session as db_session
from dsr.db import utcnow
from dsr.intake import Assurance
from dsr.models import ApiToken, AssuranceLevel, AuditEvent, Channel, Request, Right
from dsr.profiles import current_profile
from dsr.validation import FieldError, InvalidInput, Message, clean_line
from dsr.web.openapi import document
from dsr.web.status import TIMELINE, TIMELINE_DEFAULT

bp = Blueprint("api", __name__, url_prefix="/api/v1")

REFERENCE = re.compile(r"DSR-[0-9]{4}-[0-9]{6}", re.ASCII)
#: RFC 3339 date-time (Python's parser alone would take other ISO 8601 forms too).
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
TOP_LEVEL = {"right", "subject", "details", "received_at", "identity_verified_by", "language"}
SUBJECT_KEYS = {"email", "name", "personnummer", "phone"}


def problem(status: int, errors: Mapping[str, Message], **extra: Any) -> Response:
    """A JSON error answer; lazy messages are rendered in English."""
    with force_locale("en"):
        body = {"errors": {key[:200]: str(message) for key, message in errors.items()}}
    response = jsonify({**body, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="dsr"'
    return response


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _authenticate(s: Session, *, record_use: bool) -> ApiToken | None:
    return apitokens.authenticate(s, _bearer(), utcnow(), record_use=record_use)


def _unauthorised() -> Response:
    return problem(401, {"authorization": _l("Send a valid API token: Authorization: Bearer …")})


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _instant(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")


def _end_of(day: date) -> str:
    """24:00 local time on ``day``: when a period ending that day is over."""
    return _instant(datetime.combine(day + timedelta(days=1), time(0), tzinfo=_zone()))


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document(current_app.config["BASE_URL"]))


def _parse_right(raw: object, errors: dict[str, Message]) -> Right | None:
    if not isinstance(raw, str) or raw not in {r.value for r in Right}:
        errors["right"] = _l("Give one of the rights: %(rights)s.", rights=", ".join(Right))
        return None
    right = Right(raw)
    if right not in current_profile().rights:
        errors["right"] = _l("This controller does not offer this right.")
        return None
    return right


def _parse_received_at(raw: object, now: datetime, errors: dict[str, Message]) -> datetime | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, str) or not RFC3339.fullmatch(raw):
            raise ValueError
        moment = datetime.fromisoformat(raw.upper())
    except ValueError:
        errors["received_at"] = _l(
            "Give an RFC 3339 date and time, e.g. 2026-03-05T09:30:00+01:00."
        )
        return None
    try:
        return intake.check_received_at(moment, now)
    except FieldError as exc:
        errors["received_at"] = exc.message
        return None


def _parse(body: object, now: datetime) -> tuple[intake.Submission, datetime | None, str | None]:
    """Check the whole body; raise InvalidInput with every problem found."""
    if not isinstance(body, dict):
        raise InvalidInput({"body": _l("Send a JSON object (Content-Type: application/json).")})
    errors: dict[str, Message] = {
        str(key): _l("Unknown field.") for key in body if key not in TOP_LEVEL
    }
    right = _parse_right(body.get("right"), errors)
    subject = body.get("subject")
    if not isinstance(subject, dict):
        errors["subject"] = _l("Send the subject as an object with email and name.")
        subject = {}
    errors.update(
        {f"subject.{key}": _l("Unknown field.") for key in subject if key not in SUBJECT_KEYS}
    )
    received_at = _parse_received_at(body.get("received_at"), now, errors)
    verified_by = None
    if "identity_verified_by" in body:
        try:
            verified_by = clean_line(body["identity_verified_by"], max_length=200, required=True)
        except FieldError as exc:
            errors["identity_verified_by"] = exc.message
    language = body.get("language", current_app.config["DEFAULT_LANGUAGE"])
    if language not in LANGUAGES:
        errors["language"] = _l("Give sv or en.")
    submission = None
    if right is not None:
        try:
            submission = intake.check_submission(
                right,
                name=subject.get("name"),
                email=subject.get("email"),
                personnummer=subject.get("personnummer"),
                phone=subject.get("phone"),
                details=body.get("details"),
                language=language if language in LANGUAGES else "sv",
                now=now,
            )
        except InvalidInput as invalid:
            errors = {**invalid.errors, **errors}
    if errors or submission is None:
        raise InvalidInput(errors)
    return submission, received_at, verified_by


@bp.post("/requests")
def file_request() -> Response:
    s = db_session()
    token = _authenticate(s, record_use=True)
    if token is None:
        return _unauthorised()
    # Commit the token's last use now, keeping the row as it was read: detached, it is not
    # expired by the commit, so filing neither reads it again nor opens its transaction with
    # a read. (On SQLite a transaction that read before another writer committed cannot
    # then take the write lock: it fails at once with "database is locked" instead of
    # waiting its turn.)
    s.flush()
    s.expunge(token)
    s.commit()
    actor = Actor.api(token.id, token.name)
    now = utcnow()
    try:
        submission, received_at, verified_by = _parse(request.get_json(silent=True), now)
    except InvalidInput as invalid:
        return problem(422, invalid.errors)
    filed = intake.file_request(
        s,
        submission,
        channel=Channel.api,
        actor=actor,
        received_at=received_at,
        now=now,
        api_token=token,
        # A trusted system's word that it authenticated the subject counts as much as a
        # confirmed address (the address is that of the account it authenticated). It does
        # not reach the levels a profile may ask for beyond that: staff check those.
        assurance=(
            Assurance(AssuranceLevel.email_verified, f"api:{token.name}", verified_by)
            if verified_by
            else None
        ),
    )
    if not filed.created:
        s.commit()
        mine = filed.request.api_token_id == token.id
        return problem(
            409,
            {"right": _l("The subject already has an open request for this right.")},
            **({"reference": filed.request.reference} if mine else {}),
        )
    # The link the acknowledgement carries to the subject serves here too: one more would
    # be one more secret and one more row, for the same page.
    status_url = filed.status_url or identity.status_url(s, filed.request, now)
    s.commit()
    req = filed.request
    response = jsonify(
        {
            "reference": req.reference,
            "status": req.status.value,
            "right": req.right.value,
            "received_at": _instant(req.received_at),
            "due_at": _end_of(req.due_legal),
            "due_date": req.due_legal.isoformat(),
            "status_url": status_url,
        }
    )
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/requests/{req.reference}"
    return response


def _timeline(s: Session, req: Request) -> list[dict[str, str]]:
    events = s.scalars(
        select(AuditEvent)
        .where(AuditEvent.request_id == req.id, AuditEvent.public.is_(True))  # type: ignore[attr-defined]
        .order_by(col(AuditEvent.seq))
    )
    with force_locale("en"):
        return [
            {
                "at": _instant(event.occurred_at),
                "event": event.action,
                "description": str(TIMELINE.get(event.action, TIMELINE_DEFAULT)),
            }
            for event in events
        ]


@bp.get("/requests/<reference>")
def show_request(reference: str) -> Response:
    s = db_session()
    token = _authenticate(s, record_use=False)
    if token is None:
        return _unauthorised()
    req = None
    if REFERENCE.fullmatch(reference):
        req = s.scalars(select(Request).where(Request.reference == reference)).first()
    if req is None or req.api_token_id != token.id or req.anonymized_at is not None:
        return problem(
            404, {"reference": _l("No request with this reference was filed with this token.")}
        )
    return jsonify(
        {
            "reference": req.reference,
            "status": req.status.value,
            "right": req.right.value,
            "channel": req.channel.value,
            "received_at": _instant(req.received_at),
            "due_at": _end_of(req.due_legal),
            "due_date": req.due_legal.isoformat(),
            "first_due_date": req.first_due_legal.isoformat(),
            "extended": req.extended_at is not None,
            "verified": req.verified_at is not None,
            "assurance": req.assurance.value,
            "timeline": _timeline(s, req),
        }
    )
