"""Proving who someone is: one-purpose secrets sent by email, and the assurance they give.

A token is a long random string for links; a code is six digits for typing. Both are bound
to one request (or staff user) and one purpose, and stored only as keyed hashes. A token is
valid until it expires, is used (single-use purposes), or is revoked by a newer one.

Assurance (``Request.assurance``) records the strongest proof reached so far, weakest first:
none, email_verified, personnummer_matched, eid_verified (e-legitimation, ``dsr.eid``),
staff_verified. The riskier actions ask for a
level (:func:`required_assurance`, :func:`meets`). Proofs are recorded as facts (method and
note), never as copies of identity documents (LEGAL.md B3).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlmodel import Session

from dsr import audit, crypto, notifications
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import (
    AssuranceLevel,
    Request,
    RequestStatus,
    Right,
    StaffUser,
    TokenPurpose,
    VerificationToken,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued secret: the only moment the plain token and code exist."""

    row: VerificationToken
    token: str
    code: str | None


def token_hash(purpose: TokenPurpose, token: str) -> str:
    return crypto.keyed_hash(token, f"token:{purpose.value}")


def code_hash(row_token_hash: str, code: str) -> str:
    # Salted with the token's hash so equal codes on two tokens do not hash alike.
    return crypto.keyed_hash(f"{row_token_hash}:{code.strip()}", "code")


def issue_token(
    session: Session,
    purpose: TokenPurpose,
    *,
    request: Request | None = None,
    staff_user: StaffUser | None = None,
    ttl: timedelta | None,
    with_code: bool = False,
    revoke_previous: bool = True,
    now: datetime | None = None,
) -> IssuedToken:
    """Create a token (and optionally a code) for one owner and purpose.

    With ``revoke_previous`` the owner's earlier live tokens for the same purpose stop
    working, so only the latest email's link and code are valid.
    """
    now = now or utcnow()
    if (request is None) == (staff_user is None):
        raise ValueError("a token belongs to exactly one request or staff user")
    if revoke_previous:
        revoke_tokens(session, purpose, request=request, staff_user=staff_user, now=now)
    token = crypto.new_token()
    code = crypto.new_code() if with_code else None
    hashed = token_hash(purpose, token)
    row = VerificationToken(
        purpose=purpose,
        request_id=request.id if request is not None else None,
        staff_user_id=staff_user.id if staff_user is not None else None,
        token_hash=hashed,
        code_hash=code_hash(hashed, code) if code is not None else None,
        created_at=now,
        expires_at=now + ttl if ttl is not None else None,
    )
    session.add(row)
    session.flush()
    return IssuedToken(row, token, code)


def revoke_tokens(
    session: Session,
    purpose: TokenPurpose,
    *,
    request: Request | None = None,
    staff_user: StaffUser | None = None,
    now: datetime | None = None,
) -> None:
    owner = (
        VerificationToken.request_id == request.id
        if request is not None
        else VerificationToken.staff_user_id == (staff_user.id if staff_user else None)
    )
    session.execute(
        update(VerificationToken)
        .where(
            owner,
            VerificationToken.purpose == purpose,
            VerificationToken.used_at.is_(None),  # type: ignore[union-attr]
            VerificationToken.revoked_at.is_(None),  # type: ignore[union-attr]
        )
        .values(revoked_at=now or utcnow())
    )


def is_live(row: VerificationToken, now: datetime) -> bool:
    return (
        row.used_at is None
        and row.revoked_at is None
        and (row.expires_at is None or row.expires_at > now)
    )


def find_token(
    session: Session, purpose: TokenPurpose, token: str, now: datetime | None = None
) -> VerificationToken | None:
    """The live token row for a presented token, or None (unknown, expired, used, revoked)."""
    if not token or len(token) > 200:
        return None
    row = session.scalars(
        select(VerificationToken).where(
            VerificationToken.token_hash == token_hash(purpose, token),
            VerificationToken.purpose == purpose,
        )
    ).first()
    if row is None or not is_live(row, now or utcnow()):
        return None
    return row


