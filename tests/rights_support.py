"""Helpers for the tests of executing the rights: demo systems on either backend, requests."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dsr.audit import Actor
from dsr.crypto import encrypt, keyed_hash
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
        fields.setdefault("subject_pnr_hmac", keyed_hash(pnr, "pnr"))
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


# --- a small shop with dates chosen for the retention rules ------------------------------------

SHOP_PROFILE = """
notify_instructions = "Tell {recipient} what changed."

[controller]
name = "Butiken AB"
privacy_email = "privacy@butiken.example"

[categories]
contact = "Contact details"
orders = "Orders"
payment = "Payments"
technical = "Logins"
support = "Support"
marketing = "Newsletter"

[[purposes]]
key = "service"
description = "Sell and deliver"
basis = "contract"
categories = ["contact", "orders", "payment", "support"]
retention = "While a customer"

[[purposes]]
key = "bookkeeping"
description = "Bookkeeping"
basis = "legal_obligation"
categories = ["orders", "payment"]
retention = "Seven years after the financial year"

[[purposes]]
key = "security"
description = "Keep accounts safe"
basis = "legitimate_interests"
interest = "Stopping break-ins"
categories = ["technical"]
retention = "A year"

[[purposes]]
key = "newsletter"
description = "Newsletter"
basis = "consent"
direct_marketing = true
categories = ["contact", "marketing"]
retention = "Until withdrawn"

[[recipients]]
name = "Betal AB"
kind = "processor"
service = "Payments"
countries = ["SE"]
categories = ["payment"]
privacy_email = "dpo@betal.example"

[[recipients]]
name = "Frakt AB"
kind = "controller"
service = "Deliveries"
countries = ["SE"]
categories = ["contact"]

[[sources]]
name = "shop"
label = "Shop database"
url = "@URL@"

[[sources.tables]]
name = "customers"
label = "Customers"
subject = true
identity = { email = "email", phone = "phone", customer_id = "number" }
purpose = "service"
provided_by_subject = true
erasure = "anonymize"
restriction_column = "restricted_at"
marketing_consent_column = "newsletter"
rectifiable = ["name", "phone", "email"]
[sources.tables.columns]
number = { category = "contact", provided = false, anonymize = "keep" }
name = { category = "contact", anonymize = "redact" }
email = { category = "contact", anonymize = "placeholder_email" }
phone = { category = "contact", anonymize = "null" }
newsletter = { category = "marketing", purpose = "newsletter", anonymize = "null" }

[[sources.tables]]
name = "orders"
label = "Orders"
link = { customer_id = "customers.id" }
purpose = "bookkeeping"
erasure = "retain"
retain = { basis = "Bokföringslagen (1999:1078) 7 kap. 2 §", exception = "17(3)(b)", years = 7, from = "ordered_on" }
columns = { ordered_on = "orders", total = "orders" }

[[sources.tables]]
name = "payments"
label = "Payments"
link = { order_id = "orders.id" }
purpose = "bookkeeping"
erasure = "retain"
retain = { basis = "Bokföringslagen (1999:1078) 7 kap. 2 §", exception = "17(3)(b)", years = 7, from = "paid_on" }
columns = { paid_on = "payment", amount = "payment" }

[[sources.tables]]
name = "logins"
label = "Logins"
link = { customer_id = "customers.id" }
purpose = "security"
provided_by_subject = true
erasure = "delete"
columns = { at = "technical", ip = "technical" }

[[sources.tables]]
name = "tickets"
label = "Tickets"
link = { customer_id = "customers.id" }
identity = { email = "email" }
purpose = "service"
provided_by_subject = true
erasure = "delete"
restriction_column = "restricted_at"
rectifiable = ["email"]
columns = { email = "contact", subject = "support" }

[[sources.tables]]
name = "messages"
label = "Ticket messages"
link = { ticket_id = "tickets.id" }
purpose = "service"
provided_by_subject = true
erasure = "delete"
columns = { body = "support" }

