"""The service's own database at scale: years of requests, most of them long closed.

What is built is what the service would have left behind at the bench's moment (``now``):

- ``size.requests`` requests received over the last four years, ``size.open_requests`` of
  them open. Ids and references follow the order of arrival, as intake issues them
  (``DSR-<year>-<number>`` per year of the local received date), and ``reference_counters``
  holds each year's last number.
- Due dates come from ``dsr.deadlines`` (computed once per distinct received day; a few
  requests were extended by two months).
- Closed requests have their final status, ``closed_at`` and, where the status needs it, a
  close reason or a refusal with grounds. Those closed more than
  ``retention.closed_request_years`` ago are anonymised as the retention job leaves them.
- Open requests arrived in the last month or so and are assigned to a handful of handlers or
  to nobody; about one in a hundred is past its legal due date. Unverified ones are younger
  than the expiry period (the expiry job would have closed older ones).
- Every request has its acknowledgement in the outbox (sent), and the deadline reminders
  of the days before ``now`` were sent: the first scheduler run of the day queues only that
  day's reminders, as in production.

Rows are generated in Python (deterministic seed) and loaded in bulk: ``COPY`` on
PostgreSQL with the secondary indexes dropped and rebuilt afterwards, then ``ANALYZE``;
batched ``executemany`` on SQLite. Nothing goes through the ORM but the staff accounts,
which are made by ``dsr.accounts`` so that their passwords work at the real login.
"""

from __future__ import annotations

import json
import random
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Connection, Engine

from bench.harness import Context, log
from dsr import deadlines
from dsr.jobs.reminders import CLOCK_RUNNING, reminder_offset
from dsr.jobs.retention import years_before
from dsr.models import EmailOutbox, Request

ZONE = ZoneInfo("Europe/Stockholm")
#: Staff password at the bench (strong enough for the service's check).
PASSWORD = "bench-Staff-password-2026!"
HANDLERS = 5
#: Requests arrive over this many years.
YEARS = 4
#: Open requests arrived within this many days (a few more are overdue, older than that).
OPEN_DAYS = 31
OVERDUE_SHARE = 0.01
REMINDER_DAYS = (1, 3, 7)
EXPIRY_DAYS = 14
RETENTION_YEARS = 3


def _words(line: str) -> list[str]:
    return line.split()


FIRST_NAMES = _words(
    "Anna Eva Maria Karin Sara Lena Kerstin Emma Ingrid Malin Elin Johanna Linda Hanna Sofia "
    "Marie Ida Julia Ebba Alice Maja Wilma Astrid Elsa Signe Agnes Klara Greta Vera Tove "
    "Lars Mikael Johan Anders Erik Per Karl Peter Thomas Jan Daniel Fredrik Hans Mats Magnus "
    "Oskar Lucas William Hugo Liam Elias Axel Nils Olle Gustav Viktor Emil Arvid Björn Åke "
    "Örjan Sven Göran Leif Bengt Stefan Jonas Niklas Henrik Patrik Andreas Mattias Jesper "
    "Camilla Helena Jenny Therese Frida Amanda Matilda Nora Saga Ella Stina Britt Birgitta "
    "Yusuf Ahmed Fatima Amir Leila Noor Mohammed Ali Sanna Riikka Aino Juha Mehmet Ayla"
)
LAST_NAMES = _words(
    "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson "
    "Pettersson Jonsson Jansson Hansson Bengtsson Jönsson Lindberg Jakobsson Magnusson "
    "Lindström Olofsson Lindqvist Lindgren Berg Axelsson Bergström Lundberg Lind Lundgren "
    "Lundqvist Mattsson Berglund Fredriksson Sandberg Henriksson Forsberg Sjöberg Wallin "
    "Ali Engström Mohammed Eklund Danielsson Lundin Håkansson Björk Bergman Gunnarsson "
    "Holm Wikström Samuelsson Isaksson Fransson Bergqvist Nyström Holmberg Arvidsson Löfgren "
    "Söderberg Nyberg Blomqvist Claesson Nordström Mårtensson Lundström Ahmed Viklund "
    "Björklund Eliasson Pålsson Hassan Berggren Sandström Lund Nordin Ström Åberg Hermansson "
    "Ekström Holmgren Falk Sundberg Hedlund Dahlberg Hellström Sjögren Abrahamsson Martinsson "
    "Öberg Andreasson Strömberg Månsson Åkesson Hansen Jonasson Norberg Sundström Lindholm "
    "Dahl Holmqvist Sundqvist Ivarsson Jensen Åström Lindell Ek Nordqvist Johnsson Virtanen "
    "Korhonen Nieminen Mäkinen Yilmaz Kaya Demir Nguyen Tran Kowalski Nowak Novak Popescu "
    "Rossi Schmidt Müller Garcia Lopez Smith Brown Wilson Taylor Kaur Singh Khan Rahman"
)
DOMAINS = ("example.se", "example.com", "exempel.se", "example.org", "exempel.nu", "example.net")