def code_matches(row: VerificationToken, code: str) -> bool:
    return row.code_hash is not None and crypto.hashes_match(
        row.code_hash, code_hash(row.token_hash, code)
    )


def issue_status_token(session: Session, request: Request, now: datetime | None = None) -> str:
    """A fresh secret for the request's status page (the path part of :func:`status_url`)."""
    issued = issue_token(
        session,
        TokenPurpose.status,
        request=request,
        ttl=None,
        revoke_previous=False,
        now=now,
    )
    return issued.token


def status_url(session: Session, request: Request, now: datetime | None = None) -> str:
    """A fresh private link to the request's status page, for an email to the subject.

    Status links do not expire on their own: they live as long as the request's personal
    data and are revoked by retention. Earlier links stay valid, so an older email still
    works.
    """
    return f"{current_app.config['BASE_URL']}/status/{issue_status_token(session, request, now)}"


# --- email verification ----------------------------------------------------------------------


class CodeCheck(enum.StrEnum):
    """What became of a typed code."""

    accepted = "accepted"
    wrong = "wrong"
    #: Too many wrong codes: this code no longer works, even when right. Ask for a new one.
    exhausted = "exhausted"
    #: The code expired, was used, or was replaced by a newer one.
    expired = "expired"


def verification_ttl() -> timedelta:
    return timedelta(hours=current_app.config["VERIFICATION_TOKEN_HOURS"])


def max_code_attempts() -> int:
    return int(current_app.config["VERIFICATION_MAX_ATTEMPTS"])


def issue_email_verification(
    session: Session,
    request: Request,
    now: datetime | None = None,
    *,
    revoke_previous: bool = True,
) -> IssuedToken:
    """A link token and a six-digit code proving control of the request's address.

    Earlier verification tokens of the request stop working: only the latest email counts.
    Intake passes ``revoke_previous=False`` for a request it has only just stored, which
    cannot have any, to save the statement that would look.
    """
    return issue_token(
        session,
        TokenPurpose.verify_email,
        request=request,
        ttl=verification_ttl(),
        with_code=True,
        revoke_previous=revoke_previous,
        now=now,
    )


def verify_url(token: str, language: str) -> str:
    """The link in the email; it opens a page with a confirm button (a GET changes nothing)."""
    return f"{current_app.config['BASE_URL']}/verify/{token}?lang={language}"


def verification_email_context(issued: IssuedToken, language: str) -> dict[str, Any]:
    return {
        "verify_url": verify_url(issued.token, language),
        "code": issued.code,
        "token_hours": current_app.config["VERIFICATION_TOKEN_HOURS"],
    }


def check_code(
    session: Session, row: VerificationToken, code: str, now: datetime | None = None
) -> CodeCheck:
    """Compare a typed code with the token's, counting wrong ones.

    An attempt is claimed with one conditional UPDATE before the comparison, so parallel
    guesses cannot together try more than ``verification.max_attempts`` codes. A right code
    gives its attempt back: ``attempts`` counts wrong codes only.
    """
    now = now or utcnow()
    if row.code_hash is None or not is_live(row, now):
        return CodeCheck.expired
    limit = max_code_attempts()
    claimed = session.execute(
        update(VerificationToken)
        .where(VerificationToken.id == row.id, VerificationToken.attempts < limit)
        .values(attempts=VerificationToken.attempts + 1)
        .returning(VerificationToken.attempts)
    ).scalar_one_or_none()
    session.refresh(row)
    if claimed is None:
        return CodeCheck.exhausted
    cleaned = "".join((code or "").split())
    if not (len(cleaned) == 6 and cleaned.isascii() and cleaned.isdigit()):
        return CodeCheck.wrong
    if not code_matches(row, cleaned):
        return CodeCheck.wrong
    row.attempts -= 1
    session.add(row)
    return CodeCheck.accepted


