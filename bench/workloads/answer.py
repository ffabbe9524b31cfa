"""Locate and answer: an access request for the subject with many records, end to end.

Each run files a new access request for the same subject (web form, emailed code), plans,
approves and executes it through ``dsr.rights.service`` (which locates the subject twice,
once for the plan and once to execute it), then starts a fresh process that locates the
subject once more, builds the answer from the executed plan and writes its JSON document
and its PDF, each timed, and reports its peak RSS.

The baseline is the raw SQL a person would write to fetch the same rows with the same
columns (the key and every mapped column of the six tables, reached from the email
address through the same links), fetched whole on a new connection, timed in the same run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from bench import sourcedata
from bench.harness import Context, Figure, clock, log
from bench.subject_child import (
    close_request,
    execute,
    file_request,
    plan_and_approve,
    run_child,
    runs,
    service,
)

TITLE = "Locate and answer"

#: The subject's records, with the key and the mapped columns of each table.
RAW_QUERIES = (
    """SELECT c.id, c.customer_number, c.first_name, c.last_name, c.personnummer, c.email,
        c.phone, c.street, c.postcode, c.city, c.created_at, c.last_login_at, c.newsletter
    FROM customers c WHERE lower(c.email) = :email""",
    """SELECT o.id, o.order_number, o.ordered_at, o.status, o.total_sek, o.delivery_name,
        o.delivery_street, o.delivery_postcode, o.delivery_city
    FROM orders o JOIN customers c ON c.id = o.customer_id WHERE lower(c.email) = :email""",
    """SELECT l.id, l.product, l.quantity, l.unit_price_sek, l.ordered_at
    FROM order_lines l JOIN orders o ON o.id = l.order_id
    JOIN customers c ON c.id = o.customer_id WHERE lower(c.email) = :email""",
    """SELECT t.id, t.email, t.subject, t.body, t.opened_at, t.closed_at
    FROM support_tickets t
    WHERE t.customer_id IN (SELECT id FROM customers WHERE lower(email) = :email)
        OR lower(t.email) = :email""",
    """SELECT n.id, n.list, n.consent_given, n.given_at, n.withdrawn_at, n.channel
    FROM newsletter_consents n JOIN customers c ON c.id = n.customer_id
    WHERE lower(c.email) = :email""",
    """SELECT g.id, g.logged_in_at, g.ip_address, g.user_agent
    FROM logins g JOIN customers c ON c.id = g.customer_id WHERE lower(c.email) = :email""",
)


def raw_fetch(url: str, email: str) -> int:
    """Every row of the subject, fetched with plain SQL on a new connection: rows fetched."""
    from sqlalchemy import text

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return sum(
                len(conn.execute(text(sql), {"email": email}).fetchall()) for sql in RAW_QUERIES
            )
    finally:
        engine.dispose()


def subject_for(ctx: Context, db: sourcedata.CustomerDatabase) -> sourcedata.Subject:
    subject = db.subjects.get("answer")
    if subject is None:
        subject = sourcedata.add_subject(db, "answer", ctx.size.subject_records)
    return subject


def run(ctx: Context, notes: list[str]) -> list[Figure]:
    from dsr.models import Right

    db = sourcedata.build(ctx)
    subject = subject_for(ctx, db)
    svc = service(ctx, db)
    expected = subject.total + 1

    rows = raw_fetch(db.url, subject.email)  # warms the cache for both sides
    if rows != expected:
        raise RuntimeError(f"the raw SQL found {rows} rows, expected {expected}")

    samples: dict[str, list[float]] = {
        k: []
        for k in ("raw", "plan", "execute", "locate", "json", "cold", "pdf", "rss", "rss_json")
    }
    last: dict[str, Any] = {}
    warmups = 0 if ctx.size.name == "tiny" else 1
    for index in range(runs(ctx) + warmups):
        request_id = file_request(svc, Right.access, subject)
        plan_id, planned = plan_and_approve(svc, request_id)
        executed, outcome = execute(svc, plan_id)
        if int(outcome["record_count"]) != expected:
            raise RuntimeError(f"the answer holds {outcome['record_count']} records")
        raw = clock(lambda: raw_fetch(db.url, subject.email))
        last = run_child(ctx, svc, "answer", request_id, ctx.workdir / f"answer-{index}")
        close_request(svc, request_id)
        log(
            f"answer run {index}: raw {raw * 1000:.0f} ms, locate {last['locate'] * 1000:.0f} ms, "
            f"JSON {last['json'] * 1000:.0f} ms, PDF {last['pdf']:.1f} s, "
            f"peak {last['rss_peak']:.0f} MiB"
        )
        if index < warmups:
            continue  # a warm-up: the first child also fills the caches it reads through
        samples["raw"].append(raw * 1000)
        samples["plan"].append(planned)
        samples["execute"].append(executed)
        samples["locate"].append(last["locate"] * 1000)
        samples["json"].append(last["json"] * 1000)
        samples["cold"].append(last["cold"] * 1000)
        samples["pdf"].append(last["pdf"])
        samples["rss"].append(last["rss_peak"])
        samples["rss_json"].append(last["rss_json"])

    both = [a + b for a, b in zip(samples["locate"], samples["json"], strict=True)]
    records = f"{subject.total:,}"
    raw_name = "raw SQL fetch of the same rows"
    figures = [
        Figure(TITLE, f"Locate ({records} records)", "ms", samples["locate"],
               samples["raw"], raw_name),
        Figure(TITLE, "JSON answer from the executed plan", "ms", samples["json"],
               samples["raw"], raw_name),
        Figure(TITLE, "Time to JSON (locate + JSON)", "ms", both, samples["raw"], raw_name,
               target="≤ 3× raw SQL", check=lambda f: (f.ratio or 0) <= 3),
        Figure(TITLE, "Time to JSON, first answer of a fresh process", "ms",
               samples["cold"], samples["raw"], raw_name),
        Figure(TITLE, "PDF", "s", samples["pdf"], target="≤ 30 s",
               check=lambda f: f.median <= 30),
        Figure(TITLE, "Plan (locate, decide)", "s", samples["plan"]),
        Figure(TITLE, "Execute (locate again, store the outcome)", "s", samples["execute"]),
        Figure(TITLE, "Peak RSS after JSON", "MiB", samples["rss_json"]),
        Figure(TITLE, "Peak RSS of the answer process", "MiB", samples["rss"]),
    ]  # fmt: skip
    notes.append(
        sourcedata.describe(db, ctx.shared.get("customer_db_rows"))
        + f" Built in {ctx.shared.get('customer_db_seconds', 0):.0f} s."
    )
    notes.append(
        f"The subject has {records} records ({_spread(subject)}) plus the customer row. "
        f"Each run is a new access request carried out through the service; then a fresh "
        f"process locates and writes the JSON once to warm up, as the long-running scheduler "
        f'that builds answers would have done before (that first pass is the "fresh '
        f'process" figure), then locates, writes the JSON '
        f"({last.get('json_bytes', 0) / 1e6:.1f} MB) and the PDF "
        f"({last.get('pdf_bytes', 0) / 1e6:.1f} MB, at most "
        f"{svc.app.config['EXPORTS_PDF_ROWS_PER_TABLE']} rows a table), each timed. "
        "The baseline fetches the same rows and columns with six plain queries on a new "
        "connection. One warm-up run is not counted."
    )
    return figures


def _spread(subject: sourcedata.Subject) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in subject.records.items())
