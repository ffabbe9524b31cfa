"""Intake: turning what a data subject (or a trusted system, or staff) sends into a request.

Three doors lead here: the public forms (``dsr.web.public``), the API for trusted systems
(``dsr.web.api``) and staff registering a letter or a call (``dsr.web.staff_intake``). Each
parses its input into the same checks (:func:`check_submission`), then calls
:func:`file_request`, which stores the request with its reference and due dates, appends the
audit event and queues the acknowledgement, all in the caller's transaction.

An open request for the same email address and right is not filed twice: the new submission
is linked to the existing one, whose reference the acknowledgement then speaks of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from dsr import audit, crypto, deadlines, identity, notifications, workflow
from dsr import personnummer as pnr
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.identity import IssuedToken
from dsr.models import (
    OPEN_STATUSES,
    ApiToken,
    AssuranceLevel,
    Channel,
    ReferenceCounter,
    Request,
    RequestStatus,
    Right,
    StaffUser,
)
from dsr.request_details import clean_details
from dsr.validation import FieldError, InvalidInput, Message, clean_email, clean_line, clean_phone

REFERENCE_PREFIX = "DSR"
NAME_MAX = 200
#: How far back a received date may lie. Older is almost certainly a typing mistake; a
#: request that really waited longer is registered with this limit and a note.
MAX_BACKDATE = timedelta(days=366)
#: Clocks of other systems may run a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)
#: Namespace of the PostgreSQL advisory locks that serialise intake per email address.
_INTAKE_LOCK_NAMESPACE = 0x64737269  # "dsri"


def next_reference(session: Session, year: int) -> str:
    """The next public reference for ``year``, e.g. ``DSR-2026-000123``.

    One upsert creates the year's counter at 1 or increments it; the row lock it takes
    makes concurrent intakes wait for each other instead of sharing a number.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    number = session.execute(
        insert(ReferenceCounter)
        .values(year=year, last_number=1)
        .on_conflict_do_update(
            index_elements=["year"],
            set_={"last_number": ReferenceCounter.last_number + 1},
        )
        .returning(col(ReferenceCounter.last_number))
    ).scalar_one()
    return f"{REFERENCE_PREFIX}-{year}-{number:06d}"


# --- checking what was sent --------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectData:
    name: str | None
    #: Lower-cased.
    email: str | None
    personnummer: pnr.Personnummer | None
    phone: str | None


@dataclass(frozen=True)
class Submission:
    """A request that passed every check and can be filed."""

    right: Right
    subject: SubjectData
    #: The shape documented in ``dsr.request_details``.
    details: dict[str, Any]
    language: str


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def check_submission(
    right: Right,
    *,
    name: object,
    email: object,
    personnummer: object = None,
    phone: object = None,
    details: object = None,
    language: str,
    email_required: bool = True,
    now: datetime | None = None,
) -> Submission:
    """Check everything at once; raise :class:`InvalidInput` listing every problem.

    Error keys: ``subject.name``, ``subject.email``, ``subject.personnummer``,
    ``subject.phone`` and ``details.<field>``.
    """
    now = now or utcnow()
    errors: dict[str, Message] = {}

    def check(key: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FieldError as exc:
            errors[key] = exc.message
            return None

    clean_name = check("subject.name", clean_line, name, max_length=NAME_MAX, required=True)
    clean_mail = check("subject.email", clean_email, email, required=email_required)
    clean_tel = check("subject.phone", clean_phone, phone)
    number = check("subject.personnummer", parse_personnummer, personnummer, now)
    try:
        clean = clean_details(right, details)
    except InvalidInput as exc:
        errors.update(exc.errors)
        clean = {}
    if errors:
        raise InvalidInput(errors)
    return Submission(
        right=right,
        subject=SubjectData(clean_name, clean_mail, number, clean_tel),
        details=clean,
        language=language,
    )


def parse_personnummer(raw: object, now: datetime) -> pnr.Personnummer | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str) or len(raw) > 20:
        raise FieldError(_invalid_personnummer())
    try:
        return pnr.parse(raw, deadlines.today(_zone(), now))
    except pnr.InvalidPersonnummer:
        raise FieldError(_invalid_personnummer()) from None


def _invalid_personnummer() -> Message:
    return _l(
        "This is not a valid personnummer or samordningsnummer. Write it as YYYYMMDD-NNNN "
        "or YYMMDD-NNNN."
    )