def confirm_email(
    session: Session, row: VerificationToken, *, actor: Actor, now: datetime | None = None
) -> Request:
    """The subject proved control of the address (by link or code): use up the token and
    verify the request if it was waiting for that."""
    now = now or utcnow()
    if row.purpose != TokenPurpose.verify_email or row.request_id is None:
        raise ValueError("not an email verification token")
    row.used_at = now
    session.add(row)
    request = session.get(Request, row.request_id)
    assert request is not None
    mark_email_verified(session, request, actor=actor, now=now)
    return request


def mark_email_verified(
    session: Session, request: Request, *, actor: Actor, now: datetime | None = None
) -> bool:
    """Record that the subject controls the request's address; True if anything changed.

    An unverified open request becomes ``verified``. A level already above email_verified
    stays where it is. Closed requests are not reopened.
    """
    now = now or utcnow()
    changed = False
    if request.status == RequestStatus.unverified:
        request.status = RequestStatus.verified
        request.verified_at = now
        changed = True
    if request.assurance.rank < AssuranceLevel.email_verified.rank:
        _raise_assurance(request, AssuranceLevel.email_verified, "email", None, now)
        changed = True
    if changed:
        request.updated_at = now
        session.add(request)
        audit.record(
            session,
            "request.verified",
            actor,
            request=request,
            payload={"assurance": request.assurance.value, "method": "email"},
            public=True,
            at=now,
        )
    return changed


def resend_verification(
    session: Session, request: Request, *, actor: Actor, now: datetime | None = None
) -> IssuedToken:
    """A new link and code by email, replacing the earlier ones."""
    now = now or utcnow()
    if not request.subject_email:
        raise ValueError("the request has no email address")
    issued = issue_email_verification(session, request, now)
    notifications.queue_email(
        session,
        "verification",
        request.subject_email,
        language=request.language,
        context={"request": request, **verification_email_context(issued, request.language)},
        request=request,
        carries_secret=True,
    )
    audit.record(session, "verification.resent", actor, request=request, at=now)
    return issued


# --- assurance ---------------------------------------------------------------------------------

#: Staff checks offered on the staff pages; ``record_staff_check`` accepts any short method.
STAFF_CHECK_METHODS = ("account_login", "bankid", "id_document_seen", "known_contact", "other")

#: The floor for each right when the profile says nothing more. Erasure and anything that
#: discloses data (access, portability, the reasons behind an automated decision) or changes
#: it (rectification) need at least a confirmed address. Restriction, objection and consent
#: withdrawal only make the controller do less with the data; asking for proof there would
#: stand between the subject and a right that is meant to be easy (Art. 12(2), 7(3)).
DEFAULT_REQUIRED: dict[Right, AssuranceLevel] = {
    Right.access: AssuranceLevel.email_verified,
    Right.portability: AssuranceLevel.email_verified,
    Right.erasure: AssuranceLevel.email_verified,
    Right.rectification: AssuranceLevel.email_verified,
    Right.human_review: AssuranceLevel.email_verified,
    Right.restriction: AssuranceLevel.none,
    Right.objection: AssuranceLevel.none,
    Right.consent_withdrawal: AssuranceLevel.none,
}


def _profile_requirements() -> dict[str, Any]:
    """``[identity] required = { access = "staff_verified", ... }`` from the profile, if any."""
    from dsr.profiles import current_profile

    table = current_profile().extra.get("identity")
    if not isinstance(table, dict):
        return {}
    required = table.get("required")
    return required if isinstance(required, dict) else {}


def required_assurance(right: Right) -> AssuranceLevel:
    """The level a request for ``right`` must reach before staff act on it.

    A profile may ask for more than the default through an ``[identity]`` table; it can
    never ask for less. Values it gets wrong are logged and ignored.
    """
    floor = DEFAULT_REQUIRED[right]
    raw = _profile_requirements().get(right.value)
    if raw is None:
        return floor
    try:
        asked = AssuranceLevel(raw)
    except ValueError:
        log.warning("profile [identity] required.%s: unknown level %r ignored", right.value, raw)
        return floor
    return asked if asked.rank > floor.rank else floor


