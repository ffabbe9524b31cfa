"""Bearer tokens for trusted systems that file requests through the API.

A token is shown once, when it is created, and stored only as a keyed hash; its first
characters are kept so that an admin can tell tokens apart. Revoking is immediate.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlmodel import Session

from dsr import audit, crypto
from dsr.audit import Actor
from dsr.db import utcnow
from dsr.models import ApiToken, StaffUser

#: Marks the string as this service's token (and helps secret scanners spot a leaked one).
TOKEN_PREFIX = "dsr_"  # noqa: S105 - a label, not a secret
PREFIX_LENGTH = 12
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
#: Recording every use would write on each call; once a minute is enough to tell "in use".
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenError(Exception):
    """A token operation was refused; ``str()`` is safe to show, in the current language."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


def hash_token(token: str) -> str:
    return crypto.keyed_hash(token, "api-token")


def create(
    session: Session,
    name: str,
    *,
    actor: Actor,
    created_by: StaffUser | None = None,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token named ``name`` (letters, digits, ``.``, ``_``, ``-``); returns the row and
    the token, which exists nowhere else from now on."""
    now = now or utcnow()
    name = (name or "").strip()
    if not _NAME.fullmatch(name):
        raise ApiTokenError(
            _l(
                "A token name is 1-100 letters, digits, dots, dashes or underscores, starting with a letter or digit."
            )
        )
    if session.scalars(select(ApiToken).where(ApiToken.name == name)).first() is not None:
        raise ApiTokenError(
            _l("A token named %(name)s already exists (revoked ones keep their names).", name=name)
        )
    token = TOKEN_PREFIX + crypto.new_token()
    row = ApiToken(
        name=name,
        token_hash=hash_token(token),
        prefix=token[:PREFIX_LENGTH],
        created_by_id=created_by.id if created_by is not None else None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "api_token.created",
        actor,
        payload={"token_id": row.id, "name": name, "prefix": row.prefix},
        at=now,
    )
    return row, token


def revoke(session: Session, name: str, *, actor: Actor, now: datetime | None = None) -> ApiToken:
    now = now or utcnow()
    row = session.scalars(select(ApiToken).where(ApiToken.name == (name or "").strip())).first()
    if row is None:
        raise ApiTokenError(_l("No token named %(name)s.", name=name))
    if row.revoked_at is not None:
        raise ApiTokenError(_l("The token %(name)s was already revoked.", name=name))
    row.revoked_at = now
    session.add(row)
    audit.record(
        session,
        "api_token.revoked",
        actor,
        payload={"token_id": row.id, "name": row.name},
        at=now,
    )
    return row


def authenticate(
    session: Session,
    presented: str | None,
    now: datetime | None = None,
    *,
    record_use: bool = True,
) -> ApiToken | None:
    """The live token row for a presented bearer token, or None.

    With ``record_use`` (the API passes it for calls that change something, never for reads)
    ``last_used_at`` is brought up to date, at most once a minute.
    """
    now = now or utcnow()
    if not presented or len(presented) > 200 or not presented.startswith(TOKEN_PREFIX):
        return None
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(presented))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    if record_use and (row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION):
        row.last_used_at = now
        session.add(row)
    return row


def listing(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))