def check_received_at(received_at: datetime, now: datetime | None = None) -> datetime:
    """When a request reached us, as staff or a trusted system say: not in the future, not
    absurdly old, and with a time zone."""
    now = now or utcnow()
    if received_at.tzinfo is None:
        raise FieldError(_l("Give the time with its time zone offset."))
    if received_at > now + CLOCK_SKEW:
        raise FieldError(_l("The date and time received cannot be in the future."))
    if received_at < now - MAX_BACKDATE:
        raise FieldError(_l("The date received cannot be more than a year ago."))
    return received_at


# --- filing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assurance:
    """How sure whoever filed the request is of the subject's identity, and why."""

    level: AssuranceLevel
    method: str
    note: str | None = None


@dataclass(frozen=True)
class Filed:
    request: Request
    #: False when the submission was linked to an open request filed earlier.
    created: bool
    #: The verification secret emailed with the acknowledgement, if one was.
    verification: IssuedToken | None
    #: The private status link the acknowledgement carries, if one was queued; whoever
    #: filed for the subject may hand the subject the same link.
    status_url: str | None = None


def _serialise(session: Session, email: str) -> None:
    """Make concurrent intakes for one address take turns, so that two submissions at the
    same moment cannot both miss each other and file twice."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"),
            {"ns": _INTAKE_LOCK_NAMESPACE, "key": email},
        )
    elif dialect == "sqlite":
        # A no-op write takes SQLite's database write lock before the duplicate lookup.
        session.execute(text("UPDATE reference_counters SET year = year WHERE 0"))


def find_open_duplicate(session: Session, email: str, right: Right) -> Request | None:
    """The oldest open request for the same address and right, if there is one."""
    return session.scalars(
        select(Request)
        .where(
            Request.subject_email == email,
            Request.right == right,
            col(Request.status).in_(OPEN_STATUSES),
        )
        .order_by(col(Request.id))
        .limit(1)
    ).first()


def file_request(
    session: Session,
    submission: Submission,
    *,
    channel: Channel,
    actor: Actor,
    received_at: datetime | None = None,
    now: datetime | None = None,
    assurance: Assurance | None = None,
    created_by: StaffUser | None = None,
    api_token: ApiToken | None = None,
    acknowledge: bool = True,
    code_for_page: bool = False,
) -> Filed:
    """Store the request (or link to an open one) and queue its acknowledgement.

    ``received_at`` defaults to now; it starts the legal clock (Art. 12(3)). With
    ``code_for_page`` a verification code is emailed even for a duplicate of an already
    verified request: the public page that follows a submission asks for that code before it
    shows anything, so it must be able to expect one whatever the case.
    """
    now = now or utcnow()
    received_at = received_at or now
    email = submission.subject.email
    if email:
        _serialise(session, email)
        existing = find_open_duplicate(session, email, submission.right)
        if existing is not None:
            # The same system filing again (a retry after a lost answer, most likely): the
            # subject already has the acknowledgement.
            same_system = api_token is not None and existing.api_token_id == api_token.id
            return _link_duplicate(
                session,
                existing,
                submission,
                channel=channel,
                actor=actor,
                now=now,
                assurance=assurance,
                acknowledge=acknowledge and not same_system,
                code_for_page=code_for_page,
            )

    request = _new_request(
        session,
        submission,
        channel=channel,
        received_at=received_at,
        now=now,
        created_by=created_by,
        api_token=api_token,
    )
    audit.record(
        session,
        "request.created",
        actor,
        request=request,
        payload={
            "right": request.right.value,
            "channel": request.channel.value,
            "regime": request.regime.value,
            "received_at": request.received_at.isoformat(),
            "due_legal": request.due_legal.isoformat(),
        },
        public=True,
        at=now,
    )
    if assurance is not None and assurance.level != AssuranceLevel.none:
        _apply_assurance(session, request, assurance, actor, now)

    verification = status_link = None
    if email and acknowledge:
        if request.status == RequestStatus.unverified:
            # Filed just now: there is no earlier token to revoke.
            verification = identity.issue_email_verification(
                session, request, now, revoke_previous=False
            )
        status_link = _queue_acknowledgement(session, request, "acknowledgement", verification, now)
    return Filed(request, True, verification, status_link)


def _new_request(
    session: Session,
    submission: Submission,
    *,
    channel: Channel,
    received_at: datetime,
    now: datetime,
    created_by: StaffUser | None,
    api_token: ApiToken | None,
) -> Request:
    subject = submission.subject
    number = subject.personnummer
    year = deadlines.received_date(received_at, _zone()).year
    # The due dates are left to recompute_due below, the one place that computes them.
    request = Request(  # type: ignore[call-arg]
        reference=next_reference(session, year),
        regime=deadlines.Regime(current_app.config["DEADLINES_REGIME"]),
        right=submission.right,
        status=RequestStatus.unverified,
        channel=channel,
        language=submission.language,
        received_at=received_at,
        subject_name=subject.name,
        subject_email=subject.email,
        subject_phone=subject.phone,
        subject_pnr_encrypted=crypto.encrypt(number.digits, "pnr") if number else None,
        subject_pnr_hmac=crypto.keyed_hash(number.digits, "pnr") if number else None,
        subject_pnr_masked=number.masked if number else None,
        details=submission.details,
        created_by_id=created_by.id if created_by is not None else None,
        api_token_id=api_token.id if api_token is not None else None,
        created_at=now,
        updated_at=now,
    )
    # The due dates come from the deadline engine; nothing may flush the row before that.
    with session.no_autoflush:
        workflow.recompute_due(session, request)
    session.flush()
    return request


def _apply_assurance(
    session: Session, request: Request, assurance: Assurance, actor: Actor, now: datetime
) -> None:
    """Record what whoever filed the request knows of the subject's identity, if it is more
    than the request has already."""
    if assurance.level.rank <= request.assurance.rank:
        return
    if assurance.level == AssuranceLevel.staff_verified:
        identity.record_staff_check(
            session,
            request,
            method=assurance.method,
            note=assurance.note or "",
            actor=actor,
            now=now,
        )
    elif assurance.level == AssuranceLevel.email_verified:
        if request.status == RequestStatus.unverified:
            request.status = RequestStatus.verified
        request.verified_at = request.verified_at or now
        request.updated_at = now
        request.assurance = AssuranceLevel.email_verified
        request.assurance_method = assurance.method[:100]
        request.assurance_note = assurance.note
        request.assurance_at = now
        session.add(request)
        audit.record(
            session,
            "request.verified",
            actor,
            request=request,
            payload={"assurance": request.assurance.value, "method": assurance.method[:100]},
            public=True,
            at=now,
        )
    else:
        raise ValueError(f"intake cannot record {assurance.level}: it needs the data sources")


def _link_duplicate(
    session: Session,
    existing: Request,
    submission: Submission,
    *,
    channel: Channel,
    actor: Actor,
    now: datetime,
    assurance: Assurance | None,
    acknowledge: bool,
    code_for_page: bool,
) -> Filed:
    audit.record(
        session,
        "request.submitted_again",
        actor,
        request=existing,
        payload={"channel": channel.value},
        at=now,
    )
    if assurance is not None and assurance.level != AssuranceLevel.none and existing.is_open:
        _apply_assurance(session, existing, assurance, actor, now)
    verification = status_link = None
    if acknowledge and existing.subject_email:
        if code_for_page or existing.status == RequestStatus.unverified:
            verification = identity.issue_email_verification(session, existing, now)
        status_link = _queue_acknowledgement(
            session,
            existing,
            "existing_request",
            verification,
            now,
            language=submission.language,
        )
    return Filed(existing, False, verification, status_link)


def _queue_acknowledgement(
    session: Session,
    request: Request,
    kind: str,
    verification: IssuedToken | None,
    now: datetime,
    *,
    language: str | None = None,
) -> str:
    """Queue the email and return the status link it carries."""
    language = language or request.language
    assert request.subject_email is not None
    status_link = identity.status_url(session, request, now)
    context: dict[str, Any] = {
        "request": request,
        "right": request.right,
        "received_on": deadlines.received_date(request.received_at, _zone()),
        "due_legal": request.due_legal,
        "status_url": status_link,
        "expiry_days": current_app.config["VERIFICATION_UNVERIFIED_EXPIRY_DAYS"],
        "verification": (
            identity.verification_email_context(verification, language) if verification else None
        ),
    }
    notifications.queue_email(
        session,
        kind,
        request.subject_email,
        language=language,
        context=context,
        request=request,
        carries_secret=True,
    )
    return status_link
