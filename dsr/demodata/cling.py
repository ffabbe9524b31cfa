"""Cling's service database: craftsmen's accounts, their documents and their customers."""

from __future__ import annotations

from sqlalchemy import Boolean, Date, DateTime, Numeric, String

from dsr.demodata.build import (
    Col,
    DemoSystem,
    DemoTable,
    RowContext,
    choice,
    ip_address,
    person,
    when,
)

TRADES = ("Bygg", "Måleri", "El", "VVS", "Snickeri", "Takläggning", "Trädgård")
WORK = (
    ("Byte av köksbänk", 18500),
    ("Målning av fasad", 64000),
    ("Nytt badrum", 145000),
    ("Laddbox i garage", 16900),
    ("Takomläggning", 210000),
    ("Altanbygge", 52000),
)


def _company(c: RowContext) -> str:
    return f"{c.person.last_name}s {TRADES[c.person.number % len(TRADES)]} AB"


def _work(c: RowContext) -> tuple[str, int]:
    return WORK[(c.id + c.person.number) % len(WORK)]


def _customer_until(c: RowContext) -> object:
    # About one in five accounts has ended (marketed to for one more year, then not).
    return c.person.last_active if not c.person.known and c.chance(0.2) else None


SERVICE = DemoSystem(
    tables=(
        DemoTable(
            "users",
            (
                Col("id", key=True),
                Col("customer_number", String(12), person("customer_number")),
                Col("company_name", String(200), _company),
                Col("email", String(254), person("email")),
                Col("first_name", String(100), person("first_name")),
                Col("last_name", String(100), person("last_name")),
                Col("phone", String(20), person("national_phone")),
                Col(
                    "company_address",
                    String(200),
                    lambda c: f"{c.person.street}, {c.person.postcode} {c.person.city}",
                ),
                Col("country", String(2), choice("SE")),
                Col("language", String(5), choice("sv", "sv", "en")),
                Col(
                    "profile_image",
                    String(200),
                    lambda c: f"/uploads/profiles/{c.id}.jpg" if c.chance(0.4) else None,
                ),
                Col("registered_at", DateTime, person("since")),
                Col("customer_until", DateTime, _customer_until),
                Col("marketing", Boolean, lambda c: not c.chance(0.15)),
                Col("restricted_at", DateTime),
                Col("password_hash", String(100), lambda c: f"pbkdf2$demo${c.id:08x}"),
            ),
            share=0.5,
        ),
        DemoTable(
            "activity_log",
            (
                Col("id", key=True),
                Col("user_id", ref="users.id"),
                Col("occurred_at", DateTime, when()),
                Col(
                    "action",
                    String(60),
                    choice(
                        "loggade in",
                        "skapade offert",
                        "skickade avtal",
                        "skickade faktura",
                        "ändrade profil",
                    ),
                ),
                Col("ip_address", String(45), ip_address()),
                Col(
                    "browser",
                    String(40),
                    choice("Chrome 130", "Safari 18", "Firefox 132", "Edge 130"),
                ),
                Col(
                    "operating_system",
                    String(40),
                    choice("Windows 11", "macOS 14", "iOS 18", "Android 15"),
                ),
                Col("timezone", String(40), choice("Europe/Stockholm")),
            ),
            parent="users",
            count=(2, 15),
        ),
        DemoTable(
            "end_customers",
            (
                Col("id", key=True),
                Col("name", String(200), person("name")),
                Col("personnummer", String(13), person("pnr_dashed")),
                Col(
                    "address",
                    String(200),
                    lambda c: f"{c.person.street}, {c.person.postcode} {c.person.city}",
                ),
                Col("work_address", String(200), lambda c: f"{c.person.street}, {c.person.city}"),
                Col("phone", String(20), person("national_phone")),
                Col("email", String(254), person("email")),
                Col(
                    "co_applicant_name",
                    String(200),
                    lambda c: (
                        f"{c.pick(('Anna', 'Erik', 'Sara', 'Johan'))} {c.person.last_name}"
                        if c.chance(0.3)
                        else None
                    ),
                ),
                Col("co_applicant_personnummer", String(13)),
            ),
            share=0.5,
        ),
        DemoTable(
            "documents",
            (
                Col("id", key=True),
                Col("user_id", ref="users.id"),
                Col(
                    "end_customer_id",
                    ref="end_customers.id",
                    value=lambda c: c.any_id("end_customers"),
                ),
                Col("document_number", String(20), lambda c: f"D-{c.id:07d}"),
                Col(
                    "kind", String(20), choice("offert", "offert", "avtal", "ÄTA-avtal", "faktura")
                ),
                Col("created_at", DateTime, when()),
                Col("title", String(200), lambda c: _work(c)[0]),
                Col("amount_sek", Numeric(12, 2), lambda c: _work(c)[1]),
                Col("status", String(20), choice("skickad", "signerad", "signerad", "avböjd")),
                Col(
                    "signed_at",
                    DateTime,
                    lambda c: (
                        c.later(c.row["created_at"], 10) if c.row["status"] == "signerad" else None
                    ),
                ),
            ),
            parent="users",
            count=(1, 8),
        ),
        DemoTable(
            "document_rows",
            (
                Col("id", key=True),
                Col("document_id", ref="documents.id"),
                Col(
                    "description",
                    String(200),
                    choice("Arbete", "Material", "Resor", "Bortforsling"),
                ),
                Col("quantity", Numeric(8, 2), lambda c: c.rng.randint(1, 40)),
                Col("unit_price_sek", Numeric(10, 2), choice(450, 595, 120, 2500)),
            ),
            parent="documents",
            count=(1, 4),
        ),
        DemoTable(
            "subscription_invoices",
            (
                Col("id", key=True),
                Col("user_id", ref="users.id"),
                Col("invoice_number", String(20), lambda c: f"CL-{c.id:07d}"),
                Col("issued_at", Date, lambda c: c.moment().date()),
                Col("period", String(20), lambda c: f"{c.row['issued_at']:%Y-%m}"),
                Col("plan", String(20), choice("Bas", "Pro", "Pro", "Företag")),
                Col("amount_sek", Numeric(10, 2), choice(299, 599, 599, 1299)),
                Col("paid_at", Date, lambda c: c.row["issued_at"]),
                Col("billing_email", String(254), person("email")),
            ),
            parent="users",
            count=(1, 12),
        ),
        DemoTable(
            "newsletter_subscribers",
            (
                Col("id", key=True),
                Col("email", String(254), person("email")),
                Col("subscribed", Boolean, lambda c: not c.chance(0.3)),
                Col("subscribed_at", DateTime, when()),
                Col(
                    "unsubscribed_at",
                    DateTime,
                    lambda c: None if c.row["subscribed"] else c.later(c.row["subscribed_at"], 200),
                ),
            ),
            share=0.3,
        ),
    )
)

SYSTEMS = {"cling": SERVICE}
