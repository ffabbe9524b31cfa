"""A controller's customer database for the subject workloads, and the profile that maps it.

A web shop: ``customers`` (one row a person) and five tables reached from the person —
``orders`` and their ``order_lines`` (kept under Bokföringslagen for seven years after the
financial year, then anonymized or deleted), ``support_tickets`` (reached by link and by
email), ``newsletter_consents`` and ``logins`` (deleted). The customers themselves are
anonymized. Indexes are the ones such a shop has: the keys, every link column, the
customer number, personnummer and phone, and ``lower(email)`` where people are looked up by
address (the service compares emails case-insensitively).

Everyone is made up from their id by fixed formulas, so the same size gives the same data
on either backend: on PostgreSQL in set-based ``INSERT … SELECT FROM generate_series``, on
SQLite in Python rows inserted by ``executemany`` in large batches. A *subject* is one more
customer with an exact number of records across the five tables
(:func:`add_subject`); workloads add as many as they need (a fresh one for each erasure).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    create_engine,
    func,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from bench.harness import Context, log

FIRST_NAMES = (
    "Anna", "Erik", "Maria", "Lars", "Karin", "Anders", "Eva", "Johan", "Sara", "Per",
    "Kristina", "Mikael", "Lena", "Nils", "Åsa", "Olof", "Ingrid", "Björn", "Elin", "Göran",
)  # fmt: skip
LAST_NAMES = (
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
    "Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Lindqvist", "Lindström",
    "Berg", "Åkesson", "Holm", "Sjöberg", "Ek", "Wallin",
)  # fmt: skip
STREETS = (
    "Storgatan", "Kyrkogatan", "Skolgatan", "Drottninggatan", "Ringvägen", "Sveavägen",
    "Parkvägen", "Järnvägsgatan", "Östra Hamngatan", "Björkvägen",
)  # fmt: skip
CITIES = (
    "Stockholm", "Göteborg", "Malmö", "Uppsala", "Västerås", "Örebro", "Linköping",
    "Helsingborg", "Umeå", "Luleå",
)  # fmt: skip
DOMAINS = ("example.com", "example.se", "example.net", "example.org")
PRODUCTS = (
    ("Regnjacka", 899), ("Ullstrumpor 3-pack", 249), ("Termos 0,7 l", 329),
    ("Vandringskängor", 1795), ("Pannlampa", 449), ("Sittunderlag", 129),
    ("Ryggsäck 30 l", 1195), ("Mössa", 199),
)  # fmt: skip
STATUSES = ("levererad", "levererad", "levererad", "returnerad", "skickad")
SUBJECTS = (
    "Fel storlek, vill byta", "Paketet har inte kommit", "Reklamation: trasig dragkedja",
    "Fråga om leveranstid", "Dubbeldebitering",
)  # fmt: skip
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile",
)
#: Days back the shop's history reaches: twelve years, so that some orders are past the
#: seven years Bokföringslagen keeps them and some are not.
HISTORY_DAYS = 4380
#: Shares of a subject's records per table (they add up to 1).
SHARES = (
    ("orders", 0.15),
    ("order_lines", 0.40),
    ("support_tickets", 0.05),
    ("newsletter_consents", 0.05),
    ("logins", 0.35),
)
#: Every subject's records are made from this number rather than its id: subjects of the
#: same size are alike to the day, so an erasure and its baseline change the same rows.
SUBJECT_SEED = 4711
TABLES = ("customers", "orders", "order_lines", "support_tickets", "newsletter_consents", "logins")

metadata = MetaData()
customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_number", String(12), nullable=False, unique=True),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("personnummer", String(13), index=True),
    Column("email", String(254), nullable=False),
    Column("phone", String(20), index=True),
    Column("street", String(100)),
    Column("postcode", String(6)),
    Column("city", String(60)),
    Column("created_at", DateTime, nullable=False),
    Column("last_login_at", DateTime),
    Column("newsletter", Boolean),
    Column("restricted_at", DateTime),
    Column("password_hash", String(100)),
)
Index("customers_email_lower", func.lower(customers.c.email), unique=True)
orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", ForeignKey("customers.id"), nullable=False, index=True),
    Column("order_number", String(12), nullable=False),
    Column("ordered_at", DateTime, nullable=False),
    Column("status", String(20), nullable=False),
    Column("total_sek", Numeric(10, 2), nullable=False),
    Column("delivery_name", String(200)),
    Column("delivery_street", String(100)),
    Column("delivery_postcode", String(6)),
    Column("delivery_city", String(60)),
)
order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("order_id", ForeignKey("orders.id"), nullable=False, index=True),
    Column("product", String(100), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_sek", Numeric(10, 2), nullable=False),
    Column("ordered_at", DateTime, nullable=False),
)
support_tickets = Table(
    "support_tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", ForeignKey("customers.id"), index=True),
    Column("email", String(254), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("opened_at", DateTime, nullable=False),
    Column("closed_at", DateTime),
    Column("restricted_at", DateTime),
)
Index("support_tickets_email_lower", func.lower(support_tickets.c.email))
newsletter_consents = Table(
    "newsletter_consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", ForeignKey("customers.id"), nullable=False, index=True),
    Column("list", String(40), nullable=False),
    Column("consent_given", Boolean, nullable=False),
    Column("given_at", DateTime, nullable=False),
    Column("withdrawn_at", DateTime),
    Column("channel", String(20), nullable=False),
)
logins = Table(
    "logins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", ForeignKey("customers.id"), nullable=False, index=True),
    Column("logged_in_at", DateTime, nullable=False),
    Column("ip_address", String(45), nullable=False),
    Column("user_agent", String(200), nullable=False),
)

PROFILE = """
data_obtained_from = "Allt får vi från dig eller när du använder butiken."
notify_instructions = "Meddela {recipient} skriftligen vad som ändrats."