[[sources.tables]]
name = "newsletter"
label = "Newsletter list"
identity = { email = "address" }
purpose = "newsletter"
provided_by_subject = true
erasure = "delete"
marketing_consent_column = "subscribed"
columns = { address = "contact", subscribed = "marketing" }
"""


def build_shop(url: str, *, logins: int = 3) -> None:
    """Astrid (customer 1) and Bertil (customer 2), with dates that test the retention rules.

    Astrid's order 10 (2025) and its payment 100 (paid 2025-05-01) are kept until
    2032-12-31. Order 11 (2018) is past its period, but its payment 101 (paid 2019-01-03)
    is kept until 2026-12-31, and keeps the order with it. Order 12 and payment 102 (2017)
    are past their period: deleted.
    """
    from sqlalchemy import (
        Boolean,
        Column,
        Date,
        DateTime,
        ForeignKey,
        Integer,
        MetaData,
        Numeric,
        String,
        Table,
        insert,
    )

    metadata = MetaData()
    customers = Table(
        "customers",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("number", String(12)),
        Column("name", String(100)),
        Column("email", String(254)),
        Column("phone", String(20)),
        Column("newsletter", Boolean),
        Column("restricted_at", DateTime),
    )
    orders = Table(
        "orders",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", ForeignKey("customers.id")),
        Column("ordered_on", Date),
        Column("total", Numeric(10, 2)),
    )
    payments = Table(
        "payments",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("order_id", ForeignKey("orders.id")),
        Column("paid_on", Date),
        Column("amount", Numeric(10, 2)),
    )
    login_table = Table(
        "logins",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", ForeignKey("customers.id")),
        Column("at", DateTime),
        Column("ip", String(45)),
    )
    tickets = Table(
        "tickets",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", ForeignKey("customers.id"), nullable=True),
        Column("email", String(254)),
        Column("subject", String(200)),
        Column("restricted_at", DateTime),
    )
    messages = Table(
        "messages",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("ticket_id", ForeignKey("tickets.id")),
        Column("body", String(500)),
    )
    newsletter = Table(
        "newsletter",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("address", String(254)),
        Column("subscribed", Boolean),
    )
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(
            insert(customers),
            [
                dict(
                    id=1,
                    number="K-1",
                    name="Astrid Lindqvist",
                    email="Astrid.Lindqvist@example.com",
                    phone="070-174 06 05",
                    newsletter=True,
                ),
                dict(
                    id=2,
                    number="K-2",
                    name="Bertil Ek",
                    email="bertil@example.net",
                    phone="070-111 22 33",
                    newsletter=True,
                ),
            ],
        )
        conn.execute(
            insert(orders),
            [
                dict(id=10, customer_id=1, ordered_on=date(2025, 4, 28), total=499),
                dict(id=11, customer_id=1, ordered_on=date(2018, 12, 28), total=250),
                dict(id=12, customer_id=1, ordered_on=date(2017, 3, 1), total=99),
                dict(id=20, customer_id=2, ordered_on=date(2024, 1, 2), total=99),
            ],
        )
        conn.execute(
            insert(payments),
            [
                dict(id=100, order_id=10, paid_on=date(2025, 5, 1), amount=499),
                dict(id=101, order_id=11, paid_on=date(2019, 1, 3), amount=250),
                dict(id=102, order_id=12, paid_on=date(2017, 3, 2), amount=99),
                dict(id=200, order_id=20, paid_on=date(2024, 1, 3), amount=99),
            ],
        )
        rows = [
            dict(id=n + 1, customer_id=1, at=datetime(2026, 1, 1), ip=f"192.0.2.{n % 250 + 1}")
            for n in range(logins)
        ]
        rows.append(dict(id=logins + 1, customer_id=2, at=datetime(2026, 2, 2), ip="198.51.100.7"))
        for start in range(0, len(rows), 1000):
            conn.execute(insert(login_table), rows[start : start + 1000])
        conn.execute(
            insert(tickets),
            [
                dict(
                    id=1, customer_id=1, email="astrid.lindqvist@example.com", subject="Wrong size"
                ),
                dict(
                    id=2,
                    customer_id=None,
                    email="astrid.lindqvist@example.com",
                    subject="Before I had an account",
                ),
                dict(id=3, customer_id=2, email="bertil@example.net", subject="Late parcel"),
            ],
        )
        conn.execute(
            insert(messages),
            [
                dict(id=1, ticket_id=1, body="Can I swap it?"),
                dict(id=2, ticket_id=1, body="Yes, send it back."),
                dict(id=3, ticket_id=2, body="Hello?"),
                dict(id=4, ticket_id=3, body="Where is it?"),
            ],
        )
        conn.execute(
            insert(newsletter),
            [
                dict(id=1, address="astrid.lindqvist@example.com", subscribed=True),
                dict(id=2, address="bertil@example.net", subscribed=True),
            ],
        )
    engine.dispose()


def shop_profile(url: str) -> Profile:
    import tomllib

    from dsr.profiles import parse_profile

    return parse_profile(tomllib.loads(SHOP_PROFILE.replace("@URL@", url)), key="shop")


def source_url(backend: str, databases: Any, tmp_path: Path, label: str = "shop") -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{label}.sqlite3'}"
    return databases.empty(label)


@pytest.fixture
def english(db: Any) -> Iterator[None]:
    """Messages in English for the test (the service speaks Swedish by default)."""
    with force_locale("en"):
        yield
