"""e-legitimation for subjects: proving who one is with BankID or Freja eID (LEGAL.md G6, B3).

Swedish e-legitimation reaches a web service through an OpenID provider: the issuer of the
eID itself (Freja), or a broker offering several (Sweden Connect, Criipto, Signicat, ...).
The provider returns the person's personnummer in the claim
``https://id.oidc.se/claim/personalIdentityNumber`` (a samordningsnummer in
``https://id.oidc.se/claim/coordinationNumber``) when asked for the scope
``https://id.oidc.se/scope/naturalPersonNumber``.

Once a request's email address is confirmed, its status page offers the step
(:func:`offered`). :func:`start` sends the browser to the provider; :func:`finish` takes it
back (``dsr.oidc`` checks everything about the sign-in) and binds the proven personnummer
to the request, encrypted and masked as one typed on the form is. The request then reaches
``eid_verified`` and the sources are searched with the number (``dsr.sources.locate``).

A request that already carries another personnummer keeps it, and nothing is merged: the
proven number is kept beside it for staff to decide (:func:`adopt_proven_number`,
:func:`discard_proven_number`), and staff are warned on the request page.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app
from sqlmodel import Session

from dsr import audit, crypto, deadlines, identity, oidc
from dsr import personnummer as pnr
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import AssuranceLevel, LoginFlow, OidcLogin, Request, RequestStatus
from dsr.oidc import Failure, LoginFailed, ProviderSettings

CALLBACK_PATH = "/eid/callback"


class Outcome(enum.StrEnum):
    #: The request now carries the proven personnummer and is ``eid_verified`` (or more).
    verified = "verified"
    #: The request carries another personnummer: nothing merged, staff decide.
    mismatch = "mismatch"


@dataclass(frozen=True)
class Finished:
    request: Request
    outcome: Outcome
    #: The status page's token, to send the browser back to it.
    status_token: str


class NotOffered(Exception):
    """e-legitimation is not configured, or not (or no longer) offered for this request."""


def settings() -> ProviderSettings | None:
    return ProviderSettings.from_config(current_app.config, "EID")


def enabled() -> bool:
    return settings() is not None


def redirect_uri() -> str:
    """The callback address to register at the provider."""
    return f"{current_app.config['BASE_URL']}{CALLBACK_PATH}"


def offered(request: Request) -> bool:
    """Can the subject identify with e-legitimation for this request now?

    Only for an open request whose address is confirmed, that has not reached the level
    already, and has no proven number waiting for staff to decide about.
    """
    return (
        enabled()
        and request.is_open
        and request.anonymized_at is None
        and request.status != RequestStatus.unverified
        and request.assurance.rank < AssuranceLevel.eid_verified.rank
        and request.eid_pnr_masked is None
    )


def required(request: Request) -> bool:
    """Does the request's right need e-legitimation (or a staff check) before staff act?"""
    return identity.required_assurance(request.right).rank >= AssuranceLevel.eid_verified.rank


def start(
    session: Session,
    request: Request,
    *,
    status_token: str,
    browser_secret: str,
    now: datetime | None = None,
) -> str:
    """Begin the sign-in at the provider; returns the URL to send the browser to.

    Raises :class:`NotOffered`, or :class:`~dsr.oidc.LoginFailed` when the provider cannot
    be used (the failure is already recorded then).
    """
    now = now or utcnow()
    provider = settings()
    if provider is None or not offered(request):
        raise NotOffered()
    try:
        url = oidc.begin(
            session,
            provider,
            flow=LoginFlow.eid,
            redirect_uri=redirect_uri(),
            browser_secret=browser_secret,
            return_to=status_token,
            request=request,
            # Every proof is made now, by whoever holds the eID: never a provider session
            # left open on a shared computer.
            extra={"prompt": "login", "ui_locales": request.language},
            now=now,
        )
    except LoginFailed as exc:
        record_failure(session, exc, request=request, now=now)
        raise
    audit.record(session, "eid.started", Actor.subject(), request=request, at=now)
    return url


def finish(
    session: Session,
    callback: dict[str, str],
    *,
    browser_secret: str | None,
    now: datetime | None = None,
) -> Finished:
    """Complete the sign-in the provider sent the browser back from.

    Raises :class:`~dsr.oidc.LoginFailed` (already recorded in the audit log, the sign-in
    marked used) for every way it can fail.
    """
    now = now or utcnow()
    provider = settings()
    if provider is None:
        raise NotOffered()
    names = _claim_names()
    done: oidc.Completed | None = None
    try:
        done = oidc.complete(
            session,
            provider,
            callback,
            flow=LoginFlow.eid,
            redirect_uri=redirect_uri(),
            browser_secret=browser_secret,
            wanted=names,
            now=now,
        )
        request = session.get(Request, done.login.request_id)
        if request is None or not request.is_open or request.anonymized_at is not None:
            raise LoginFailed(Failure.request_closed, login=done.login)
        number = proven_number(done.claims, names, now)
    except LoginFailed as exc:
        if exc.login is None and done is not None:
            exc.login = done.login
        record_failure(session, exc, now=now)
        raise
    outcome = bind(session, request, number, provider=provider, acr=done.claims.get("acr"), now=now)
    oidc.finish(session, done.login, "succeeded", now)
    return Finished(request, outcome, oidc.return_to(done.login))


