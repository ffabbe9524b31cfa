"""Kliently's app database: users, their legal matters, video meetings and payments."""

from __future__ import annotations

from sqlalchemy import Boolean, DateTime, Integer, Numeric, String, Text

from dsr.demodata.build import (
    Col,
    DemoSystem,
    DemoTable,
    RowContext,
    after,
    choice,
    ip_address,
    moment_after_parent,
    person,
    when,
)

AREAS = (
    ("Familjerätt", "Vi ska skiljas och är oense om vem som får bo kvar i lägenheten."),
    ("Arvsrätt", "Min pappa har gått bort och jag undrar hur bouppteckningen ska göras."),
    ("Hyresrätt", "Hyresvärden vill säga upp mitt kontrakt efter en vattenskada."),
    ("Arbetsrätt", "Jag har blivit uppsagd under sjukskrivning."),
    ("Konsumenträtt", "Bilen jag köpte har ett dolt fel som säljaren inte vill ersätta."),
    ("Brottmål", "Jag har blivit misshandlad och vill veta hur en polisanmälan går till."),
)
LAWYERS = (
    "Jur. kand. Sofia Ek",
    "Advokat Per Strand",
    "Jur. kand. Amina Rahimi",
    "Advokat Lars Vik",
)
REGISTERS = ("Skatteverket", "Bolagsverket", "Inskrivningsmyndigheten", "SPAR", "Hitta.se")


def _area(c: RowContext) -> tuple[str, str]:
    return AREAS[(c.person.number + c.n) % len(AREAS)]


def _card(c: RowContext, part: str) -> str | None:
    if c.row["method"] != "kort":
        return None
    if part == "holder":
        return c.person.name.upper()
    if part == "last4":
        return f"{c.rng.randint(0, 9999):04d}"
    return f"{c.rng.randint(1, 12):02d}/{(c.row['paid_at'].year + 3) % 100:02d}"