[controller]
name = "Mätbutiken AB"
organisation_number = "556000-0001"
address = "Exempelgatan 1, 111 22 Stockholm"
privacy_email = "privacy@matbutiken.example"

[categories]
identity = "Identitetsuppgifter: personnummer och kundnummer"
contact = "Kontaktuppgifter: namn, e-postadress, telefonnummer och adress"
account = "Kontouppgifter: när kontot skapades och användes"
orders = "Köpuppgifter: beställningar, varor, leveransadress"
support = "Ärenden till kundtjänst"
technical = "Tekniska uppgifter: IP-adress, webbläsare, inloggningstider"
marketing = "Val om nyhetsbrev och när de gjordes"

[[purposes]]
key = "account"
description = "Skapa och sköta ditt kundkonto"
basis = "contract"
categories = ["identity", "contact", "account"]
retention = "Så länge du har ett konto hos oss."

[[purposes]]
key = "purchase"
description = "Ta emot, leverera och ta betalt för dina beställningar"
basis = "contract"
categories = ["contact", "orders"]
retention = "Under köpet; därefter enligt bokföringslagen."

[[purposes]]
key = "bookkeeping"
description = "Bokföra försäljning"
basis = "legal_obligation"
categories = ["orders"]
retention = "Till och med det sjunde året efter räkenskapsåret (bokföringslagen 7 kap. 2 §)."

[[purposes]]
key = "support"
description = "Svara på frågor och hantera reklamationer"
basis = "legitimate_interests"
interest = "Att kunna hjälpa dig"
categories = ["contact", "support"]
retention = "Två år efter att ärendet stängts."

[[purposes]]
key = "security"
description = "Skydda konton mot intrång"
basis = "legitimate_interests"
interest = "Att upptäcka obehöriga inloggningar"
categories = ["technical"]
retention = "Tolv månader."

[[purposes]]
key = "newsletter"
description = "Skicka nyhetsbrev"
basis = "consent"
direct_marketing = true
categories = ["contact", "marketing"]
retention = "Tills du återkallar ditt samtycke."

