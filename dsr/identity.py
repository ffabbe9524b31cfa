"""Proving who someone is: one-purpose secrets sent by email, and the assurance they give.

A token is a long random string for links; a code is six digits for typing. Both are bound
to one request (or staff user) and one purpose, and stored only as keyed hashes. A token is
valid until it expires, is used (single-use purposes), or is revoked by a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlmodel import Session

from dsr import crypto
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

#: Least assurance before the service acts on a right. Disclosing data (access, portability)
#: or deleting it (erasure) needs at least a confirmed email address.
DEFAULT_REQUIRED = {
    Right.access: AssuranceLevel.email_verified,
    Right.portability: AssuranceLevel.email_verified,
    Right.erasure: AssuranceLevel.email_verified,
    Right.rectification: AssuranceLevel.email_verified,
}


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


def status_url(session: Session, request: Request, now: datetime | None = None) -> str:
    """A fresh private link to the request's status page, for an email to the subject.

    Status links do not expire on their own: they live as long as the request's personal
    data and are revoked by retention. Earlier links stay valid, so an older email still
    works.
    """
    issued = issue_token(
        session,
        TokenPurpose.status,
        request=request,
        ttl=None,
        revoke_previous=False,
        now=now,
    )
    return f"{current_app.config['BASE_URL']}/status/{issued.token}"


def required_assurance(right: Right) -> AssuranceLevel:
    """The assurance a request for ``right`` must reach before it is acted on."""
    return DEFAULT_REQUIRED.get(right, AssuranceLevel.none)


def meets(request: Request, level: AssuranceLevel) -> bool:
    return request.assurance.rank >= level.rank


def record_staff_check(
    session: Session, request: Request, *, method: str, note: str, actor: Actor
) -> None:
    """Record that staff checked the subject's identity themselves (method + note, no image)."""
    from dsr import audit  # local: audit imports nothing from here, but keep the graph simple

    method, note = (method or "").strip(), (note or "").strip()
    if not method or not note:
        raise ValueError("method and note are required")
    now = utcnow()
    request.assurance = AssuranceLevel.staff_verified
    request.assurance_method = method[:100]
    request.assurance_note = note
    request.assurance_at = now
    request.updated_at = now
    if request.status == RequestStatus.unverified:
        request.status = RequestStatus.verified
        request.verified_at = now
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
