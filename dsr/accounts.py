"""Staff accounts: creation, passwords (argon2id), login throttled after repeated failures."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlmodel import Session

from dsr import audit, ratelimit
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import StaffRole, StaffUser

_hasher = PasswordHasher()
#: Checked when the email is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

MIN_PASSWORD_LENGTH = 12


class AccountError(Exception):
    """A staff account operation was refused; the message is safe to show."""


class LoginThrottled(Exception):
    """Too many failed logins for this email or from this address; try again later."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__("login throttled")
        self.retry_after = retry_after


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if password.strip() != password:
        raise AccountError("The password must not start or end with spaces.")


def find_by_email(session: Session, email: str) -> StaffUser | None:
    return session.scalars(
        select(StaffUser).where(StaffUser.email == normalize_email(email))
    ).first()


def create_staff(
    session: Session,
    email: str,
    role: StaffRole,
    *,
    name: str | None = None,
    password: str | None,
    actor: Actor,
) -> StaffUser:
    """Create an account. Without a password the user must accept an invitation first."""
    email = normalize_email(email)
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or any(c.isspace() for c in email):
        raise AccountError(f"{email!r} is not an email address.")
    if find_by_email(session, email) is not None:
        raise AccountError(f"A staff account for {email} already exists.")
    if password is not None:
        check_password_strength(password)
    user = StaffUser(
        email=email,
        name=(name or local).strip()[:200],
        role=role,
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "staff.created",
        actor,
        payload={"staff_id": user.id, "email": email, "role": str(role)},
    )
    return user


def set_password(session: Session, user: StaffUser, password: str, actor: Actor) -> None:
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.session_version += 1
    session.add(user)
    audit.record(session, "staff.password_set", actor, payload={"staff_id": user.id})


def login_limits(max_failures: int, lockout: timedelta) -> tuple[ratelimit.Limit, ratelimit.Limit]:
    """Failures allowed per email, and (more generously) per client address."""
    return ratelimit.Limit(max_failures, lockout), ratelimit.Limit(max_failures * 4, lockout)


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    client_ip: str,
    max_failures: int,
    lockout: timedelta,
    now: datetime | None = None,
) -> StaffUser | None:
    """Check a login; return the user, or None for any kind of failure.

    Failures are counted per email and per client address in the shared rate-limit table,
    whether or not the account exists, so the form reveals nothing about which accounts
    exist and a locked-out attacker learns nothing new. Raises :class:`LoginThrottled` once
    either count is exhausted. Failed attempts are recorded in the session; the caller must
    commit even when the login fails.
    """
    now = now or utcnow()
    per_email, per_ip = login_limits(max_failures, lockout)
    email_key = ratelimit.key_for("login", "email", normalize_email(email))
    ip_key = ratelimit.key_for("login", "ip", client_ip)
    for key, limit in ((email_key, per_email), (ip_key, per_ip)):
        if ratelimit.exceeded(session, key, limit, now):
            raise LoginThrottled(limit.window)

    user = find_by_email(session, email)
    ok = False
    if user is None or user.password_hash is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
    else:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok or user is None or not user.active:
        for key, limit in ((email_key, per_email), (ip_key, per_ip)):
            with contextlib.suppress(ratelimit.RateLimited):
                ratelimit.hit(session, key, limit, now)
        if user is not None:
            audit.record(session, "staff.login_failed", Actor.staff(user), at=now)
        return None
    assert user.password_hash is not None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    session.add(user)
    audit.record(session, "staff.login", Actor.staff(user), at=now)
    return user


def load_user(session: Session, user_id: str) -> StaffUser | None:
    """Flask-Login's loader: ``<id>:<session_version>``; stale versions are logged out."""
    try:
        raw_id, raw_version = user_id.split(":", 1)
        user = session.get(StaffUser, int(raw_id))
        version = int(raw_version)
    except (ValueError, TypeError):
        return None
    if user is None or not user.active or user.session_version != version:
        return None
    return user