[[recipients]]
name = "Exempel Frakt AB"
kind = "controller"
service = "Leverans av paket"
countries = ["SE"]
categories = ["contact", "orders"]

[[sources]]
name = "kunddb"
label = "Butikens kunddatabas"
url = "@URL@"

[[sources.tables]]
name = "customers"
label = "Kunder"
subject = true
identity = { email = "email", personnummer = "personnummer", phone = "phone", customer_id = "customer_number" }
purpose = "account"
provided_by_subject = true
erasure = "anonymize"
ignore = ["password_hash"]
restriction_column = "restricted_at"
marketing_consent_column = "newsletter"
rectifiable = ["first_name", "last_name", "email", "phone", "street", "postcode", "city"]
[sources.tables.columns]
customer_number = { category = "identity", provided = false, anonymize = "placeholder" }
first_name = { category = "contact", anonymize = "redact" }
last_name = { category = "contact", anonymize = "redact" }
personnummer = { category = "identity", anonymize = "null" }
email = { category = "contact", anonymize = "placeholder_email" }
phone = { category = "contact", anonymize = "null" }
street = { category = "contact", anonymize = "null" }
postcode = { category = "contact", anonymize = "null" }
city = { category = "contact", anonymize = "null" }
created_at = { category = "account", provided = false, anonymize = "year" }
last_login_at = { category = "account", provided = false, anonymize = "null" }
newsletter = { category = "marketing", purpose = "newsletter", anonymize = "null" }

[[sources.tables]]
name = "orders"
label = "Beställningar"
link = { customer_id = "customers.id" }
purpose = "purchase"
provided_by_subject = true
erasure = "retain"
retain = { basis = "Bokföringslagen (1999:1078) 7 kap. 2 §", exception = "17(3)(b)", years = 7, from = "ordered_at", then = "anonymize" }
rectifiable = ["delivery_name", "delivery_street", "delivery_postcode", "delivery_city"]
[sources.tables.columns]
order_number = { category = "orders", provided = false, anonymize = "keep" }
ordered_at = { category = "orders", anonymize = "keep" }
status = { category = "orders", provided = false, anonymize = "keep" }
total_sek = { category = "orders", anonymize = "keep" }
delivery_name = { category = "contact", anonymize = "redact" }
delivery_street = { category = "contact", anonymize = "null" }
delivery_postcode = { category = "contact", anonymize = "null" }
delivery_city = { category = "contact", anonymize = "null" }

[[sources.tables]]
name = "order_lines"
label = "Orderrader"
link = { order_id = "orders.id" }
purpose = "bookkeeping"
erasure = "retain"
retain = { basis = "Bokföringslagen (1999:1078) 7 kap. 2 §", exception = "17(3)(b)", years = 7, from = "ordered_at" }
columns = { product = "orders", quantity = "orders", unit_price_sek = "orders", ordered_at = "orders" }

[[sources.tables]]
name = "support_tickets"
label = "Kundtjänstärenden"
link = { customer_id = "customers.id" }
identity = { email = "email" }
purpose = "support"
provided_by_subject = true
erasure = "delete"
restriction_column = "restricted_at"
[sources.tables.columns]
email = "contact"
subject = "support"
body = "support"
opened_at = { category = "support", provided = false }
closed_at = { category = "support", provided = false }

[[sources.tables]]
name = "newsletter_consents"
label = "Samtycken till nyhetsbrev"
link = { customer_id = "customers.id" }
purpose = "newsletter"
provided_by_subject = true
erasure = "delete"
marketing_consent_column = "consent_given"
columns = { list = "marketing", consent_given = "marketing", given_at = "marketing", withdrawn_at = "marketing", channel = "marketing" }

