"""The hosting provider's customer portal: customers, services, invoices, logins, changes."""

from __future__ import annotations

from sqlalchemy import Boolean, Date, DateTime, Numeric, String, Text

from dsr.demodata.build import (
    Col,
    DemoSystem,
    DemoTable,
    RowContext,
    choice,
    ip_address,
    person,
    user_agent,
    when,
)
from dsr.demodata.people import ascii_fold

PRODUCTS = (
    ("Webbhotell Bas", 49),
    ("Webbhotell Plus", 119),
    ("Domän .se", 15),
    ("VPS 2 GB", 199),
    ("E-post Pro", 39),
)
CHANGES = (
    ("DNS", "Ändrade A-post för www"),
    ("E-post", "Skapade brevlådan info@"),
    ("Faktura", "Ändrade fakturaadress"),
    ("Säkerhet", "Aktiverade tvåstegsverifiering"),
    ("Webbhotell", "Uppgraderade PHP-version"),
)


def _product(c: RowContext) -> tuple[str, int]:
    return PRODUCTS[(c.id + c.person.number) % len(PRODUCTS)]


def _domain(c: RowContext) -> str:
    return f"{ascii_fold(c.person.last_name)}{c.id}.se"


def _change(c: RowContext) -> tuple[str, str]:
    return CHANGES[(c.id + c.n) % len(CHANGES)]


PORTAL = DemoSystem(
    tables=(
        DemoTable(
            "customers",
            (
                Col("id", key=True),
                Col("customer_number", String(12), person("customer_number")),
                Col("personnummer", String(12), person("personnummer")),
                Col("name", String(200), person("name")),
                Col("email", String(254), person("email")),
                Col("phone", String(16), person("phone")),
                Col("street", String(100), person("street")),
                Col("postcode", String(6), person("postcode")),
                Col("city", String(60), person("city")),
                Col("created_at", DateTime, person("since")),
                Col("newsletter", Boolean, person("marketing")),
                Col("restricted_at", DateTime),
            ),
            share=0.9,
        ),
        DemoTable(
            "services",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("product", String(60), lambda c: _product(c)[0]),
                Col("domain_name", String(100), _domain),
                Col("started_at", Date, lambda c: c.moment().date()),
                Col(
                    "ended_at",
                    Date,
                    lambda c: c.later(c.person.last_active, 30).date() if c.chance(0.2) else None,
                ),
            ),
            parent="customers",
            count=(1, 4),
        ),
        DemoTable(
            "invoices",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("invoice_number", String(12), lambda c: f"H-{c.id:07d}"),
                Col("issued_at", Date, lambda c: c.moment().date()),
                Col("due_at", Date, lambda c: c.later(c.moment(), 30).date()),
                Col("amount_sek", Numeric(10, 2), lambda c: c.amount(39, 2400)),
                Col("paid_at", Date, lambda c: c.row["due_at"] if c.chance(0.95) else None),
                Col("billing_name", String(200), person("name")),
                Col(
                    "billing_address",
                    String(200),
                    lambda c: f"{c.person.street}, {c.person.postcode} {c.person.city}",
                ),
            ),
            parent="customers",
            count=(1, 16),
        ),
        DemoTable(
            "invoice_lines",
            (
                Col("id", key=True),
                Col("invoice_id", ref="invoices.id"),
                Col("description", String(100), lambda c: _product(c)[0]),
                Col("amount_sek", Numeric(10, 2), lambda c: _product(c)[1] * 12),
                Col("issued_at", Date, lambda c: c.parent["issued_at"]),
            ),
            parent="invoices",
            count=(1, 3),
        ),
        DemoTable(
            "login_history",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("logged_in_at", DateTime, when()),
                Col("ip_address", String(45), ip_address()),
                Col("user_agent", String(200), user_agent()),
                Col("result", String(20), choice("lyckad", "lyckad", "lyckad", "fel lösenord")),
            ),
            parent="customers",
            count=(1, 25),
        ),
        DemoTable(
            "change_log",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("changed_at", DateTime, when()),
                Col("area", String(30), lambda c: _change(c)[0]),
                Col("description", Text, lambda c: _change(c)[1]),
                Col("ip_address", String(45), ip_address()),
            ),
            parent="customers",
            count=(1, 8),
            share=0.6,
        ),
        DemoTable(
            "support_tickets",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("email", String(254), person("email")),
                Col("opened_at", DateTime, when()),
                Col("channel", String(20), choice("e-post", "telefon", "portal")),
                Col(
                    "subject",
                    String(200),
                    choice("Sajten ligger nere", "Flytta domän", "Fakturafråga"),
                ),
                Col(
                    "message",
                    Text,
                    choice(
                        "Får 500-fel sedan i morse.",
                        "Hur flyttar jag min domän hit?",
                        "Fakturan verkar dubbel.",
                    ),
                ),
                Col("restricted_at", DateTime),
            ),
            parent="customers",
            count=(1, 3),
            share=0.3,
        ),
    )
)

SYSTEMS = {"kundportal": PORTAL}