def _claim_names() -> tuple[str, str]:
    config = current_app.config
    return (str(config["EID_PERSONNUMMER_CLAIM"]), str(config["EID_COORDINATION_NUMBER_CLAIM"]))


def proven_number(
    claims: dict[str, Any], names: tuple[str, str], now: datetime
) -> pnr.Personnummer:
    """The personnummer (or samordningsnummer) the provider vouched for."""
    raw = next((claims[name] for name in names if claims.get(name)), None)
    if raw is None:
        raise LoginFailed(Failure.missing_claim, "no personnummer or samordningsnummer claim")
    try:
        return pnr.parse(str(raw), deadlines.today(ZoneInfo(current_app.config["TIMEZONE"]), now))
    except pnr.InvalidPersonnummer as exc:
        raise LoginFailed(Failure.invalid_personnummer, exc.reason) from None


def _provider_label(provider: ProviderSettings) -> str:
    return urlsplit(provider.issuer).netloc or provider.issuer


def bind(
    session: Session,
    request: Request,
    number: pnr.Personnummer,
    *,
    provider: ProviderSettings,
    acr: Any,
    now: datetime,
) -> Outcome:
    """Bind a proven personnummer to the request, or keep it aside when it differs."""
    digits_hash = crypto.keyed_hash(number.digits, crypto.PNR_LABEL)
    label = _provider_label(provider)
    acr_text = str(acr)[:200] if acr else None
    if request.subject_pnr_hmac is not None and not crypto.hashes_match(
        request.subject_pnr_hmac, digits_hash
    ):
        request.eid_pnr_encrypted = crypto.encrypt(number.digits, crypto.PNR_LABEL)
        request.eid_pnr_masked = number.masked
        request.updated_at = now
        session.add(request)
        audit.record(
            session,
            "identity.eid_mismatch",
            Actor.subject(),
            request=request,
            payload={"provider": label, "acr": acr_text, "coordination": number.coordination},
            public=True,
            at=now,
        )
        return Outcome.mismatch
    added = request.subject_pnr_hmac is None
    if added:
        request.subject_pnr_encrypted = crypto.encrypt(number.digits, crypto.PNR_LABEL)
        request.subject_pnr_hmac = digits_hash
        request.subject_pnr_masked = number.masked
        request.updated_at = now
        session.add(request)
    identity.mark_eid_verified(
        session, request, provider=label, acr=acr_text, actor=Actor.subject(), now=now
    )
    audit.record(
        session,
        "identity.eid_verified",
        Actor.subject(),
        request=request,
        payload={
            "provider": label,
            "acr": acr_text,
            "personnummer": "added" if added else "confirmed",
            "coordination": number.coordination,
            "assurance": request.assurance.value,
        },
        public=True,
        at=now,
    )
    return Outcome.verified


def record_failure(
    session: Session,
    failure: LoginFailed,
    *,
    request: Request | None = None,
    now: datetime | None = None,
) -> None:
    """An audit event for a failed e-legitimation, and the sign-in's outcome."""
    now = now or utcnow()
    login: OidcLogin | None = failure.login
    if login is not None and failure.reason != Failure.replayed_state:
        oidc.finish(session, login, failure.reason.value, now)
    if request is None and login is not None and login.request_id is not None:
        request = session.get(Request, login.request_id)
    audit.record(
        session,
        "eid.failed",
        Actor.subject(),
        request=request,
        payload={"reason": failure.reason.value, "detail": failure.detail or None},
        at=now,
    )


# --- staff decide when the proven number differs -------------------------------------------------


def adopt_proven_number(
    session: Session, request: Request, *, actor: Actor, reason: str, now: datetime | None = None
) -> None:
    """Staff decided the personnummer proven by e-legitimation is the subject's: it replaces
    the one on the request, and the request is ``eid_verified``."""
    now = now or utcnow()
    if request.eid_pnr_encrypted is None or request.eid_pnr_masked is None:
        raise ValueError("no personnummer proven by e-legitimation is waiting")
    digits = crypto.decrypt(request.eid_pnr_encrypted, crypto.PNR_LABEL)
    request.subject_pnr_encrypted = request.eid_pnr_encrypted
    request.subject_pnr_hmac = crypto.keyed_hash(digits, crypto.PNR_LABEL)
    request.subject_pnr_masked = request.eid_pnr_masked
    request.eid_pnr_encrypted = None
    request.eid_pnr_masked = None
    provider = settings()
    identity.mark_eid_verified(
        session,
        request,
        provider=_provider_label(provider) if provider else "e-legitimation",
        acr=None,
        actor=actor,
        now=now,
    )
    request.updated_at = now
    session.add(request)
    audit.record(
        session,
        "identity.eid_number_adopted",
        actor,
        request=request,
        reason=reason,
        payload={"assurance": request.assurance.value},
        at=now,
    )


def discard_proven_number(
    session: Session, request: Request, *, actor: Actor, reason: str, now: datetime | None = None
) -> None:
    """Staff decided the personnummer on the request stays: the proven one is deleted."""
    now = now or utcnow()
    if request.eid_pnr_masked is None:
        raise ValueError("no personnummer proven by e-legitimation is waiting")
    request.eid_pnr_encrypted = None
    request.eid_pnr_masked = None
    request.updated_at = now
    session.add(request)
    audit.record(
        session, "identity.eid_number_discarded", actor, request=request, reason=reason, at=now
    )
