"""Locating a subject in a customer database, on SQLite and PostgreSQL.

Each test gets a real, empty database of the backend under test, builds a small shop in it
(customers -> orders -> order lines -> refunds, plus tickets and a newsletter list) and a
profile whose data map points at it.
"""

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    insert,
    text,
)
from sqlalchemy.exc import InternalError, OperationalError
from sqlalchemy.pool import NullPool

from dsr.profiles import load_profile
from dsr.sources import sql
from dsr.sources.datamap import IdentityKind
from dsr.sources.identities import Identities, IdentityError, stored_forms
from dsr.sources.locate import check_sources, locate
from dsr.sources.results import ProblemKind

PROFILE = """
notify_instructions = "Tell {recipient}."

[controller]
name = "Butiken AB"
privacy_email = "privacy@butiken.example"

[categories]
contact = "Contact details"
identity = "Personnummer and customer number"
orders = "Orders"
support = "Support"
marketing = "Newsletter"

[[purposes]]
key = "service"
description = "Sell and deliver"
basis = "contract"
categories = ["contact", "identity", "orders", "support"]
retention = "While a customer"

[[purposes]]
key = "newsletter"
description = "Newsletter"
basis = "consent"
direct_marketing = true
categories = ["contact", "marketing"]
retention = "Until withdrawn"

[[manual_systems]]
name = "Paper archive"
description = "Binders"
[manual_systems.tasks]
locate = "Look in the binders."

[[sources]]
name = "shop"
url = "@URL@"

[[sources.tables]]
name = "customers"
subject = true
identity = { email = "email", personnummer = "pnr", phone = "phone", customer_id = "number" }
purpose = "service"
provided_by_subject = true
erasure = "delete"
restriction_column = "restricted_at"
[sources.tables.columns]
number = "identity"
name = "contact"
email = "contact"
pnr = "identity"
phone = "contact"

[[sources.tables]]
name = "orders"
link = { customer_id = "customers.id" }
purpose = "service"
erasure = "retain"
retain = { basis = "Bokföringslagen 7:2", exception = "17(3)(b)", years = 7, from = "ordered_on" }
columns = { ordered_on = "orders", total = "orders" }

[[sources.tables]]
name = "order_lines"
link = { order_id = "orders.id" }
purpose = "service"
erasure = "delete"
columns = { product = "orders" }

[[sources.tables]]
name = "refunds"
link = { line_id = "order_lines.id" }
purpose = "service"
erasure = "delete"
columns = { amount = "orders", reason = "orders" }

[[sources.tables]]
name = "tickets"
link = { customer_id = "customers.id" }
identity = { email = "email" }
purpose = "service"
erasure = "delete"
columns = { email = "contact", body = "support" }

[[sources.tables]]
name = "newsletter"
identity = { email = "address" }
purpose = "newsletter"
erasure = "delete"
marketing_consent_column = "subscribed"
columns = { address = "contact", subscribed = "marketing" }
"""

ASTRID = dict(number="K-1", name="Astrid Lindqvist", email="Astrid.Lindqvist@Example.com")
BERTIL = dict(number="K-2", name="Bertil Ek", email="bertil@example.net")


