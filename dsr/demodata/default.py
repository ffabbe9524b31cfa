"""Exempelföretaget AB's web shop: customers, orders, payments, credit checks, support."""

from __future__ import annotations

from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String, Text

from dsr.demodata.build import (
    Col,
    DemoSystem,
    DemoTable,
    RowContext,
    choice,
    flag,
    ip_address,
    moment_after_parent,
    parent,
    person,
    user_agent,
    when,
)

PRODUCTS = (
    ("Regnjacka", 899),
    ("Ullstrumpor 3-pack", 249),
    ("Termos 0,7 l", 329),
    ("Vandringskängor", 1795),
    ("Pannlampa", 449),
    ("Sittunderlag", 129),
    ("Ryggsäck 30 l", 1195),
    ("Mössa", 199),
)
SUBJECTS = (
    "Fel storlek, vill byta",
    "Paketet har inte kommit",
    "Reklamation: trasig dragkedja",
    "Fråga om leveranstid",
    "Dubbeldebitering",
)


def _paid_at(c: RowContext) -> object:
    return c.later(c.parent["ordered_at"], 2)


def _card_last4(c: RowContext) -> str | None:
    return f"{c.rng.randint(0, 9999):04d}" if c.row["method"] == "kort" else None


def _swish_phone(c: RowContext) -> str | None:
    return c.person.national_phone if c.row["method"] == "swish" else None


def _closed_at(c: RowContext) -> object:
    # Most tickets are closed; some are still open.
    return c.later(c.row["opened_at"], 10) if c.chance(0.85) else None


def _item(c: RowContext) -> tuple[str, int]:
    return PRODUCTS[(c.id * 7 + c.n) % len(PRODUCTS)]


SHOP = DemoSystem(
    tables=(
        DemoTable(
            "customers",
            (
                Col("id", key=True),
                Col("customer_number", String(12), person("customer_number")),
                Col("first_name", String(100), person("first_name")),
                Col("last_name", String(100), person("last_name")),
                # Asked for only when paying by invoice; many customers never gave it.
                Col(
                    "personnummer",
                    String(13),
                    lambda c: c.person.pnr_dashed if c.person.known or c.chance(0.6) else None,
                ),
                Col("email", String(254), person("email")),
                Col("phone", String(20), person("national_phone")),
                Col("street", String(100), person("street")),
                Col("postcode", String(6), person("postcode")),
                Col("city", String(60), person("city")),
                Col("created_at", DateTime, person("since")),
                Col("last_login_at", DateTime, person("last_active")),
                Col("newsletter", Boolean, person("marketing")),
                Col("restricted_at", DateTime),
                Col(
                    "password_hash",
                    String(100),
                    lambda c: f"argon2id$demo${c.rng.getrandbits(64):016x}",
                ),
            ),
        ),
        DemoTable(
            "orders",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("order_number", String(12), lambda c: f"O-{c.id:07d}"),
                Col("ordered_at", DateTime, when()),
                Col(
                    "status",
                    String(20),
                    choice("levererad", "levererad", "levererad", "returnerad"),
                ),
                Col("total_sek", Numeric(10, 2), lambda c: c.amount(129, 4500)),
                Col("delivery_name", String(200), person("name")),
                Col("delivery_street", String(100), person("street")),
                Col("delivery_postcode", String(6), person("postcode")),
                Col("delivery_city", String(60), person("city")),
            ),
            parent="customers",
            count=(1, 6),
            share=0.8,
        ),
        DemoTable(
            "order_items",
            (
                Col("id", key=True),
                Col("order_id", ref="orders.id"),
                Col("product", String(100), lambda c: _item(c)[0]),
                Col("quantity", Integer, lambda c: c.rng.randint(1, 3)),
                Col("unit_price_sek", Numeric(10, 2), lambda c: _item(c)[1]),
                Col("ordered_at", DateTime, parent("ordered_at")),
            ),
            parent="orders",
            count=(1, 3),
        ),
        DemoTable(
            "payments",
            (
                Col("id", key=True),
                Col("order_id", ref="orders.id"),
                Col("paid_at", DateTime, _paid_at),
                Col("method", String(20), choice("kort", "swish", "faktura")),
                Col("amount_sek", Numeric(10, 2), parent("total_sek")),
                Col("card_last4", String(4), _card_last4),
                Col("swish_phone", String(20), _swish_phone),
            ),
            parent="orders",
        ),
        DemoTable(
            "credit_checks",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("personnummer", String(12), person("personnummer")),
                Col("checked_at", DateTime, when()),
                Col("risk_class", Integer, lambda c: c.rng.randint(1, 5)),
                Col(
                    "decision",
                    String(20),
                    lambda c: "godkänd" if c.row["risk_class"] <= 3 else "nekad",
                ),
            ),
            parent="customers",
            count=(1, 2),
            share=0.3,
        ),
        DemoTable(
            "support_tickets",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("email", String(254), person("email")),
                Col("subject", String(200), choice(*SUBJECTS)),
                Col("opened_at", DateTime, when()),
                Col("closed_at", DateTime, _closed_at),
                Col("restricted_at", DateTime),
            ),
            parent="customers",
            count=(1, 3),
            share=0.25,
        ),
        DemoTable(
            "ticket_messages",
            (
                Col("id", key=True),
                Col("ticket_id", ref="support_tickets.id"),
                Col("sent_at", DateTime, moment_after_parent("opened_at", 5)),
                Col("author", String(20), lambda c: "kund" if c.n % 2 == 0 else "kundtjänst"),
                Col("body", Text, lambda c: "Hej! " + c.parent["subject"] + ". Mvh"),
            ),
            parent="support_tickets",
            count=(1, 4),
        ),
        DemoTable(
            "login_events",
            (
                Col("id", key=True),
                Col("customer_id", ref="customers.id"),
                Col("logged_in_at", DateTime, when()),
                Col("ip_address", String(45), ip_address()),
                Col("user_agent", String(200), user_agent()),
            ),
            parent="customers",
            count=(1, 12),
        ),
        DemoTable(
            "newsletter_signups",
            (
                Col("id", key=True),
                Col("email", String(254), person("email")),
                Col("consent_given", Boolean, flag(0.7)),
                Col("signed_up_at", Date, lambda c: c.moment().date()),
                Col("withdrawn_at", Date, lambda c: None if c.row["consent_given"] else c.today),
            ),
            share=0.35,
        ),
    )
)

#: Source name in the profile -> demo system.
SYSTEMS = {"kundsystem": SHOP}
