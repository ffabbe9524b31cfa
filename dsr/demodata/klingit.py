"""Klingit's account database: accounts, logins, orders, payments, support, campaign contacts."""

from __future__ import annotations

from sqlalchemy import Boolean, DateTime, Numeric, String, Text

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

PLANS = (("Starter", 99), ("Pro", 299), ("Business", 899))


def _company(c: RowContext) -> str | None:
    return f"{c.person.last_name} Konsult AB" if c.person.known or c.chance(0.5) else None


def _plan(c: RowContext) -> tuple[str, int]:
    return PLANS[(c.id + c.person.number) % len(PLANS)]


ACCOUNTS = DemoSystem(
    tables=(
        DemoTable(
            "accounts",
            (
                Col("id", key=True),
                Col("account_number", String(12), person("customer_number")),
                Col("first_name", String(100), person("first_name")),
                Col("last_name", String(100), person("last_name")),
                Col("email", String(254), person("email")),
                Col("company_name", String(200), _company),
                Col("phone", String(16), person("phone")),
                Col("sign_in_with", String(20), choice("e-post", "e-post", "google", "facebook")),
                Col("created_at", DateTime, person("since")),
                Col("last_login_at", DateTime, person("last_active")),
                Col("marketing_emails", Boolean, person("marketing")),
                Col("restricted_at", DateTime),
            ),
            share=0.9,
        ),
        DemoTable(
            "login_history",
            (
                Col("id", key=True),
                Col("account_id", ref="accounts.id"),
                Col("logged_in_at", DateTime, when()),
                Col("ip_address", String(45), ip_address()),
                Col("user_agent", String(200), user_agent()),
                Col("method", String(20), lambda c: c.parent["sign_in_with"]),
            ),
            parent="accounts",
            count=(1, 20),
        ),
        DemoTable(
            "orders",
            (
                Col("id", key=True),
                Col("account_id", ref="accounts.id"),
                Col("order_number", String(12), lambda c: f"KL-{c.id:07d}"),
                Col("plan", String(20), lambda c: _plan(c)[0]),
                Col("ordered_at", DateTime, when()),
                Col("amount_sek", Numeric(10, 2), lambda c: _plan(c)[1] * 12),
                Col("status", String(20), choice("betald", "betald", "betald", "återbetald")),
            ),
            parent="accounts",
            count=(1, 8),
            share=0.7,
        ),
        DemoTable(
            "payments",
            (
                Col("id", key=True),
                Col("order_id", ref="orders.id"),
                Col("paid_at", DateTime, lambda c: c.later(c.parent["ordered_at"], 1)),
                Col("amount_sek", Numeric(10, 2), lambda c: c.parent["amount_sek"]),
                Col("method", String(20), choice("kort", "kort", "faktura", "paypal")),
                Col(
                    "card_last4",
                    String(4),
                    lambda c: (
                        f"{c.rng.randint(0, 9999):04d}" if c.row["method"] == "kort" else None
                    ),
                ),
                Col("transaction_id", String(40), lambda c: f"tx_{c.rng.getrandbits(48):012x}"),
            ),
            parent="orders",
        ),
        DemoTable(
            "support_tickets",
            (
                Col("id", key=True),
                Col("account_id", ref="accounts.id"),
                Col("email", String(254), person("email")),
                Col("created_at", DateTime, when()),
                Col(
                    "subject",
                    String(200),
                    choice(
                        "Kan inte byta plan",
                        "Faktura saknas",
                        "Inloggning med Google fungerar inte",
                    ),
                ),
                Col(
                    "message",
                    Text,
                    choice(
                        "Knappen gör ingenting.",
                        "Behöver kopia på fakturan.",
                        "Felmeddelande vid inloggning.",
                    ),
                ),
                Col("status", String(20), choice("stängt", "stängt", "öppet")),
                Col("restricted_at", DateTime),
            ),
            parent="accounts",
            count=(1, 3),
            share=0.25,
        ),
        DemoTable(
            "marketing_contacts",
            (
                Col("id", key=True),
                Col("email", String(254), person("email")),
                Col("first_name", String(100), person("first_name")),
                Col("company_name", String(200), _company),
                Col("source", String(40), choice("Sopro-kampanj", "webbformulär", "mässa")),
                Col("added_at", DateTime, when()),
                Col("subscribed", Boolean, lambda c: not c.chance(0.25)),
                Col(
                    "unsubscribed_at",
                    DateTime,
                    lambda c: None if c.row["subscribed"] else c.later(c.row["added_at"], 90),
                ),
            ),
            share=0.3,
        ),
    )
)

SYSTEMS = {"klingit": ACCOUNTS}