RIGHTS = (
    ("access", 45),
    ("erasure", 30),
    ("rectification", 7),
    ("objection", 6),
    ("consent_withdrawal", 5),
    ("restriction", 3),
    ("portability", 3),
    ("human_review", 1),
)
CHANNELS = (("web", 70), ("api", 15), ("email", 10), ("letter", 3), ("phone", 2))
CLOSED = (("completed", 72), ("refused", 5), ("withdrawn", 5), ("expired", 11), ("closed", 7))
OPEN = (("unverified", 10), ("verified", 25), ("in_progress", 55), ("awaiting_subject", 10))

DETAILS: dict[str, dict[str, Any]] = {
    "access": {},
    "rectification": {
        "data_to_correct": "Min adress är fel.",
        "correct_values": "Storgatan 1, 111 22 Stockholm",
    },
    "erasure": {"scope": "everything", "data_to_erase": None},
    "restriction": {"grounds": "accuracy_contested", "data_to_restrict": None},
    "portability": {"delivery": "download", "recipient_url": None},
    "objection": {"objection_to": "direct_marketing", "processing": None, "grounds": None},
    "consent_withdrawal": {"consent": "Nyhetsbrev via e-post"},
    "human_review": {"decision": "Automatisk kreditprövning", "viewpoint": None},
}

REQUEST_COLUMNS = (
    "id",
    "reference",
    "regime",
    "right",
    "status",
    "channel",
    "language",
    "received_at",
    "due_target",
    "due_legal",
    "first_due_legal",
    "extended_at",
    "extension_reason",
    "subject_name",
    "subject_email",
    "subject_phone",
    "details",
    "assurance",
    "assurance_method",
    "assurance_at",
    "verified_at",
    "assignee_id",
    "refusal_scope",
    "refusal_reason",
    "refusal_grounds",
    "close_reason",
    "close_note",
    "closed_at",
    "anonymized_at",
    "created_at",
    "updated_at",
)
OUTBOX_COLUMNS = (
    "kind",
    "to_addr",
    "language",
    "subject",
    "body_text_encrypted",
    "body_html_encrypted",
    "carries_secret",
    "request_id",
    "status",
    "attempts",
    "next_attempt_at",
    "dedupe_key",
    "message_id",
    "created_at",
    "sent_at",
)


@dataclass
class RequestsData:
    """The built database and what the workloads need to know about it."""

    url: str
    #: The bench's moment: the data is the service's state at this instant (UTC).
    now: datetime
    handler_email: str
    admin_email: str
    password: str
    staff_ids: list[int]
    #: One open request whose name, email and reference the searches look for.
    search_name: str
    search_email: str
    search_reference: str
    counts: dict[str, int] = field(default_factory=dict)
    build_seconds: float = 0.0


def bench_moment() -> datetime:
    """Now, or 08:00 local today when it is earlier (the daily jobs run from 07:00)."""
    now = datetime.now(UTC).replace(microsecond=0)
    local = now.astimezone(ZONE)
    morning = local.replace(hour=8, minute=0, second=0)
    return max(now, morning.astimezone(UTC))


def requests_database(ctx: Context) -> RequestsData:
    """The run's service database with its requests, built on first use."""
    data: RequestsData | None = ctx.shared.get("requests_data")
    if data is None:
        data = build(ctx)
        ctx.shared["requests_data"] = data
    return data


