"""OpenID Connect as a relying party: what e-legitimation for subjects (``dsr.eid``) and
single sign-on for staff (``dsr.staff_sso``) share.

A sign-in goes like this. :func:`begin` stores an :class:`~dsr.models.OidcLogin` with a
fresh ``state``, ``nonce`` and PKCE code verifier, bound to the browser by a random value in
its session cookie, and returns the provider's authorization URL (authorization code flow,
PKCE with S256). The provider sends the browser back to the callback, where :func:`complete`
claims the row by its ``state`` (unknown, used, expired, or started in another browser:
refused), redeems the code and validates the ID token in full with Authlib and joserfc:
the algorithm against an allow-list of asymmetric ones the provider announces, the
signature against the provider's published keys (fetched again once when a token names a
key not seen before, which is how providers rotate keys), ``iss``, ``aud``, ``azp``, ``exp``,
``iat``, ``nonce`` and ``at_hash``, and the authentication level asked for. Claims the ID
token does not carry are read from the userinfo endpoint, whose ``sub`` must match.

Whatever goes wrong is a :class:`LoginFailed` with a :class:`Failure` reason; the callers
turn it into a page and an audit event. Nothing here commits, and nothing reads
``flask.request``: the views pass in what the browser sent.

Provider metadata comes from the discovery document (``<issuer>/.well-known/openid-
configuration``) and is kept for an hour per app; the key set is kept until a token names
a key it does not hold.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from flask import current_app
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
)
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from sqlmodel import Session

from dsr import crypto
from dsr.db import utcnow
from dsr.models import LoginFlow, OidcLogin, Request

#: How long a sign-in may take at the provider, from the redirect to the callback.
LOGIN_TTL = timedelta(minutes=10)
#: Seconds of clock difference with the provider tolerated on ``exp``, ``iat`` and ``nbf``.
CLOCK_SKEW_SECONDS = 60
#: Seconds to wait for the provider on each call.
HTTP_TIMEOUT_SECONDS = 10.0
#: How long discovered metadata is kept before it is fetched again.
METADATA_TTL_SECONDS = 3600
#: Signature algorithms accepted on an ID token; never ``none``, never a shared secret.
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
)


class Failure(enum.StrEnum):
    """Why a sign-in did not succeed; stored in ``OidcLogin.outcome`` and the audit log."""

    # The values are reason codes, not secrets (ruff's S105 takes "token" for one).

    provider_unreachable = "provider_unreachable"
    discovery_invalid = "discovery_invalid"
    cancelled = "cancelled"
    provider_error = "provider_error"
    unknown_state = "unknown_state"
    replayed_state = "replayed_state"
    expired_state = "expired_state"
    other_browser = "other_browser"
    token_exchange_failed = "token_exchange_failed"  # noqa: S105
    wrong_algorithm = "wrong_algorithm"
    unknown_key = "unknown_key"
    bad_signature = "bad_signature"
    wrong_issuer = "wrong_issuer"
    wrong_audience = "wrong_audience"
    expired_token = "expired_token"  # noqa: S105
    wrong_nonce = "wrong_nonce"
    invalid_token = "invalid_token"  # noqa: S105
    wrong_acr = "wrong_acr"
    missing_claim = "missing_claim"
    #: e-legitimation: the claim is there but is no valid personnummer.
    invalid_personnummer = "invalid_personnummer"
    #: e-legitimation: the request was closed or anonymised while the subject signed in.
    request_closed = "request_closed"
    #: Staff: no active staff account has the address the provider vouched for.
    unknown_account = "unknown_account"
    #: Staff: the provider does not vouch for the address (``email_verified`` not true).
    email_unverified = "email_unverified"
    #: Staff: local passwords are off and the login form was posted anyway.
    passwords_off = "passwords_off"


class LoginFailed(Exception):
    """A sign-in failed. ``login`` is the row when the ``state`` found one; ``vouched_for``
    is the login the provider vouched for, when the failure is about it (staff)."""

    def __init__(
        self, reason: Failure, detail: str = "", *, login: OidcLogin | None = None
    ) -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail[:200]
        self.login = login
        self.vouched_for: str | None = None


@dataclass(frozen=True)
class ProviderSettings:
    """One configured provider: ``[eid]`` or ``[staff_sso]``."""

    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    acr_values: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], prefix: str) -> ProviderSettings | None:
        """The provider under ``<prefix>_*`` Flask keys, or None when none is configured."""
        issuer = str(config.get(f"{prefix}_ISSUER") or "")
        if not issuer:
            return None
        return cls(
            issuer=issuer,
            client_id=str(config[f"{prefix}_CLIENT_ID"]),
            client_secret=str(config[f"{prefix}_CLIENT_SECRET"]),
            scopes=tuple(str(config[f"{prefix}_SCOPES"]).split()),
            acr_values=tuple(str(config.get(f"{prefix}_ACR_VALUES") or "").split()),
        )


# --- provider metadata and keys ------------------------------------------------------------------


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: issuer -> (monotonic time fetched, metadata)
    metadata: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    #: jwks_uri -> key set
    keys: dict[str, KeySet] = field(default_factory=dict)


def _cache() -> _Cache:
    cache = current_app.extensions.get("dsr.oidc")
    if cache is None:
        cache = current_app.extensions.setdefault("dsr.oidc", _Cache())
    return cache


def _get_json(url: str, what: str, *, unreadable: Failure) -> Any:
    """GET a JSON document from the provider. Network trouble and server errors mean the
    provider is unreachable; a document that is not JSON is ``unreadable``."""
    try:
        response = requests.get(
            url, timeout=HTTP_TIMEOUT_SECONDS, headers={"Accept": "application/json"}
        )
    except requests.RequestException as exc:
        raise LoginFailed(Failure.provider_unreachable, f"{what}: {type(exc).__name__}") from None
    if response.status_code >= 500:
        raise LoginFailed(Failure.provider_unreachable, f"{what}: HTTP {response.status_code}")
    if response.status_code != 200:
        raise LoginFailed(unreadable, f"{what}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise LoginFailed(unreadable, f"{what} is not JSON") from None


def _is_web_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in {"https", "http"} and bool(parts.netloc)


def discover(settings: ProviderSettings) -> dict[str, Any]:
    """The provider's metadata from its discovery document, checked and cached.

    The document must name the configured issuer exactly (OpenID Connect Discovery 4.3),
    offer the code flow, and give the endpoints this service uses.
    """
    cache = _cache()
    with cache.lock:
        cached = cache.metadata.get(settings.issuer)
    if cached is not None and time.monotonic() - cached[0] < METADATA_TTL_SECONDS:
        return cached[1]
    url = settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = _get_json(url, "discovery document", unreadable=Failure.discovery_invalid)
    if not isinstance(document, dict):
        raise LoginFailed(Failure.discovery_invalid, "discovery document is not an object")
    if document.get("issuer") != settings.issuer:
        raise LoginFailed(Failure.discovery_invalid, "discovery document names another issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not _is_web_url(document.get(key)):
            raise LoginFailed(Failure.discovery_invalid, f"discovery document lacks {key}")
    if "code" not in document.get("response_types_supported", ["code"]):
        raise LoginFailed(Failure.discovery_invalid, "the provider does not offer the code flow")
    with cache.lock:
        cache.metadata[settings.issuer] = (time.monotonic(), document)
    return document


def _key_set(metadata: Mapping[str, Any], *, refresh: bool = False) -> KeySet:
    cache = _cache()
    uri = str(metadata["jwks_uri"])
    with cache.lock:
        known = None if refresh else cache.keys.get(uri)
    if known is not None:
        return known
    document = _get_json(uri, "key set", unreadable=Failure.discovery_invalid)
    try:
        keys = KeySet.import_key_set(document)
    except (JoseError, KeyError, TypeError, ValueError):
        raise LoginFailed(Failure.discovery_invalid, "the key set cannot be read") from None
    with cache.lock:
        cache.keys[uri] = keys
    return keys


def _kids(keys: KeySet) -> set[str | None]:
    return {key.kid for key in keys}


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def form_action_origins() -> list[str]:
    """Origins a form here may end up at: each configured provider's issuer and, once its
    metadata is known, its authorization endpoint. For the Content-Security-Policy."""
    origins: list[str] = []
    cache = current_app.extensions.get("dsr.oidc")
    for prefix in ("EID", "STAFF_SSO"):
        issuer = str(current_app.config.get(f"{prefix}_ISSUER") or "")
        if not issuer:
            continue
        urls = [issuer]
        if cache is not None:
            with cache.lock:
                cached = cache.metadata.get(issuer)
            if cached is not None:
                urls.append(str(cached[1].get("authorization_endpoint", "")))
        for url in urls:
            origin = _origin(url)
            if origin and origin not in origins:
                origins.append(origin)
    return origins


# --- the sign-in -------------------------------------------------------------------------------


def browser_hash(browser_secret: str) -> str:
    return crypto.keyed_hash(browser_secret, "oidc:browser")


def state_hash(state: str) -> str:
    return crypto.keyed_hash(state, "oidc:state")


def new_browser_secret() -> str:
    """The random value a browser's session cookie carries to tie sign-ins to it."""
    return crypto.new_token()


