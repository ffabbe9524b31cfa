"""Single sign-on for staff with the company's identity provider (Entra ID, Google Workspace,
Keycloak, ...) over OpenID Connect.

The provider vouches for an email address (``email`` with ``email_verified`` true); it must
be the login of an active staff account here. Signing in creates no account and changes no
role: who may do what stays decided in dsr. Local passwords stay unless
``staff_sso.local_passwords`` is off, for installations where the provider is the only way
in. Sign-ins and their failures are in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app
from sqlmodel import Session

from dsr import accounts, audit, oidc
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import LoginFlow, StaffUser
from dsr.oidc import Failure, LoginFailed, ProviderSettings

CALLBACK_PATH = "/staff/sso/callback"


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    #: The staff page the person asked for before signing in.
    next_path: str


def settings() -> ProviderSettings | None:
    return ProviderSettings.from_config(current_app.config, "STAFF_SSO")


def enabled() -> bool:
    return settings() is not None


def local_passwords() -> bool:
    """May staff log in with a password here? Always, unless single sign-on replaces it."""
    return bool(current_app.config["STAFF_SSO_LOCAL_PASSWORDS"]) or not enabled()


def provider_name() -> str:
    """What the login button names: ``staff_sso.name``, else the provider's host."""
    provider = settings()
    name = str(current_app.config["STAFF_SSO_NAME"] or "").strip()
    if name or provider is None:
        return name
    return urlsplit(provider.issuer).netloc


def redirect_uri() -> str:
    """The callback address to register at the provider."""
    return f"{current_app.config['BASE_URL']}{CALLBACK_PATH}"


def start(
    session: Session, *, browser_secret: str, next_path: str, now: datetime | None = None
) -> str:
    """Begin signing in at the provider; returns the URL to send the browser to."""
    now = now or utcnow()
    provider = settings()
    if provider is None:
        raise LoginFailed(Failure.provider_error, "single sign-on is not configured")
    try:
        return oidc.begin(
            session,
            provider,
            flow=LoginFlow.staff_sso,
            redirect_uri=redirect_uri(),
            browser_secret=browser_secret,
            return_to=next_path,
            now=now,
        )
    except LoginFailed as exc:
        record_failure(session, exc, now=now)
        raise


def _verified(value: object) -> bool:
    # Some providers send the boolean as a string.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def finish(
    session: Session,
    callback: dict[str, str],
    *,
    browser_secret: str | None,
    now: datetime | None = None,
) -> SignedIn:
    """Complete a sign-in: the staff account whose login the provider vouched for.

    Raises :class:`~dsr.oidc.LoginFailed`, already recorded in the audit log.
    """
    now = now or utcnow()
    provider = settings()
    if provider is None:
        raise LoginFailed(Failure.provider_error, "single sign-on is not configured")
    email: str | None = None
    try:
        done = oidc.complete(
            session,
            provider,
            callback,
            flow=LoginFlow.staff_sso,
            redirect_uri=redirect_uri(),
            browser_secret=browser_secret,
            wanted=("email", "email_verified"),
            now=now,
        )
        raw = done.claims.get("email")
        if not isinstance(raw, str) or not raw.strip():
            raise LoginFailed(Failure.missing_claim, "no email claim", login=done.login)
        email = accounts.normalize_email(raw)
        if not _verified(done.claims.get("email_verified")):
            raise LoginFailed(Failure.email_unverified, login=done.login)
        user = accounts.find_by_email(session, email)
        if user is None or not user.active:
            raise LoginFailed(Failure.unknown_account, login=done.login)
    except LoginFailed as exc:
        exc.vouched_for = email
        record_failure(session, exc, email=email, now=now)
        raise
    accounts.record_login(session, user, method="sso", now=now)
    oidc.finish(session, done.login, "succeeded", now)
    return SignedIn(user, oidc.return_to(done.login))


def record_failure(
    session: Session, failure: LoginFailed, *, email: str | None = None, now: datetime | None = None
) -> None:
    """An audit event for a failed sign-in, and the sign-in's outcome.

    The address the provider vouched for is recorded when there was one: who tried to get
    in is what a security review of the log needs.
    """
    now = now or utcnow()
    if failure.login is not None and failure.reason != Failure.replayed_state:
        oidc.finish(session, failure.login, failure.reason.value, now)
    user = accounts.find_by_email(session, email) if email else None
    actor = Actor.staff(user) if user is not None else Actor.system("single sign-on")
    audit.record(
        session,
        "staff.sso_failed",
        actor,
        payload={"reason": failure.reason.value, "detail": failure.detail or None, "email": email},
        at=now,
    )
