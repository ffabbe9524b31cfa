"""Qleano's customer and booking system: customers, leads, credit checks, cleanings, invoices."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String, Text

from dsr.demodata.build import (
    Col,
    DemoSystem,
    DemoTable,
    RowContext,
    after,
    choice,
    ip_address,
    person,
    when,
)

SERVICES = (
    ("hemstädning", 1290),
    ("storstädning", 3490),
    ("fönsterputs", 990),
    ("flyttstädning", 5990),
)
OPERATORS = ("Glans & Rent AB", "Städfixarna i Sverige AB", "Dammfria Hem AB", "Blänk Service AB")
LEAD_SOURCES = ("Flyttfirma Exempel AB", "Mäklarbyrån Exempel AB", "Jämförelsesajt Exempel AB")


def _service(c: RowContext) -> tuple[str, int]:
    return SERVICES[(c.id + c.person.number) % len(SERVICES)]


def _invoice_amount(c: RowContext) -> float:
    return float(dict(SERVICES)[c.parent["service"]])


def _rut_eligible(c: RowContext) -> bool:
    # Window cleaning qualifies only in part; the demo simply says "sometimes".
    return c.row["service"] != "fönsterputs" or c.chance(0.5)


def _rut(c: RowContext) -> float:
    # RUT: half the labour cost is deducted on the invoice and claimed from Skatteverket.
    return round(c.row["amount_sek"] / 2, 2) if c.parent["rut"] else 0.0


HOME = DemoSystem(
    tables=(
        DemoTable(
            "customers",
            (
                Col("id", key=True),
                Col("customer_number", String(12), person("customer_number")),
                Col("first_name", String(100), person("first_name")),
                Col("last_name", String(100), person("last_name")),
                Col("personnummer", String(13), person("pnr_dashed")),
                Col("email", String(254), person("email")),
                Col("phone", String(20), person("national_phone")),
                Col("street", String(100), person("street")),
                Col("postcode", String(6), person("postcode")),
                Col("city", String(60), person("city")),
                Col("home_type", String(20), choice("lägenhet", "lägenhet", "villa", "radhus")),
                Col("home_size_sqm", Integer, lambda c: c.rng.randint(28, 220)),
                Col("gender", String(10), lambda c: "kvinna" if c.person.female else "man"),
                Col("signup_ip", String(45), ip_address()),
                Col("created_at", DateTime, person("since")),
                Col("marketing", Boolean, person("marketing")),
                Col("restricted_at", DateTime),
            ),
            share=0.85,
        ),
        DemoTable(
            "leads",
            (
                Col("id", key=True),
                Col("name", String(200), person("name")),
                Col("email", String(254), person("email")),
                Col("phone", String(16), person("phone")),
                Col("street", String(100), person("street")),
                Col("city", String(60), person("city")),
                Col("source_company", String(100), choice(*LEAD_SOURCES)),
                # Leads arrive before the person becomes a customer (if ever).
                Col(
                    "received_at",
                    DateTime,
                    lambda c: c.person.since - timedelta(days=c.rng.randint(1, 60)),
                ),
                Col("status", String(20), choice("ny", "kontaktad", "blev kund", "ej intresserad")),
            ),
            share=0.25,
        ),
        DemoTable(
            "credit_checks",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("personnummer", String(12), person("personnummer")),
                Col("checked_at", DateTime, lambda c: c.later(c.person.since, 1)),
                Col("result", String(20), choice("godkänd", "godkänd", "godkänd", "ej godkänd")),
                Col("risk_score", Integer, lambda c: c.rng.randint(1, 100)),
            ),
            parent="customers",
        ),
        DemoTable(
            "bookings",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("booking_number", String(12), lambda c: f"B-{c.id:07d}"),
                Col("service", String(30), lambda c: _service(c)[0]),
                Col("scheduled_at", DateTime, when()),
                Col("street", String(100), person("street")),
                Col("city", String(60), person("city")),
                Col(
                    "entry_code",
                    String(10),
                    lambda c: f"{c.rng.randint(1000, 9999)}" if c.chance(0.4) else None,
                ),
                Col(
                    "status", String(20), choice("utförd", "utförd", "utförd", "avbokad", "ombokad")
                ),
                Col("operator", String(100), choice(*OPERATORS)),
                Col("rut", Boolean, _rut_eligible),
            ),
            parent="customers",
            count=(1, 10),
        ),
        DemoTable(
            "service_reports",
            (
                Col("id", key=True),
                Col("booking_id", ref="bookings.id"),
                Col("performed_at", DateTime, lambda c: c.parent["scheduled_at"]),
                Col("duration_minutes", Integer, lambda c: c.rng.choice((120, 180, 240, 360))),
                Col(
                    "notes",
                    Text,
                    choice(
                        "Allt klart.", "Nyckel lämnad i brevlådan.", "Ugnen rengjord extra.", None
                    ),
                ),
                Col(
                    "customer_rating",
                    Integer,
                    lambda c: c.rng.randint(3, 5) if c.chance(0.6) else None,
                ),
            ),
            parent="bookings",
            share=0.8,
        ),
        DemoTable(
            "invoices",
            (
                Col("id", key=True),
                Col("booking_id", ref="bookings.id"),
                Col("invoice_number", String(12), lambda c: f"F-{c.id:07d}"),
                Col("issued_at", Date, lambda c: c.parent["scheduled_at"].date()),
                Col("amount_sek", Numeric(10, 2), _invoice_amount),
                Col("rut_deduction_sek", Numeric(10, 2), _rut),
                Col("due_at", Date, lambda c: c.later(c.parent["scheduled_at"], 30).date()),
            ),
            parent="bookings",
        ),
        DemoTable(
            "payments",
            (
                Col("id", key=True),
                Col("invoice_id", ref="invoices.id"),
                Col("paid_at", Date, lambda c: c.parent["due_at"]),
                Col(
                    "amount_sek",
                    Numeric(10, 2),
                    lambda c: c.parent["amount_sek"] - c.parent["rut_deduction_sek"],
                ),
                Col("method", String(20), choice("autogiro", "bankgiro", "kort")),
                Col("reference", String(30), lambda c: f"OCR {c.rng.randint(10**9, 10**10 - 1)}"),
            ),
            parent="invoices",
        ),
        DemoTable(
            "support_cases",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("email", String(254), person("email")),
                Col("opened_at", DateTime, when()),
                Col("kind", String(30), choice("reklamation", "fråga", "ombokning")),
                Col(
                    "description",
                    Text,
                    choice(
                        "Badrummet blev inte städat.",
                        "Kan ni komma en timme senare?",
                        "Vad ingår i storstädning?",
                    ),
                ),
                Col(
                    "resolution",
                    Text,
                    choice("Omstädning bokad utan kostnad.", "Svar skickat.", "Bokningen flyttad."),
                ),
                Col("closed_at", DateTime, after("opened_at", 6)),
                Col("restricted_at", DateTime),
            ),
            parent="customers",
            count=(1, 2),
            share=0.3,
        ),
    )
)

SYSTEMS = {"qleano": HOME}