[[sources.tables]]
name = "logins"
label = "Inloggningar"
link = { customer_id = "customers.id" }
purpose = "security"
erasure = "delete"
columns = { logged_in_at = "technical", ip_address = "technical", user_agent = "technical" }
"""


@dataclass(frozen=True)
class Subject:
    """One customer whose records a workload reads or erases."""

    label: str
    customer_id: int
    name: str
    email: str
    #: Records per table, the customer row not counted.
    records: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.records.values())


@dataclass
class CustomerDatabase:
    url: str
    profile_path: Path
    people: int
    backend: str
    subjects: dict[str, Subject]

    def engine(self) -> Engine:
        return create_engine(self.url, poolclass=NullPool)


# --- everyone else: one set of formulas, in SQL for PostgreSQL and in Python for SQLite --------


def _ascii(name: str) -> str:
    return name.lower().translate(str.maketrans("åäöé", "aaoe")).replace(" ", "")


def _luhn_digit(nine: str) -> int:
    total = 0
    for index, char in enumerate(nine):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def _person(n: int, today: datetime) -> dict[str, Any]:
    first = FIRST_NAMES[n % len(FIRST_NAMES)]
    last = LAST_NAMES[(n // len(FIRST_NAMES)) % len(LAST_NAMES)]
    born = datetime(1940, 1, 1) + timedelta(days=(n * 7919) % 25000)
    # Unique for the first 25 million people: the day from n mod 25,000, the serial from the rest.
    nine = born.strftime("%y%m%d") + f"{(n // 25000) % 1000:03d}"
    pnr = f"{born:%Y%m%d}-{nine[6:]}{_luhn_digit(nine)}"
    return {
        "id": n,
        "customer_number": f"K{n:08d}",
        "first_name": first,
        "last_name": last,
        "personnummer": pnr if n % 5 < 3 else None,
        "email": f"{_ascii(first)}.{_ascii(last)}{n}@{DOMAINS[n % len(DOMAINS)]}",
        "phone": f"070-{(n * 37) % 10_000_000:07d}",
        "street": f"{STREETS[n % len(STREETS)]} {1 + n % 60}",
        "postcode": f"{100 + n % 880} {n % 100:02d}",
        "city": CITIES[(n // 7) % len(CITIES)],
        "created_at": today - timedelta(days=HISTORY_DAYS - (n * 13) % 400),
        "last_login_at": today - timedelta(days=n % 90, minutes=n % 1440),
        "newsletter": n % 3 == 0,
        "restricted_at": None,
        "password_hash": f"argon2id$v=19${(n * 2654435761) % 2**32:08x}",
    }


def _order(
    oid: int, person: dict[str, Any], k: int, today: datetime, seed: int | None = None
) -> dict[str, Any]:
    n = person["id"] if seed is None else seed
    return {
        "id": oid,
        "customer_id": person["id"],
        "order_number": f"O-{oid:09d}",
        "ordered_at": today
        - timedelta(days=(n * 31 + k * 97) % HISTORY_DAYS, minutes=(n + k) % 1440),
        "status": STATUSES[(n + k) % len(STATUSES)],
        "total_sek": round(99 + ((n * 7919 + k * 104729) % 450000) / 100, 2),
        "delivery_name": f"{person['first_name']} {person['last_name']}",
        "delivery_street": person["street"],
        "delivery_postcode": person["postcode"],
        "delivery_city": person["city"],
    }


def _line(lid: int, order: dict[str, Any], k: int) -> dict[str, Any]:
    product, price = PRODUCTS[(order["id"] * 7 + k) % len(PRODUCTS)]
    return {
        "id": lid,
        "order_id": order["id"],
        "product": product,
        "quantity": 1 + (order["id"] + k) % 3,
        "unit_price_sek": price,
        "ordered_at": order["ordered_at"],
    }


def _ticket(
    tid: int, person: dict[str, Any], k: int, today: datetime, seed: int | None = None
) -> dict[str, Any]:
    n = person["id"] if seed is None else seed
    opened = today - timedelta(days=(n * 17 + k * 11) % 1500, minutes=(n * 3 + k) % 1440)
    subject = SUBJECTS[(n + k) % len(SUBJECTS)]
    return {
        "id": tid,
        "customer_id": person["id"],
        "email": person["email"],
        "subject": subject,
        "body": f"Hej! {subject}. Ordernummer finns i mitt konto. Mvh {person['first_name']}",
        "opened_at": opened,
        "closed_at": opened + timedelta(days=1 + k % 9) if (n + k) % 7 else None,
        "restricted_at": None,
    }


def _consent(
    cid: int, person: dict[str, Any], k: int, today: datetime, seed: int | None = None
) -> dict[str, Any]:
    n = person["id"] if seed is None else seed
    given = today - timedelta(days=(n * 23 + k * 5) % 3000)
    withdrawn = (n + k) % 4 == 0
    return {
        "id": cid,
        "customer_id": person["id"],
        "list": ("nyhetsbrev", "erbjudanden", "tävlingar")[k % 3],
        "consent_given": not withdrawn,
        "given_at": given,
        "withdrawn_at": given + timedelta(days=30 + k % 300) if withdrawn else None,
        "channel": ("webb", "kassa", "app")[(n + k) % 3],
    }


def _login(
    lid: int, person: dict[str, Any], k: int, today: datetime, seed: int | None = None
) -> dict[str, Any]:
    n = person["id"] if seed is None else seed
    return {
        "id": lid,
        "customer_id": person["id"],
        "logged_in_at": today - timedelta(days=(n + k * 29) % 365, minutes=(n * 7 + k) % 1440),
        "ip_address": f"{81 + n % 120}.{(n // 7 + k) % 256}.{(n * 3) % 256}.{1 + k % 254}",
        "user_agent": AGENTS[(n + k) % len(AGENTS)],
    }


# Per person, outside the subjects: orders 0-3, lines 1-3 an order, a ticket for one in five,
# consents for two in five, logins 0-6.
def _orders_of(n: int) -> int:
    return (n * 7919 + 3) % 4


def _lines_of(order_id: int) -> int:
    return 1 + order_id % 3


def _tickets_of(n: int) -> int:
    return 1 if n % 5 == 0 else 0


def _consents_of(n: int) -> int:
    return 1 if n % 5 in (1, 2) else 0


def _logins_of(n: int) -> int:
    return (n * 13) % 7


def _sql_array(values: Sequence[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"(ARRAY[{quoted}])"


def _pg_population(conn: Connection, people: int, today: datetime) -> None:
    """Everyone but the subjects, set-based, by the same formulas as :func:`_person` & co."""
    params = {"people": people, "today": today, "history": HISTORY_DAYS}
    first, last = _sql_array(FIRST_NAMES), _sql_array(LAST_NAMES)
    fold = "translate(lower({0}), 'åäöé ', 'aaoe')"
    # Luhn over the nine digits, weights 2-1 from the left.
    luhn = (
        "(SELECT (10 - sum(CASE WHEN i % 2 = 1 THEN (d * 2) / 10 + (d * 2) % 10 ELSE d END)"
        " % 10) % 10 FROM (SELECT i, substr(p.nine, i, 1)::int AS d"
        " FROM generate_series(1, 9) AS i) AS x)"
    )
    conn.execute(
        text(f"""
        INSERT INTO customers
        SELECT p.n, 'K' || lpad(p.n::text, 8, '0'), p.first_name, p.last_name,
            CASE WHEN p.n % 5 < 3 THEN to_char(p.born, 'YYYYMMDD') || '-'
                || substr(p.nine, 7, 3) || {luhn} END,
            {fold.format("p.first_name")} || '.' || {fold.format("p.last_name")} || p.n || '@'
                || {_sql_array(DOMAINS)}[1 + p.n % {len(DOMAINS)}],
            '070-' || lpad(((p.n::bigint * 37) % 10000000)::text, 7, '0'),
            {_sql_array(STREETS)}[1 + p.n % {len(STREETS)}] || ' ' || (1 + p.n % 60),
            (100 + p.n % 880) || ' ' || lpad((p.n % 100)::text, 2, '0'),
            {_sql_array(CITIES)}[1 + (p.n / 7) % {len(CITIES)}],
            :today - make_interval(days => (:history - (p.n * 13) % 400)::int),
            :today - make_interval(days => (p.n % 90)::int, mins => (p.n % 1440)::int),
            p.n % 3 = 0, NULL,
            'argon2id$v=19$' || lpad(to_hex((p.n::bigint * 2654435761) % 4294967296), 8, '0')
        FROM (
            SELECT n, {first}[1 + n % {len(FIRST_NAMES)}] AS first_name,
                {last}[1 + (n / {len(FIRST_NAMES)}) % {len(LAST_NAMES)}] AS last_name,
                date '1940-01-01' + ((n::bigint * 7919) % 25000)::int AS born,
                to_char(date '1940-01-01' + ((n::bigint * 7919) % 25000)::int, 'YYMMDD')
                    || lpad(((n / 25000) % 1000)::text, 3, '0') AS nine
            FROM generate_series(1, :people) AS n
        ) AS p
        """),
        params,
    )
    log(f"customer database: {people:,} customers")
    products = _sql_array([p for p, _ in PRODUCTS])
    prices = "(ARRAY[" + ", ".join(str(price) for _, price in PRODUCTS) + "])"
    conn.execute(
        text(f"""
        INSERT INTO orders
        SELECT row_number() OVER (), c.id,
            'O-' || lpad((row_number() OVER ())::text, 9, '0'),
            :today - make_interval(days => ((c.id * 31 + k * 97) % :history)::int, mins => ((c.id + k) % 1440)::int),
            {_sql_array(STATUSES)}[1 + (c.id + k) % {len(STATUSES)}],
            99 + ((c.id::bigint * 7919 + k * 104729) % 450000) / 100.0,
            c.first_name || ' ' || c.last_name, c.street, c.postcode, c.city
        FROM customers AS c
        CROSS JOIN LATERAL generate_series(1, (c.id::bigint * 7919 + 3) % 4) AS k
        """),
        params,
    )
    conn.execute(
        text(f"""
        INSERT INTO order_lines
        SELECT row_number() OVER (), o.id,
            {products}[1 + (o.id * 7 + k) % {len(PRODUCTS)}],
            1 + (o.id + k) % 3,
            {prices}[1 + (o.id * 7 + k) % {len(PRODUCTS)}],
            o.ordered_at
        FROM orders AS o CROSS JOIN LATERAL generate_series(1, 1 + o.id % 3) AS k
        """)
    )
    subjects = _sql_array(SUBJECTS)
    conn.execute(
        text(f"""
        INSERT INTO support_tickets
        SELECT row_number() OVER (), c.id, c.email, t.subject,
            'Hej! ' || t.subject || '. Ordernummer finns i mitt konto. Mvh ' || c.first_name,
            t.opened,
            CASE WHEN (c.id + 1) % 7 <> 0 THEN t.opened + make_interval(days => (2)::int) END,
            NULL
        FROM customers AS c
        CROSS JOIN LATERAL (
            SELECT {subjects}[1 + (c.id + 1) % {len(SUBJECTS)}] AS subject,
                :today - make_interval(days => ((c.id * 17 + 11) % 1500)::int, mins => ((c.id * 3 + 1) % 1440)::int) AS opened
        ) AS t
        WHERE c.id % 5 = 0
        """),
        params,
    )
    conn.execute(
        text("""
        INSERT INTO newsletter_consents
        SELECT row_number() OVER (), c.id,
            (ARRAY['nyhetsbrev', 'erbjudanden', 'tävlingar'])[1 + c.id % 3],
            (c.id + 1) % 4 <> 0,
            :today - make_interval(days => ((c.id * 23 + 5) % 3000)::int),
            CASE WHEN (c.id + 1) % 4 = 0
                THEN :today - make_interval(days => ((c.id * 23 + 5) % 3000 - 31)::int) END,
            (ARRAY['webb', 'kassa', 'app'])[1 + (c.id + 1) % 3]
        FROM customers AS c WHERE c.id % 5 IN (1, 2)
        """),
        params,
    )
    agents = _sql_array(AGENTS)
    conn.execute(
        text(f"""
        INSERT INTO logins
        SELECT row_number() OVER (), c.id,
            :today - make_interval(days => ((c.id + k * 29) % 365)::int, mins => ((c.id * 7 + k) % 1440)::int),
            (81 + c.id % 120) || '.' || ((c.id / 7 + k) % 256) || '.' || ((c.id * 3) % 256)
                || '.' || (1 + k % 254),
            {agents}[1 + (c.id + k) % {len(AGENTS)}]
        FROM customers AS c CROSS JOIN LATERAL generate_series(1, (c.id * 13) % 7) AS k
        """),
        params,
    )


def _python_population(people: int, today: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
    """The same people and records as :func:`_pg_population`, as rows (for SQLite)."""
    ids = dict.fromkeys(TABLES[1:], 0)

    def next_id(table: str) -> int:
        ids[table] += 1
        return ids[table]

    persons = [_person(n, today) for n in range(1, people + 1)]
    for person in persons:
        yield "customers", person
    # Child tables in the order the SQL numbers them: by parent, then k.
    made_orders = []
    for person in persons:
        for k in range(1, _orders_of(person["id"]) + 1):
            order = _order(next_id("orders"), person, k, today)
            made_orders.append(order)
            yield "orders", order
    for order in made_orders:
        for k in range(1, _lines_of(order["id"]) + 1):
            yield "order_lines", _line(next_id("order_lines"), order, k)
    for person in persons:
        if _tickets_of(person["id"]):
            yield "support_tickets", _ticket(next_id("support_tickets"), person, 1, today)
        if _consents_of(person["id"]):
            yield "newsletter_consents", _consent(next_id("newsletter_consents"), person, 1, today)
        for k in range(1, _logins_of(person["id"]) + 1):
            yield "logins", _login(next_id("logins"), person, k, today)


def _insert_rows(conn: Connection, rows: Iterator[tuple[str, dict[str, Any]]]) -> int:
    """executemany in batches of 20,000 rows per table."""
    batch: dict[str, list[dict[str, Any]]] = {}
    count = 0

    def flush(name: str) -> None:
        # Parents first, so that every row's parent is in before it.
        for parent in TABLES[: TABLES.index(name) + 1]:
            if batch.get(parent):
                conn.execute(metadata.tables[parent].insert(), batch[parent])
                batch[parent] = []

    for name, row in rows:
        batch.setdefault(name, []).append(row)
        count += 1
        if len(batch[name]) >= 20_000:
            flush(name)
    flush(TABLES[-1])
    return count


# --- subjects --------------------------------------------------------------------------------


def subject_counts(records: int) -> dict[str, int]:
    """``records`` split over the five tables by :data:`SHARES` (at least one order)."""
    counts = {name: int(records * share) for name, share in SHARES}
    counts["orders"] = max(1, counts["orders"])
    counts["logins"] += records - sum(counts.values())
    return counts


def add_subject(db: CustomerDatabase, label: str, records: int) -> Subject:
    """One more customer with exactly ``records`` records across the five tables.

    The records spread over the shop's twelve years like everyone's, so an erasure meets
    orders still kept under Bokföringslagen and older ones past their period.
    """
    today = _today()
    counts = subject_counts(records)
    engine = db.engine()
    try:
        with engine.begin() as conn:
            base = {
                name: int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {name}")).scalar())
                for name in TABLES
            }
            n = base["customers"] + 1
            person = _person(n, today)
            person["first_name"], person["last_name"] = "Astrid", "Lindqvist"
            person["email"] = f"astrid.lindqvist.{label}@example.se"
            conn.execute(customers.insert(), [person])
            made = [
                _order(base["orders"] + i + 1, person, i * 7 + 1, today, SUBJECT_SEED)
                for i in range(counts["orders"])
            ]
            rows: list[tuple[str, dict[str, Any]]] = [("orders", o) for o in made]
            rows += [
                ("order_lines", _line(base["order_lines"] + i + 1, made[i % len(made)], i))
                for i in range(counts["order_lines"])
            ]
            rows += [
                (
                    "support_tickets",
                    _ticket(base["support_tickets"] + i + 1, person, i, today, SUBJECT_SEED),
                )
                for i in range(counts["support_tickets"])
            ]
            rows += [
                (
                    "newsletter_consents",
                    _consent(base["newsletter_consents"] + i + 1, person, i, today, SUBJECT_SEED),
                )
                for i in range(counts["newsletter_consents"])
            ]
            rows += [
                ("logins", _login(base["logins"] + i + 1, person, i, today, SUBJECT_SEED))
                for i in range(counts["logins"])
            ]
            _insert_rows(conn, iter(rows))
    finally:
        engine.dispose()
    subject = Subject(label, n, "Astrid Lindqvist", person["email"], counts)
    db.subjects[label] = subject
    return subject


def _today() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


# --- the database ----------------------------------------------------------------------------


def build(ctx: Context) -> CustomerDatabase:
    """The customer database of ``ctx.size.people`` people and its profile, built once per
    run and kept in ``ctx.shared``."""
    existing = ctx.shared.get("customer_db")
    if existing is not None:
        return existing
    started = time.perf_counter()
    url = ctx.empty_database("customers")
    people = ctx.size.people
    today = _today()
    engine = create_engine(url, poolclass=NullPool)
    try:
        if ctx.backend == "postgresql":
            # Tables first, indexes and foreign keys after the rows, as a bulk load does.
            with engine.begin() as conn:
                for table in metadata.sorted_tables:
                    conn.exec_driver_sql(_pg_table_without_constraints(table, conn))
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                _pg_population(conn, people, today)
            log("customer database: rows written, indexing")
            with engine.begin() as conn:
                _pg_constraints(conn)
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE"
                )
        else:
            with engine.begin() as conn:
                metadata.create_all(conn)
                _insert_rows(conn, _python_population(people, today))
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        with engine.connect() as conn:
            rows = {
                name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar())
                for name in TABLES
            }
    finally:
        engine.dispose()
    profile_path = ctx.workdir / "subject-profile.toml"
    profile_path.write_text(PROFILE.replace("@URL@", url), encoding="utf-8")
    db = CustomerDatabase(url, profile_path, people, ctx.backend, {})
    ctx.shared["customer_db"] = db
    ctx.shared["customer_db_rows"] = rows
    ctx.shared["customer_db_seconds"] = time.perf_counter() - started
    log(
        f"customer database: {sum(rows.values()):,} rows in "
        f"{time.perf_counter() - started:.0f} s ({', '.join(f'{k} {v:,}' for k, v in rows.items())})"
    )
    return db


def _pg_table_without_constraints(table: Table, conn: Connection) -> str:
    from sqlalchemy.schema import CreateColumn

    columns = ", ".join(str(CreateColumn(c).compile(dialect=conn.dialect)) for c in table.columns)
    return f"CREATE TABLE {table.name} ({columns})"


def _pg_constraints(conn: Connection) -> None:
    from sqlalchemy.schema import AddConstraint, CreateIndex

    for table in metadata.sorted_tables:
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD PRIMARY KEY (id)")
    for table in metadata.sorted_tables:
        for constraint in table.constraints:
            if constraint.__class__.__name__ in ("UniqueConstraint", "ForeignKeyConstraint"):
                conn.execute(AddConstraint(constraint))
        for index in table.indexes:
            conn.execute(CreateIndex(index))


def describe(db: CustomerDatabase, rows: dict[str, int] | None) -> str:
    counted = f" ({sum(rows.values()):,} rows)" if rows else ""
    return (
        f"A customer database of {db.people:,} people{counted}: customers plus orders, order "
        "lines, support tickets, newsletter consents and logins, with indexes on the keys, "
        "every link column, customer number, personnummer, phone and lower(email)."
    )