APP = DemoSystem(
    tables=(
        DemoTable(
            "users",
            (
                Col("id", key=True),
                Col("user_number", String(12), person("customer_number")),
                Col("first_name", String(100), person("first_name")),
                Col("last_name", String(100), person("last_name")),
                Col("personnummer", String(12), person("personnummer")),
                Col("email", String(254), person("email")),
                Col("mobile", String(16), person("phone")),
                Col("language", String(5), choice("sv", "sv", "sv", "en")),
                Col("created_at", DateTime, person("since")),
                Col("last_login_at", DateTime, person("last_active")),
                Col("notifications", Boolean, choice(True, True, False)),
                # Marketing by email unless the user objected (legitimate interest).
                Col("marketing_emails", Boolean, lambda c: not c.chance(0.2)),
                Col("restricted_at", DateTime),
                Col("password_hash", String(100), lambda c: f"bcrypt$demo${c.id:08x}"),
            ),
        ),
        DemoTable(
            "device_sessions",
            (
                Col("id", key=True),
                Col("user_id", ref="users.id"),
                Col("started_at", DateTime, when()),
                Col("ip_address", String(45), ip_address()),
                Col(
                    "browser",
                    String(60),
                    choice("Kliently iOS 4.2", "Kliently Android 4.2", "Safari 18", "Chrome 130"),
                ),
                Col(
                    "operating_system",
                    String(60),
                    choice("iOS 18.1", "Android 15", "macOS 14.6", "Windows 11"),
                ),
                Col(
                    "screen_resolution",
                    String(20),
                    choice("390x844", "412x915", "1920x1080", "1440x900"),
                ),
                Col("language", String(5), choice("sv-SE", "sv-SE", "en-GB")),
            ),
            parent="users",
            count=(1, 10),
        ),
        DemoTable(
            "cases",
            (
                Col("id", key=True),
                Col("user_id", ref="users.id"),
                Col("area", String(40), lambda c: _area(c)[0]),
                Col("description", Text, lambda c: _area(c)[1]),
                Col("opened_at", DateTime, when()),
                Col("status", String(20), choice("pågående", "avslutat", "avslutat")),
                Col("lawyer", String(60), choice(*LAWYERS)),
                Col("restricted_at", DateTime),
            ),
            parent="users",
            count=(1, 3),
            share=0.6,
        ),
        DemoTable(
            "case_answers",
            (
                Col("id", key=True),
                Col("case_id", ref="cases.id"),
                Col(
                    "question",
                    String(200),
                    choice(
                        "Har ni barn tillsammans?",
                        "Finns det ett testamente?",
                        "När hände det?",
                        "Har du skriftligt avtal?",
                    ),
                ),
                Col(
                    "answer",
                    Text,
                    choice("Ja, två barn.", "Nej.", "I mars förra året.", "Ja, bifogar det."),
                ),
                Col("answered_at", DateTime, moment_after_parent("opened_at", 3)),
                Col("attachment", String(120), lambda c: "avtal.pdf" if c.chance(0.3) else None),
            ),
            parent="cases",
            count=(1, 4),
        ),
        DemoTable(
            "case_notes",
            (
                Col("id", key=True),
                Col("case_id", ref="cases.id"),
                Col("written_at", DateTime, moment_after_parent("opened_at", 20)),
                Col("author", String(60), lambda c: c.parent["lawyer"]),
                Col(
                    "note",
                    Text,
                    choice(
                        "Rådgivning lämnad vid möte.",
                        "Uppgift hämtad ur register.",
                        "Klienten återkommer med underlag.",
                    ),
                ),
                Col(
                    "obtained_from",
                    String(40),
                    lambda c: c.pick(REGISTERS) if c.chance(0.5) else None,
                ),
            ),
            parent="cases",
            count=(1, 3),
        ),
        DemoTable(
            "bookings",
            (
                Col("id", key=True),
                Col("case_id", ref="cases.id"),
                Col("starts_at", DateTime, moment_after_parent("opened_at", 14)),
                Col("status", String(20), choice("genomförd", "genomförd", "avbokad", "ombokad")),
                Col(
                    "reminder_sent_at",
                    DateTime,
                    lambda c: c.row["starts_at"] - (c.row["starts_at"] - c.parent["opened_at"]) / 2,
                ),
            ),
            parent="cases",
            count=(1, 3),
        ),
        DemoTable(
            "payments",
            (
                Col("id", key=True),
                Col("booking_id", ref="bookings.id"),
                Col("paid_at", DateTime, lambda c: c.parent["starts_at"]),
                Col("amount_sek", Numeric(10, 2), choice(495, 995, 1495)),
                Col("method", String(10), choice("kort", "swish")),
                Col("card_holder", String(100), lambda c: _card(c, "holder")),
                Col("card_last4", String(4), lambda c: _card(c, "last4")),
                Col("card_expiry", String(5), lambda c: _card(c, "expiry")),
                Col(
                    "swish_phone",
                    String(16),
                    lambda c: c.person.phone if c.row["method"] == "swish" else None,
                ),
            ),
            parent="bookings",
        ),
        DemoTable(
            "feedback",
            (
                Col("id", key=True),
                Col("user_id", ref="users.id"),
                Col("given_at", DateTime, when()),
                Col("rating", Integer, lambda c: c.rng.randint(1, 5)),
                Col(
                    "comment",
                    Text,
                    choice(
                        "Bra och snabb hjälp.", "Ljudet hackade i mötet.", "Tydliga svar.", None
                    ),
                ),
            ),
            parent="users",
            share=0.3,
        ),
        DemoTable(
            "support_tickets",
            (
                Col("id", key=True),
                Col("user_id", ref="users.id"),
                Col("email", String(254), person("email")),
                Col("opened_at", DateTime, when()),
                Col(
                    "subject",
                    String(120),
                    choice("Kan inte logga in", "Videon startar inte", "Fel belopp debiterat"),
                ),
                Col(
                    "message",
                    Text,
                    choice(
                        "Appen hänger sig vid inloggning.",
                        "Svart bild när mötet börjar.",
                        "Jag drogs två gånger.",
                    ),
                ),
                Col("app_version", String(20), choice("4.1.0", "4.2.0", "4.2.1")),
                Col("closed_at", DateTime, after("opened_at", 7)),
                Col("restricted_at", DateTime),
            ),
            parent="users",
            count=(1, 2),
            share=0.2,
        ),
    )
)

SYSTEMS = {"app": APP}
