"""Staff accounts: creation, passwords (argon2id), login throttled after repeated failures."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
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
    """A staff account operation was refused; ``str()`` is safe to show (in the current language)."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


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
        raise AccountError(
            _l("The password must be at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
        )
    if password.strip() != password:
        raise AccountError(_l("The password must not start or end with spaces."))


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
        raise AccountError(_l("%(email)s is not an email address.", email=email))
    if find_by_email(session, email) is not None:
        raise AccountError(_l("A staff account for %(email)s already exists.", email=email))
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
    record_login(session, user, method="password", now=now)
    return user


def record_login(
    session: Session, user: StaffUser, *, method: str, now: datetime | None = None
) -> None:
    """A staff member proved who they are (``password``, or ``sso`` through the company's
    identity provider): one place records every way in. The web layer then starts the
    session with ``dsr.web.auth.log_in``."""
    now = now or utcnow()
    user.last_login_at = now
    session.add(user)
    audit.record(session, "staff.login", Actor.staff(user), payload={"method": method}, at=now)


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


def _admins_left(session: Session, excluding: StaffUser) -> int:
    from sqlalchemy import func

    return int(
        session.scalar(
            select(func.count())
            .select_from(StaffUser)
            .where(
                StaffUser.role == StaffRole.admin,
                StaffUser.active.is_(True),  # type: ignore[attr-defined]
                StaffUser.id != excluding.id,
            )
        )
        or 0
    )


def change_role(session: Session, user: StaffUser, role: StaffRole, *, actor: Actor) -> None:
    """Give a staff member another role; the last active admin cannot stop being one."""
    if user.role == role:
        return
    if user.role == StaffRole.admin and _admins_left(session, user) == 0:
        raise AccountError(_l("The last active administrator cannot lose the role."))
    previous = user.role
    user.role = role
    user.session_version += 1  # permissions changed: sign the user in again
    session.add(user)
    audit.record(
        session,
        "staff.role_changed",
        actor,
        payload={"staff_id": user.id, "from": str(previous), "to": str(role)},
    )


def set_active(session: Session, user: StaffUser, active: bool, *, actor: Actor) -> None:
    """Deactivate (all sessions end at once) or reactivate a staff account."""
    if user.active == active:
        return
    if not active and user.role == StaffRole.admin and _admins_left(session, user) == 0:
        raise AccountError(_l("The last active administrator cannot be deactivated."))
    user.active = active
    user.session_version += 1
    session.add(user)
    audit.record(
        session,
        "staff.activated" if active else "staff.deactivated",
        actor,
        payload={"staff_id": user.id},
    )


def invite_staff(
    session: Session,
    email: str,
    role: StaffRole,
    *,
    name: str | None,
    actor: Actor,
    valid_for: timedelta,
    base_url: str,
    sign_on_with: str | None = None,
) -> StaffUser:
    """Create an account without a password and email a link to set one.

    Where staff sign on only through the company's identity provider (``sign_on_with``
    names it), no password is ever set: the email says how to log in instead.
    """
    from dsr import identity, notifications
    from dsr.models import TokenPurpose

    user = create_staff(session, email, role, name=name, password=None, actor=actor)
    context: dict[str, Any] = {"user": user, "invited_by": actor.label}
    if sign_on_with:
        context.update(sign_on_with=sign_on_with, link=f"{base_url}/staff/login")
    else:
        issued = identity.issue_token(
            session, TokenPurpose.staff_invite, staff_user=user, ttl=valid_for
        )
        context.update(
            link=f"{base_url}/staff/invite/{issued.token}", expires_at=issued.row.expires_at
        )
    notifications.queue_email(
        session,
        "staff_invite",
        user.email,
        language=user.language,
        context=context,
        carries_secret=not sign_on_with,
    )
    audit.record(session, "staff.invited", actor, payload={"staff_id": user.id, "role": str(role)})
    return user


def accept_invite(
    session: Session, token: str, password: str, now: datetime | None = None
) -> StaffUser:
    """Set the password of an invited (or reset) account through its one-time link."""
    from dsr import identity
    from dsr.models import TokenPurpose

    now = now or utcnow()
    row = identity.find_token(session, TokenPurpose.staff_invite, token, now)
    user = session.get(StaffUser, row.staff_user_id) if row is not None else None
    if row is None or user is None or not user.active:
        raise AccountError(
            _l("This link is not valid any more. Ask an administrator for a new one.")
        )
    set_password(session, user, password, Actor.staff(user))
    row.used_at = now
    session.add(row)
    return user