def begin(
    session: Session,
    settings: ProviderSettings,
    *,
    flow: LoginFlow,
    redirect_uri: str,
    browser_secret: str,
    return_to: str,
    request: Request | None = None,
    extra: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """Store a new sign-in and return the provider's authorization URL to send the browser to.

    ``return_to`` is where the browser goes afterwards; it is stored encrypted.
    """
    now = now or utcnow()
    metadata = discover(settings)
    state = crypto.new_token()
    nonce = crypto.new_token()
    # RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]; url-safe base64 is a subset.
    verifier = secrets.token_urlsafe(64)
    session.add(
        OidcLogin(
            flow=flow,
            state_hash=state_hash(state),
            browser_hash=browser_hash(browser_secret),
            nonce=nonce,
            code_verifier_encrypted=crypto.encrypt(verifier, "oidc:verifier"),
            request_id=request.id if request is not None else None,
            return_to_encrypted=crypto.encrypt(return_to, "oidc:return"),
            created_at=now,
            expires_at=now + LOGIN_TTL,
        )
    )
    session.flush()
    params: dict[str, str] = dict(extra or {})
    if settings.acr_values:
        params["acr_values"] = " ".join(settings.acr_values)
    with _client(settings, metadata, redirect_uri) as client:
        url, _state = client.create_authorization_url(
            metadata["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            **params,
        )
    return str(url)


def _client(
    settings: ProviderSettings, metadata: Mapping[str, Any], redirect_uri: str
) -> OAuth2Session:
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return OAuth2Session(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scope=" ".join(settings.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
        default_timeout=HTTP_TIMEOUT_SECONDS,
    )


def return_to(login: OidcLogin) -> str:
    """Where the browser goes after the sign-in (see :func:`begin`)."""
    return crypto.decrypt(login.return_to_encrypted, "oidc:return")


def _claim(
    session: Session, state: str, flow: LoginFlow, browser_secret: str | None, now: datetime
) -> OidcLogin:
    """The sign-in a callback's ``state`` belongs to, marked used in the same statement that
    checks it was not, so that two callbacks racing with one ``state`` cannot both pass."""
    if not state or len(state) > 200:
        raise LoginFailed(Failure.unknown_state)
    login = session.scalars(
        select(OidcLogin).where(OidcLogin.state_hash == state_hash(state), OidcLogin.flow == flow)
    ).first()
    if login is None:
        raise LoginFailed(Failure.unknown_state)
    if login.finished_at is not None:
        raise LoginFailed(Failure.replayed_state, login=login)
    claimed = session.execute(
        update(OidcLogin)
        .where(OidcLogin.id == login.id, OidcLogin.finished_at.is_(None))  # type: ignore[union-attr]
        .values(finished_at=now, outcome="pending")
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(login)
    if not claimed:
        raise LoginFailed(Failure.replayed_state, login=login)
    if login.expires_at <= now:
        raise LoginFailed(Failure.expired_state, login=login)
    if browser_secret is None or not crypto.hashes_match(
        login.browser_hash, browser_hash(browser_secret)
    ):
        raise LoginFailed(Failure.other_browser, login=login)
    return login


def finish(session: Session, login: OidcLogin, outcome: str, now: datetime | None = None) -> None:
    """Record how the sign-in ended (``succeeded`` or a :class:`Failure`)."""
    login.finished_at = login.finished_at or now or utcnow()
    login.outcome = outcome[:40]
    session.add(login)


@dataclass(frozen=True)
class Completed:
    """A sign-in that passed every check: the row and the claims about the person."""

    login: OidcLogin
    claims: dict[str, Any]


def complete(
    session: Session,
    settings: ProviderSettings,
    callback: Mapping[str, str],
    *,
    flow: LoginFlow,
    redirect_uri: str,
    browser_secret: str | None,
    wanted: Sequence[str] = (),
    now: datetime | None = None,
) -> Completed:
    """Finish a sign-in from the parameters the provider sent back with the browser.

    ``wanted`` names claims to read from the userinfo endpoint when the ID token lacks them.
    Raises :class:`LoginFailed`; the row (``exc.login``) is then already marked used.
    """
    now = now or utcnow()
    login = _claim(session, callback.get("state", ""), flow, browser_secret, now)
    try:
        return Completed(login, _redeem(settings, callback, login, redirect_uri, wanted))
    except LoginFailed as exc:
        exc.login = login
        raise


def _redeem(
    settings: ProviderSettings,
    callback: Mapping[str, str],
    login: OidcLogin,
    redirect_uri: str,
    wanted: Sequence[str],
) -> dict[str, Any]:
    error = callback.get("error")
    if error:
        reason = Failure.cancelled if error == "access_denied" else Failure.provider_error
        raise LoginFailed(reason, error[:60])
    # RFC 9207: a provider that says which issuer answered must be the one asked.
    if "iss" in callback and callback["iss"] != settings.issuer:
        raise LoginFailed(Failure.wrong_issuer, "the response names another issuer")
    code = callback.get("code")
    if not code:
        raise LoginFailed(Failure.provider_error, "no code in the response")
    metadata = discover(settings)
    verifier = crypto.decrypt(login.code_verifier_encrypted, "oidc:verifier")
    try:
        with _client(settings, metadata, redirect_uri) as client:
            token = client.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=verifier
            )
    except requests.RequestException as exc:
        raise LoginFailed(Failure.provider_unreachable, f"token: {type(exc).__name__}") from None
    except (OAuthError, ValueError) as exc:
        raise LoginFailed(Failure.token_exchange_failed, str(exc)[:120]) from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise LoginFailed(Failure.invalid_token, "no ID token in the token response")
    access_token = token.get("access_token")
    claims = validate_id_token(
        settings,
        metadata,
        id_token,
        nonce=login.nonce,
        access_token=access_token if isinstance(access_token, str) else None,
    )
    missing = [name for name in wanted if name not in claims]
    if missing and metadata.get("userinfo_endpoint") and isinstance(access_token, str):
        for name, value in _userinfo(metadata, access_token, claims["sub"]).items():
            claims.setdefault(name, value)
    return claims


def _header(id_token: str) -> dict[str, Any]:
    try:
        segment = id_token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, IndexError):
        raise LoginFailed(Failure.invalid_token, "the ID token cannot be read") from None
    if not isinstance(header, dict):
        raise LoginFailed(Failure.invalid_token, "the ID token cannot be read")
    return header


#: Which failure a claim that does not validate is.
_CLAIM_FAILURES = {
    "iss": Failure.wrong_issuer,
    "aud": Failure.wrong_audience,
    "azp": Failure.wrong_audience,
    "nonce": Failure.wrong_nonce,
    "exp": Failure.expired_token,
}


def validate_id_token(
    settings: ProviderSettings,
    metadata: Mapping[str, Any],
    id_token: str,
    *,
    nonce: str,
    access_token: str | None,
) -> dict[str, Any]:
    """The ID token's claims once signature, algorithm and every claim check out."""
    header = _header(id_token)
    announced = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS or algorithm not in announced:
        raise LoginFailed(Failure.wrong_algorithm, f"alg {str(algorithm)[:20]}")
    keys = _key_set(metadata)
    kid = header.get("kid")
    if kid not in _kids(keys) and not (kid is None and len(keys.keys) == 1):
        keys = _key_set(metadata, refresh=True)  # the provider may have rotated its keys
        if kid not in _kids(keys) and not (kid is None and len(keys.keys) == 1):
            raise LoginFailed(Failure.unknown_key, "no published key has the token's kid")
    try:
        token = jwt.decode(id_token, keys, algorithms=[algorithm])
    except BadSignatureError:
        raise LoginFailed(Failure.bad_signature) from None
    except JoseError as exc:
        raise LoginFailed(Failure.invalid_token, type(exc).__name__) from None
    claims = CodeIDToken(
        token.claims,
        token.header,
        {
            "iss": {"essential": True, "value": settings.issuer},
            "aud": {"essential": True, "value": settings.client_id},
        },
        {"nonce": nonce, "client_id": settings.client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=int(time.time()), leeway=CLOCK_SKEW_SECONDS)
    except ExpiredTokenError:
        raise LoginFailed(Failure.expired_token) from None
    except ClaimError as exc:
        raise LoginFailed(
            _CLAIM_FAILURES.get(exc.claim, Failure.invalid_token), exc.claim
        ) from None
    if settings.acr_values and claims.get("acr") not in settings.acr_values:
        raise LoginFailed(Failure.wrong_acr, f"acr {str(claims.get('acr'))[:80]}")
    return dict(claims)


def _userinfo(metadata: Mapping[str, Any], access_token: str, sub: str) -> dict[str, Any]:
    try:
        response = requests.get(
            str(metadata["userinfo_endpoint"]),
            timeout=HTTP_TIMEOUT_SECONDS,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
    except requests.RequestException as exc:
        raise LoginFailed(Failure.provider_unreachable, f"userinfo: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise LoginFailed(Failure.invalid_token, f"userinfo: HTTP {response.status_code}")
    try:
        info = response.json()
    except ValueError:
        raise LoginFailed(Failure.invalid_token, "userinfo is not JSON") from None
    # OpenID Connect Core 5.3.2: the userinfo must be about the person the ID token names.
    if not isinstance(info, dict) or info.get("sub") != sub:
        raise LoginFailed(Failure.invalid_token, "userinfo is about someone else")
    return info
