"""Erasure: a subject with many records erased through the service's erasure path.

Every run gets a fresh subject of the same shape as the access workload's (the same
number of records, spread over the shop's twelve years) added to the customer database,
files an erasure request for it, plans and approves it, and times ``execute``, which
locates the subject again, fixes the work list and works through it in batches of
``erasure.batch_size`` rows, each batch a transaction on the customer database followed by
a committed checkpoint and an audit event in the service's database. Orders and order lines
still inside Bokföringslagen's seven years are kept (as follow-ups), older orders are
anonymized, older lines deleted, tickets, consents and logins deleted, the customer row
anonymized.

The baseline does the same to another fresh subject with plain SQL: three DELETEs by
customer, one DELETE of the old order lines, one UPDATE of the old orders and one of the
customer row, in one transaction.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import text

from bench import sourcedata
from bench.harness import Context, Figure, log
from bench.subject_child import execute, file_request, plan_and_approve, runs, service

TITLE = "Erasure"


def _raw_statements(backend: str) -> list[str]:
    year_start = (
        "strftime('%Y-01-01 00:00:00.000000', created_at)"
        if backend == "sqlite"
        else "date_trunc('year', created_at)"
    )
    return [
        "DELETE FROM logins WHERE customer_id = :cid",
        "DELETE FROM newsletter_consents WHERE customer_id = :cid",
        "DELETE FROM support_tickets WHERE customer_id = :cid OR lower(email) = :email",
        """DELETE FROM order_lines WHERE ordered_at < :cutoff
            AND order_id IN (SELECT id FROM orders WHERE customer_id = :cid)""",
        """UPDATE orders SET delivery_name = '[anonymiserad]', delivery_street = NULL,
            delivery_postcode = NULL, delivery_city = NULL
            WHERE customer_id = :cid AND ordered_at < :cutoff""",
        f"""UPDATE customers SET customer_number = 'anon-' || id,
            first_name = '[anonymiserad]', last_name = '[anonymiserad]', personnummer = NULL,
            email = 'anonymized-' || id || '@invalid', phone = NULL, street = NULL,
            postcode = NULL, city = NULL, created_at = {year_start}, last_login_at = NULL,
            newsletter = NULL
            WHERE id = :cid""",
    ]


def raw_erasure(db: sourcedata.CustomerDatabase, subject: sourcedata.Subject) -> tuple[float, int]:
    """The same erasure in plain SQL: (seconds, rows changed)."""
    # Bokföringslagen 7:2: kept until the end of the seventh year after the order's year.
    cutoff = datetime(datetime.now().year - 7, 1, 1)
    params = {"cid": subject.customer_id, "email": subject.email, "cutoff": cutoff}
    engine = db.engine()
    try:
        started = time.perf_counter()
        changed = 0
        with engine.begin() as conn:
            for sql in _raw_statements(db.backend):
                changed += conn.execute(text(sql), params).rowcount
        return time.perf_counter() - started, changed
    finally:
        engine.dispose()


def _counts(outcome: dict[str, Any]) -> dict[str, int]:
    found = {"deleted": 0, "anonymized": 0, "kept": 0}
    for entry in outcome.get("erased", []):
        found[entry["action"]] += int(entry["changed"])
    found["kept"] = sum(int(k["count"]) for k in outcome.get("kept", []))
    return found


def run(ctx: Context, notes: list[str]) -> list[Figure]:
    from dsr.models import Right

    db = sourcedata.build(ctx)
    svc = service(ctx, db)
    records = ctx.size.subject_records
    samples: dict[str, list[float]] = {k: [] for k in ("plan", "run", "raw", "rate", "raw_rate")}
    counts: dict[str, int] = {}
    batches = 0
    for index in range(runs(ctx)):
        subject = sourcedata.add_subject(db, f"erasure-{index}", records)
        twin = sourcedata.add_subject(db, f"erasure-raw-{index}", records)
        request_id = file_request(svc, Right.erasure, subject)
        plan_id, planned = plan_and_approve(svc, request_id)
        seconds, outcome = execute(svc, plan_id)
        counts = _counts(outcome)
        batches = int(outcome.get("batches", 0))
        changed = counts["deleted"] + counts["anonymized"]
        raw_seconds, raw_changed = raw_erasure(db, twin)
        if raw_changed != changed:
            raise RuntimeError(f"raw SQL changed {raw_changed} rows, the service {changed}")
        log(
            f"erasure run {index}: plan {planned:.2f} s, execute {seconds:.2f} s "
            f"({changed / seconds:,.0f} rows/s), raw {raw_seconds * 1000:.0f} ms; {counts}"
        )
        samples["plan"].append(planned)
        samples["run"].append(seconds)
        samples["raw"].append(raw_seconds)
        samples["rate"].append(changed / seconds)
        samples["raw_rate"].append(raw_changed / raw_seconds)
    raw_name = "raw DELETE/UPDATE"
    figures = [
        Figure(TITLE, f"Erasure of {records:,} records (execute)", "s", samples["run"],
               samples["raw"], raw_name),
        Figure(TITLE, "Rows changed per second", "rows/s", samples["rate"],
               samples["raw_rate"], raw_name, higher_is_better=True),
        Figure(TITLE, "Plan (locate, decide)", "s", samples["plan"]),
    ]  # fmt: skip
    notes.append(
        f"Each run erases a fresh subject with {records:,} records: {counts.get('deleted', 0):,} "
        f"rows deleted, {counts.get('anonymized', 0):,} anonymized and "
        f"{counts.get('kept', 0):,} kept under Bokföringslagen, in {batches} batches of at most "
        f"{svc.app.config['ERASURE_BATCH_SIZE']} rows. The baseline changes the same rows of "
        "another fresh subject with six plain statements in one transaction."
    )
    return figures