def build_shop(url: str, *, lines_for_astrid: int = 1) -> None:
    metadata = MetaData()
    customers = Table(
        "customers",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("number", String(10)),
        Column("name", String(100)),
        Column("email", String(100)),
        Column("pnr", String(13)),
        Column("phone", String(20)),
        Column("restricted_at", DateTime),
        Column("password_hash", String(100)),
    )
    orders = Table(
        "orders",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", ForeignKey("customers.id")),
        Column("ordered_on", Date),
        Column("total", Numeric(10, 2)),
    )
    lines = Table(
        "order_lines",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("order_id", ForeignKey("orders.id")),
        Column("product", String(100)),
    )
    refunds = Table(
        "refunds",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("line_id", ForeignKey("order_lines.id")),
        Column("amount", Numeric(10, 2)),
        Column("reason", String(100)),
    )
    tickets = Table(
        "tickets",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", ForeignKey("customers.id"), nullable=True),
        Column("email", String(100)),
        Column("body", String(200)),
    )
    newsletter = Table(
        "newsletter",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("address", String(100)),
        Column("subscribed", Integer),
    )
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(
            insert(customers),
            [
                dict(id=1, pnr="19640823-3234", phone="070-174 06 05", **ASTRID),
                dict(id=2, pnr="197010632391", phone="+46701740622", **BERTIL),
            ],
        )
        count = lines_for_astrid
        conn.execute(
            insert(orders),
            [
                dict(id=10, customer_id=1, ordered_on=date(2025, 5, 1), total=499),
                dict(id=11, customer_id=2, ordered_on=date(2024, 1, 2), total=99),
            ],
        )
        conn.execute(
            insert(lines),
            [dict(id=100 + i, order_id=10, product=f"Item {i}") for i in range(count)]
            + [dict(id=5000, order_id=11, product="Bertil's item")],
        )
        conn.execute(
            insert(refunds),
            [
                dict(id=1, line_id=100, amount=49, reason="Broken"),
                dict(id=2, line_id=5000, amount=9, reason="Late"),
            ]
            + [dict(id=10 + i, line_id=100 + i, amount=1, reason="Bulk") for i in range(1, count)],
        )
        conn.execute(
            insert(tickets),
            [
                dict(id=1, customer_id=1, email="astrid.lindqvist@example.com", body="Where?"),
                # Written before she had an account: reached by the email alone.
                dict(id=2, customer_id=None, email="ASTRID.LINDQVIST@EXAMPLE.COM", body="Hi"),
                dict(id=3, customer_id=2, email=BERTIL["email"], body="Refund?"),
            ],
        )
        conn.execute(
            insert(newsletter),
            [dict(id=1, address="astrid.lindqvist@example.com", subscribed=1)],
        )
    engine.dispose()


@pytest.fixture
def shop(databases, tmp_path):
    """A built shop database and a profile mapping it; returns (profile, url)."""
    url = databases.empty("shop")
    build_shop(url)
    return profile_for(tmp_path, url), url


def profile_for(tmp_path: Path, url: str, extra: str = ""):
    path = tmp_path / "shop.toml"
    path.write_text(PROFILE.replace("@URL@", url) + extra)
    return load_profile(str(path))