def _weighted(choices: Sequence[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [c for c, _ in choices], [w for _, w in choices]


def _ascii(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value)
    return "".join(c for c in folded if not unicodedata.combining(c)).lower()


@cache
def _due(day: date, extended: bool) -> deadlines.Due:
    return deadlines.due_for_date(day, extended=extended)


def _arrivals(rng: random.Random, total: int, open_count: int, now: datetime) -> list[tuple]:
    """(received_at, is_open) for every request, oldest first."""
    start = now - timedelta(days=365 * YEARS)
    closed_end = now - timedelta(days=2)
    span = (closed_end - start).total_seconds()
    items: list[tuple[datetime, bool]] = [
        (start + timedelta(seconds=rng.random() * span), False) for _ in range(total - open_count)
    ]
    overdue = max(1, round(open_count * OVERDUE_SHARE)) if open_count else 0
    for i in range(open_count):
        if i < overdue:
            age = timedelta(days=OPEN_DAYS + 3 + rng.random() * 14)
        else:
            age = timedelta(seconds=60 + rng.random() * (OPEN_DAYS * 86400 - 60))
        items.append((now - age, True))
    items.sort(key=lambda item: item[0])
    return items


def generate(
    size_requests: int, size_open: int, now: datetime, staff_ids: Sequence[int], admin_id: int
) -> tuple[list[tuple], dict[int, int], dict[str, int]]:
    """Rows of ``requests`` (in ``REQUEST_COLUMNS`` order), last number per year, counts."""
    rng = random.Random(20261121)
    today = now.astimezone(ZONE).date()
    retention_cutoff = years_before(now, RETENTION_YEARS) + timedelta(days=1)
    unverified_since = now - timedelta(days=EXPIRY_DAYS - 2)
    rights, right_w = _weighted(RIGHTS)
    channels, channel_w = _weighted(CHANNELS)
    closed_statuses, closed_w = _weighted(CLOSED)
    open_statuses, open_w = _weighted(OPEN)
    numbers: dict[int, int] = {}
    counts = dict.fromkeys(("open", "closed", "anonymized", "overdue", "extended"), 0)
    rows: list[tuple] = []
    for row_id, (received_at, is_open) in enumerate(
        _arrivals(rng, size_requests, size_open, now), start=1
    ):
        local_day = received_at.astimezone(ZONE).date()
        numbers[local_day.year] = numbers.get(local_day.year, 0) + 1
        reference = f"DSR-{local_day.year}-{numbers[local_day.year]:06d}"
        right = rng.choices(rights, right_w)[0]
        channel = rng.choices(channels, channel_w)[0]
        language = "en" if rng.random() < 0.15 else "sv"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name: str | None = f"{first} {last}"
        suffix = str(rng.randrange(1, 1000)) if rng.random() < 0.6 else ""
        email: str | None = f"{_ascii(first)}.{_ascii(last)}{suffix}@{rng.choice(DOMAINS)}"
        phone = f"+46 70 {rng.randrange(1000000, 9999999)}" if rng.random() < 0.2 else None
        details = {"version": 1, "message": None, **DETAILS[right]}

        if is_open:
            status = rng.choices(open_statuses, open_w)[0]
            if status == "unverified" and received_at < unverified_since:
                status = "verified"
        else:
            status = rng.choices(closed_statuses, closed_w)[0]
        age_days = (now - received_at).days
        extended = (status in ("in_progress", "completed", "refused")) and age_days > 25
        extended = extended and rng.random() < 0.03
        first_due = _due(local_day, False)
        due = _due(local_day, True) if extended else first_due
        extended_at = received_at + timedelta(days=20) if extended else None

        verified = status not in ("unverified", "expired")
        verified_at = received_at + timedelta(minutes=rng.randrange(2, 600)) if verified else None
        assurance = "email_verified" if verified else "none"
        assignee = None
        if status not in ("unverified", "expired") and rng.random() < 0.75:
            assignee = admin_id if rng.random() < 0.05 else rng.choice(staff_ids)

        refusal_scope = refusal_reason = refusal_grounds = close_reason = close_note = None
        closed_at = anonymized_at = None
        if not is_open:
            if status == "expired":
                closed_at = received_at + timedelta(days=EXPIRY_DAYS, minutes=rng.randrange(300))
            else:
                closed_at = received_at + timedelta(hours=2 + rng.random() * 24 * 28)
            closed_at = min(closed_at, now - timedelta(hours=1))
            if status == "refused":
                refusal_scope = rng.choice(("full", "partial"))
                refusal_grounds = rng.choice(("manifestly_unfounded", "excessive", "exemption"))
                refusal_reason = "Begäran avser uppgifter som omfattas av undantag."
            elif status == "closed":
                close_reason = rng.choice(("spam", "duplicate"))
                close_note = (
                    "Dubblett av tidigare begäran." if close_reason == "duplicate" else None
                )
            counts["closed"] += 1
        else:
            counts["open"] += 1
            if status in CLOCK_RUNNING and due.legal < today:
                counts["overdue"] += 1
        counts["extended"] += extended
        updated_at = closed_at or verified_at or received_at
        extension_reason = "Begäran är omfattande." if extended else None

        if closed_at is not None and closed_at < retention_cutoff:
            # As the retention job leaves it: personal data and free text gone.
            name = email = phone = None
            details = {}
            close_note = None
            extension_reason = "(removed)" if extended else None
            refusal_reason = "(removed)" if refusal_reason else None
            anonymized_at = min(
                years_before(closed_at, -RETENTION_YEARS) + timedelta(minutes=5), now
            )
            updated_at = anonymized_at
            counts["anonymized"] += 1

        rows.append(
            (
                row_id,
                reference,
                "gdpr",
                right,
                status,
                channel,
                language,
                received_at,
                due.target,
                due.legal,
                first_due.legal,
                extended_at,
                extension_reason,
                name,
                email,
                phone,
                details,
                assurance,
                "email_code" if verified else None,
                verified_at,
                verified_at,
                assignee,
                refusal_scope,
                refusal_reason,
                refusal_grounds,
                close_reason,
                close_note,
                closed_at,
                anonymized_at,
                received_at,
                updated_at,
            )
        )
    return rows, numbers, counts


def outbox_rows(rows: Sequence[tuple], now: datetime, body: str) -> Iterator[tuple]:
    """Sent emails: each request's acknowledgement, and the reminders of earlier days."""
    today = now.astimezone(ZONE).date()
    ix = {name: i for i, name in enumerate(REQUEST_COLUMNS)}
    for row in rows:
        request_id, received_at = row[ix["id"]], row[ix["received_at"]]
        language = row[ix["language"]]
        yield (
            "acknowledgement",
            row[ix["subject_email"]] or "(removed)",
            language,
            "Vi har tagit emot din begäran" if language == "sv" else "We received your request",
            None,  # it carried the verification code: the body went once it was sent
            None,
            True,
            request_id,
            "sent",
            1,
            received_at,
            None,
            f"<ack{request_id}.outbox@bench.invalid>",
            received_at,
            received_at + timedelta(seconds=20),
        )
        status, due_legal = row[ix["status"]], row[ix["due_legal"]]
        if status not in CLOCK_RUNNING or row[ix["closed_at"]] is not None:
            continue
        left = deadlines.days_left(due_legal, today)
        if not 0 <= left <= max(REMINDER_DAYS):
            continue
        # Every offset above today's days-left was due on an earlier day (once each).
        sent = {reminder_offset(days, REMINDER_DAYS) for days in range(left + 1, 8)}
        for offset in sorted(o for o in sent if o is not None):
            moment = datetime.combine(
                due_legal - timedelta(days=offset), datetime.min.time(), ZONE
            ) + timedelta(hours=7, minutes=2)
            yield (
                "reminder",
                "privacy@bench.invalid",
                "sv",
                "Påminnelse",
                body,
                body,
                False,
                request_id,
                "sent",
                1,
                moment,
                f"reminder:{request_id}:{due_legal.isoformat()}:{offset}",
                f"<rem{request_id}-{offset}.outbox@bench.invalid>",
                moment,
                moment + timedelta(seconds=30),
            )


def _create_staff(ctx: Context, url: str) -> tuple[list[int], int, str, str]:
    from dsr import accounts
    from dsr.audit import Actor
    from dsr.db import get_db
    from dsr.models import StaffRole

    app = ctx.make_app(url)
    ids: list[int] = []
    with app.app_context(), get_db(app).transaction() as session:
        for n in range(1, HANDLERS + 1):
            user = accounts.create_staff(
                session,
                f"handler{n}@bench.invalid",
                StaffRole.handler,
                name=f"Handläggare {n}",
                password=PASSWORD,
                actor=Actor.system("bench"),
            )
            assert user.id is not None
            ids.append(user.id)
        admin = accounts.create_staff(
            session,
            "admin@bench.invalid",
            StaffRole.admin,
            name="Administratör",
            password=PASSWORD,
            actor=Actor.system("bench"),
        )
        assert admin.id is not None
        admin_id = admin.id
    return ids, admin_id, "handler1@bench.invalid", "admin@bench.invalid"


def _sample_body(ctx: Context, url: str) -> str:
    """A real outbox ciphertext for the sent reminders (never read by the jobs)."""
    from dsr import crypto
    from dsr.notifications import OUTBOX_LABEL

    app = ctx.make_app(url)
    with app.app_context():
        return crypto.encrypt("Påminnelse: en begäran närmar sig sitt förfallodatum.", OUTBOX_LABEL)


def build(ctx: Context) -> RequestsData:
    size = ctx.size
    started = time.perf_counter()
    url = ctx.service_database("requests")
    now = bench_moment()
    staff_ids, admin_id, handler_email, admin_email = _create_staff(ctx, url)
    body = _sample_body(ctx, url)
    log(f"requests data: generating {size.requests:,} requests")
    rows, numbers, counts = generate(size.requests, size.open_requests, now, staff_ids, admin_id)
    engine = create_engine(url)
    try:
        if ctx.backend == "postgresql":
            _load_postgresql(engine, rows, now, body)
        else:
            _load_sqlite(engine, rows, now, body)
        with engine.begin() as conn:
            for year, number in sorted(numbers.items()):
                conn.execute(
                    text("INSERT INTO reference_counters (year, last_number) VALUES (:y, :n)"),
                    {"y": year, "n": number},
                )
            counts["outbox"] = int(
                conn.execute(text("SELECT count(*) FROM email_outbox")).scalar_one()
            )
        if ctx.backend == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    # The search targets: an open, assigned request in the middle of the queue.
    ix = {name: i for i, name in enumerate(REQUEST_COLUMNS)}
    opens = [r for r in rows if r[ix["closed_at"]] is None and r[ix["subject_name"]]]
    target = opens[len(opens) // 2]
    data = RequestsData(
        url=url,
        now=now,
        handler_email=handler_email,
        admin_email=admin_email,
        password=PASSWORD,
        staff_ids=staff_ids,
        search_name=target[ix["subject_name"]],
        search_email=target[ix["subject_email"]],
        search_reference=target[ix["reference"]],
        counts=counts,
    )
    data.build_seconds = time.perf_counter() - started
    log(f"requests data: built in {data.build_seconds:.0f} s ({counts})")
    return data


# --- loading ---------------------------------------------------------------------------------


def _secondary_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's indexes that no constraint owns."""
    found = conn.execute(
        text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.tablename = :t AND i.schemaname = current_schema() "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ),
        {"t": table},
    )
    return [(name, ddl) for name, ddl in found]


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Any) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _load_postgresql(engine: Engine, rows: list[tuple], now: datetime, body: str) -> None:
    json_at = REQUEST_COLUMNS.index("details")

    def request_rows() -> Iterator[tuple]:
        for row in rows:
            yield (*row[:json_at], json.dumps(row[json_at]), *row[json_at + 1 :])

    with engine.begin() as conn:
        # Rows are consistent by construction; foreign keys are not re-checked row by row.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        dropped: list[str] = []
        for table in ("requests", "email_outbox"):
            for name, ddl in _secondary_indexes(conn, table):
                conn.execute(text(f'DROP INDEX "{name}"'))
                dropped.append(ddl)
        log("requests data: copying requests")
        _copy(conn, "requests", REQUEST_COLUMNS, request_rows())
        log("requests data: copying the outbox")
        _copy(conn, "email_outbox", OUTBOX_COLUMNS, outbox_rows(rows, now, body))
        log("requests data: building indexes")
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for ddl in dropped:
            conn.execute(text(ddl))
        for table in ("requests", "email_outbox"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )


def _load_sqlite(engine: Engine, rows: list[tuple], now: datetime, body: str) -> None:
    requests_table = Request.__table__  # type: ignore[attr-defined]
    outbox_table = EmailOutbox.__table__  # type: ignore[attr-defined]
    batch = 20_000
    with engine.begin() as conn:
        for start in range(0, len(rows), batch):
            conn.execute(
                insert(requests_table),
                [
                    dict(zip(REQUEST_COLUMNS, row, strict=True))
                    for row in rows[start : start + batch]
                ],
            )
        chunk: list[dict[str, Any]] = []
        for row in outbox_rows(rows, now, body):
            chunk.append(dict(zip(OUTBOX_COLUMNS, row, strict=True)))
            if len(chunk) >= batch:
                conn.execute(insert(outbox_table), chunk)
                chunk = []
        if chunk:
            conn.execute(insert(outbox_table), chunk)