def meets(request: Request, level: AssuranceLevel) -> bool:
    """Has the request reached ``level``?

    Above ``none`` the request must also be past verification: a matched personnummer alone
    shows only that someone knows the number, and personnummer are not secret.
    """
    if level == AssuranceLevel.none:
        return True
    return request.status != RequestStatus.unverified and request.assurance.rank >= level.rank


def sufficient_for_right(request: Request) -> bool:
    """May the service act on the request's right for this subject?

    The email must be confirmed (the request is past ``unverified``) whatever the right, and
    the assurance reached must meet what the right needs.
    """
    return request.status != RequestStatus.unverified and meets(
        request, required_assurance(request.right)
    )


def _raise_assurance(
    request: Request, level: AssuranceLevel, method: str, note: str | None, now: datetime
) -> None:
    request.assurance = level
    request.assurance_method = method[:100]
    request.assurance_note = note
    request.assurance_at = now


def record_staff_check(
    session: Session,
    request: Request,
    *,
    method: str,
    note: str,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Staff checked the subject's identity some other way (a call-back, an ID shown in
    person): record how, in words, never an image of a document. Verifies the request."""
    now = now or utcnow()
    method, note = (method or "").strip(), (note or "").strip()
    if not method or len(method) > 100:
        raise ValueError("a staff check needs a method of at most 100 characters")
    if not note:
        raise ValueError("a staff check needs a note saying what was checked")
    _raise_assurance(request, AssuranceLevel.staff_verified, method, note, now)
    newly_verified = request.status == RequestStatus.unverified
    if newly_verified:
        request.status = RequestStatus.verified
    if request.verified_at is None:
        request.verified_at = now
    request.updated_at = now
    session.add(request)
    audit.record(
        session,
        "identity.checked_by_staff",
        actor,
        request=request,
        reason=note,
        payload={"method": method},
        at=now,
    )
    if newly_verified:
        audit.record(
            session,
            "request.verified",
            actor,
            request=request,
            payload={"assurance": AssuranceLevel.staff_verified.value, "method": "staff"},
            public=True,
            at=now,
        )


def mark_personnummer_matched(
    session: Session,
    request: Request,
    *,
    source: str,
    actor: Actor,
    now: datetime | None = None,
) -> bool:
    """The request's personnummer was found in the controller's records in ``source``.

    Called by the code that searches the data sources. Raises the assurance level unless a
    stronger one was reached already; returns whether it did. It does not verify the
    request by itself (see :func:`meets`).
    """
    now = now or utcnow()
    if request.subject_pnr_hmac is None:
        raise ValueError("the request has no personnummer to match")
    if request.assurance.rank >= AssuranceLevel.personnummer_matched.rank:
        return False
    _raise_assurance(
        request, AssuranceLevel.personnummer_matched, f"personnummer:{source}", None, now
    )
    request.updated_at = now
    session.add(request)
    audit.record(
        session,
        "identity.personnummer_matched",
        actor,
        request=request,
        payload={"source": source},
        at=now,
    )
    return True


def mark_eid_verified(
    session: Session,
    request: Request,
    *,
    provider: str,
    acr: str | None,
    actor: Actor,
    now: datetime | None = None,
) -> bool:
    """The subject identified with e-legitimation, and the personnummer it vouched for is
    the request's (``dsr.eid`` binds it first). Raises the assurance unless a stronger one
    was reached already; returns whether it did. Staff read ``provider`` and the
    authentication level ``acr`` in the method's note."""
    now = now or utcnow()
    if request.subject_pnr_hmac is None:
        raise ValueError("the request has no personnummer for the e-legitimation to vouch for")
    if request.assurance.rank >= AssuranceLevel.eid_verified.rank:
        return False
    note = provider if not acr else f"{provider} ({acr})"
    _raise_assurance(request, AssuranceLevel.eid_verified, "e-legitimation", note[:500], now)
    request.updated_at = now
    session.add(request)
    return True