def execute(url: str, statement: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_records_are_found_across_links_of_several_hops(shop, tmp_path):
    profile, _ = shop
    result = locate(profile, Identities.of(email="astrid.lindqvist@example.com"), data_dir=tmp_path)
    source = result.source("shop")
    assert source.ok and not source.ambiguous
    counts = {t.name: len(t.records) for t in source.tables}
    assert counts == {
        "customers": 1,
        "orders": 1,
        "order_lines": 1,
        "refunds": 1,
        "tickets": 2,
        "newsletter": 1,
    }
    customer = source.table("customers").records[0]
    assert customer.value("name") == "Astrid Lindqvist"
    assert customer.matched_on == ("email",)
    assert {f.column: f.category for f in customer.fields}["pnr"] == "identity"
    refund = source.table("refunds").records[0]
    assert refund.value("reason") == "Broken"
    assert refund.matched_on == ("link:order_lines",)
    # Three hops away, and still known to be Astrid's.
    assert refund.people == frozenset({"customers:1"})
    order = source.table("orders").records[0]
    assert order.retain_until == date(2032, 12, 31)
    tickets = sorted(source.table("tickets").records, key=lambda r: r.key)
    assert tickets[0].matched_on == ("email", "link:customers")
    assert tickets[1].matched_on == ("email",)
    assert source.table("newsletter").records[0].marketing_consent == 1
    # Never read, and said so: the map does not describe it.
    assert source.table("customers").unmapped_columns == ("password_hash",)
    assert "password_hash" not in [f.column for f in customer.fields]
    assert [m.name for m in result.manual] == ["Paper archive"]


@pytest.mark.parametrize(
    "identity",
    [
        {"personnummer": "196408233234"},
        {"personnummer": "19640823-3234"},
        {"phone": "+46701740605"},
        {"phone": "0701740605"},
        {"customer_id": "K-1"},
    ],
)
def test_each_identity_finds_the_subject_in_the_form_the_database_keeps(shop, tmp_path, identity):
    profile, _ = shop
    result = locate(profile, Identities.of(**identity), data_dir=tmp_path)
    customers = result.source("shop").table("customers").records
    assert [c.value("number") for c in customers] == ["K-1"]
    assert len(result.source("shop").table("refunds").records) == 1


def test_a_subject_with_no_records_is_an_empty_answer(shop, tmp_path):
    profile, _ = shop
    result = locate(profile, Identities.of(email="nobody@example.org"), data_dir=tmp_path)
    assert result.ok
    assert result.record_count == 0
    assert [t.name for t in result.source("shop").tables] == [
        "customers",
        "orders",
        "order_lines",
        "refunds",
        "tickets",
        "newsletter",
    ]


def test_identities_of_two_different_people_are_flagged_not_merged(shop, tmp_path):
    profile, _ = shop
    # Astrid's email, Bertil's personnummer.
    identities = Identities.of(email="astrid.lindqvist@example.com", personnummer="19701063-2391")
    source = locate(profile, identities, data_dir=tmp_path).source("shop")
    assert source.ambiguous
    assert {(p.ref, p.matched_on) for p in source.people} == {
        ("customers:1", ("email",)),
        ("customers:2", ("personnummer",)),
    }
    # Every record says whose it is.
    refunds = {r.value("reason"): r.people for r in source.table("refunds").records}
    assert refunds == {"Broken": frozenset({"customers:1"}), "Late": frozenset({"customers:2"})}


def test_one_identity_shared_by_two_people_is_flagged(shop, tmp_path):
    profile, url = shop
    execute(url, "UPDATE customers SET phone = '+46701740605' WHERE id = 2")
    source = locate(profile, Identities.of(phone="070-174 06 05"), data_dir=tmp_path).source("shop")
    assert source.ambiguous
    assert sorted(p.ref for p in source.people) == ["customers:1", "customers:2"]


def test_many_linked_rows_are_all_followed(databases, tmp_path):
    url = databases.empty("bulk")
    build_shop(url, lines_for_astrid=sql.CHUNK * 2 + 7)
    profile = profile_for(tmp_path, url)
    source = locate(profile, Identities.of(customer_id="K-1"), data_dir=tmp_path).source("shop")
    assert len(source.table("order_lines").records) == sql.CHUNK * 2 + 7
    assert len(source.table("refunds").records) == sql.CHUNK * 2 + 7


def test_a_missing_table_is_an_error_of_the_source_and_the_rest_is_still_searched(shop, tmp_path):
    profile, url = shop
    execute(url, "DROP TABLE newsletter")
    result = locate(profile, Identities.of(email="astrid.lindqvist@example.com"), data_dir=tmp_path)
    source = result.source("shop")
    assert not source.ok and not result.ok
    problem = source.table("newsletter").problem
    assert problem.kind is ProblemKind.missing_table
    assert "newsletter" in problem.detail
    assert len(source.table("refunds").records) == 1


def test_a_missing_column_is_named_and_tables_linked_through_it_say_so(shop, tmp_path):
    profile, url = shop
    execute(url, "DROP TABLE refunds")
    execute(url, "CREATE TABLE refunds (id INTEGER PRIMARY KEY, line_id INTEGER, amount INTEGER)")
    broken = profile_for(
        tmp_path,
        url,
        """
[[sources.tables]]
name = "refund_notes"
link = { refund_id = "refunds.id" }
purpose = "service"
erasure = "delete"
columns = { note = "orders" }
""",
    )
    execute(url, "CREATE TABLE refund_notes (id INTEGER PRIMARY KEY, refund_id INTEGER, note TEXT)")
    source = locate(broken, Identities.of(customer_id="K-1"), data_dir=tmp_path).source("shop")
    refunds = source.table("refunds")
    assert refunds.problem.kind is ProblemKind.missing_columns
    assert refunds.problem.detail == "table refunds has no column reason"
    notes = source.table("refund_notes")
    assert notes.problem.kind is ProblemKind.link_broken
    assert not source.ok


def test_an_unreachable_database_is_an_error_never_an_empty_answer(backend, tmp_path):
    if backend == "postgresql":
        url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    else:
        url = "sqlite:///{data_dir}/missing.sqlite3"
    profile = profile_for(tmp_path, url)
    result = locate(profile, Identities.of(email="astrid.lindqvist@example.com"), data_dir=tmp_path)
    source = result.source("shop")
    assert not result.ok
    assert source.problem.kind is ProblemKind.unreachable
    assert source.tables == [] and source.record_count == 0
    # Searching must not create the database it could not find.
    assert not (tmp_path / "missing.sqlite3").exists()


def test_a_missing_environment_variable_in_the_url_is_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("DSR_TEST_SHOP_URL", raising=False)
    profile = profile_for(tmp_path, "{env:DSR_TEST_SHOP_URL}")
    source = locate(profile, Identities.of(email="a@example.com"), data_dir=tmp_path).source("shop")
    assert source.problem.kind is ProblemKind.unreachable
    assert "DSR_TEST_SHOP_URL" in source.problem.detail


def test_one_failing_source_does_not_stop_the_others(shop, tmp_path):
    profile, url = shop
    second = profile_for(
        tmp_path,
        url,
        """
[[sources]]
name = "archive"
url = "sqlite:///{data_dir}/archive-is-gone.sqlite3"
[[sources.tables]]
name = "customers"
identity = { email = "email" }
purpose = "service"
erasure = "delete"
columns = { email = "contact" }
""",
    )
    result = locate(second, Identities.of(email="astrid.lindqvist@example.com"), data_dir=tmp_path)
    assert result.source("shop").ok and result.source("shop").record_count == 7
    assert result.source("archive").problem.kind is ProblemKind.unreachable


def test_the_source_is_only_read(shop, tmp_path):
    profile, url = shop
    before = snapshot(url)
    locate(profile, Identities.of(email="astrid.lindqvist@example.com"), data_dir=tmp_path)
    assert snapshot(url) == before


def test_a_source_connection_cannot_write(shop):
    _, url = shop
    engine = sql.source_engine(url)
    try:
        refused = OperationalError if "sqlite" in url else InternalError
        with pytest.raises(refused), sql.read_only(engine.connect()) as conn, conn.begin():
            conn.execute(text("DELETE FROM customers"))
    finally:
        engine.dispose()


def snapshot(url):
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = {
            name: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {name}"))))
            for name in ("customers", "orders", "order_lines", "refunds", "tickets", "newsletter")
        }
    engine.dispose()
    return rows


def test_check_sources_reports_without_reading_rows(shop, tmp_path):
    profile, url = shop
    assert [c.as_health() for c in check_sources(profile, tmp_path)] == [{"status": "ok"}]
    execute(url, "DROP TABLE tickets")
    (check,) = check_sources(profile, tmp_path)
    assert check.as_health() == {"status": "error", "problem": "schema_mismatch"}
    assert [(name, p.kind) for name, p in check.tables] == [("tickets", ProblemKind.missing_table)]


def test_results_become_plain_json_data(shop, tmp_path):
    profile, _ = shop
    result = locate(profile, Identities.of(email="astrid.lindqvist@example.com"), data_dir=tmp_path)
    data = result.as_dict()
    assert data["identities"] == {"email": "astrid.lindqvist@example.com"}
    orders = next(t for t in data["sources"][0]["tables"] if t["table"] == "orders")
    record = orders["records"][0]
    assert record["retain_until"] == "2032-12-31"
    assert {"column": "ordered_on", "value": "2025-05-01"}.items() <= record["fields"][1].items()
    assert isinstance(datetime.fromisoformat(data["located_at"]), datetime)


# --- identities ----------------------------------------------------------------------------------


def test_identities_are_normalized_and_checked():
    identities = Identities.of(
        email=" Astrid@Example.COM ", personnummer="19640823-3234", phone="070-174 06 05"
    )
    assert identities.email == "astrid@example.com"
    assert identities.personnummer == "196408233234"
    assert identities.phone == "+46701740605"
    assert identities.masked()["personnummer"] == "19640823-****"
    assert Identities.of(personnummer="19701063-2391").personnummer == "197010632391"
    for bad in ("19640823-3235", "640823-3234", "19641323-3234"):
        with pytest.raises(IdentityError):
            Identities.of(personnummer=bad)
    with pytest.raises(IdentityError):
        Identities.of(email="not-an-address")
    assert not Identities()


def test_stored_forms_cover_the_usual_ways_of_writing_them():
    assert set(stored_forms(IdentityKind.personnummer, "196408233234")) >= {
        "196408233234",
        "19640823-3234",
        "640823-3234",
        "6408233234",
    }
    assert set(stored_forms(IdentityKind.phone, "+46701740605")) >= {
        "+46701740605",
        "0046701740605",
        "0701740605",
        "070-1740605",
        "070-174 06 05",
    }
