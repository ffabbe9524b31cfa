"""Helpers for the tests of executing the rights: demo systems on either backend, requests."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dsr.audit import Actor
from dsr.crypto import encrypt
from dsr.demodata import SYSTEMS, demo_seed
from dsr.demodata.build import build_system
from dsr.models import AssuranceLevel, AuditEvent, Request, RequestStatus, Right
from dsr.profiles import Profile, load_profile
from dsr.sources.locate import PNR_CRYPTO_LABEL
from tests.support import new_request

#: The day the demo systems are built for; tests freeze the clock here.
TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
#: Enough people for every table to have rows; few enough to build in a blink.
PEOPLE = 150
ASTRID = "astrid.lindqvist@example.com"
ASTRID_PNR = "196408233234"
HANDLER = Actor.system("test-handler")


def demo_profile(key: str, backend: str, databases: Any, tmp_path: Path) -> Profile:
    """The profile ``key`` with fresh demo systems built on ``backend``."""
    profile = load_profile(key)
    sources = []
    for source in profile.sources:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'{key}-{source.name}.sqlite3'}"
        else:
            url = databases.empty(key.replace("-", "_"))
        engine = create_engine(url, poolclass=NullPool)
        build_system(
            engine,
            SYSTEMS[key][source.name],
            people=PEOPLE,
            seed=demo_seed(key, source.name),
            today=TODAY,
        )
        engine.dispose()
        sources.append(dataclasses.replace(source, url=url))
    return dataclasses.replace(profile, sources=tuple(sources))


@contextlib.contextmanager
def profile_in(app: Flask, profile: Profile) -> Iterator[Profile]:
    """Make ``profile`` the app's profile for the duration."""
    before = app.extensions.get("dsr.profile")
    app.extensions["dsr.profile"] = profile
    try:
        yield profile
    finally:
        if before is None:
            app.extensions.pop("dsr.profile", None)
        else:
            app.extensions["dsr.profile"] = before


def subject_request(session: Any, right: Right, **fields: Any) -> Request:
    """A verified request from Astrid (email confirmed) unless told otherwise."""
    pnr = fields.pop("personnummer", None)
    if pnr:
        fields["subject_pnr_encrypted"] = encrypt(pnr, PNR_CRYPTO_LABEL)
        fields.setdefault("subject_pnr_masked", f"{pnr[:8]}-****")
    fields.setdefault("subject_email", ASTRID)
    fields.setdefault("subject_name", "Astrid Lindqvist")
    fields.setdefault("status", RequestStatus.verified)
    fields.setdefault("assurance", AssuranceLevel.email_verified)
    fields.setdefault("details", {})
    fields.setdefault("received_at", NOW)
    return new_request(session, right=right, **fields)


def rows(profile: Profile, source: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Query a demo source directly, the way a person checking it would."""
    url = profile.source(source).url
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def actions(session: Any, request: Request) -> list[str]:
    from sqlmodel import col, select

    return [
        e.action
        for e in session.exec(
            select(AuditEvent)
            .where(AuditEvent.request_id == request.id)
            .order_by(col(AuditEvent.seq))
        )
    ]
