"""Staff queue: latency of the queue page at scale, against the raw SQL of the same page.

A handler logs in through the real login form (Flask test client, CSRF token and all) and
loads ``/staff/`` in several views: the default (open requests by legal due date), a filter,
three searches (a person's full name, an email address, a reference) and page 1000 of every
request by due date. Each run loads each view ``size.queue_samples`` times (after one load to
warm up) and reports p50 and p95; the figures are the median of ``size.repeat`` runs.

The baseline is the SQL the page itself runs: a SQLAlchemy listener records every statement
of one load of the view, and those statements are then run on their own, as many times, by
``psql`` in one session with ``\\timing`` (PostgreSQL, literal values rendered by psycopg) or
by Python's ``sqlite3`` module with the same parameters (SQLite). A page load's baseline is
the sum of its statements.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from bench.harness import Context, Figure, log, percentile, psql_timings
from bench.requests_data import RequestsData, requests_database
from dsr.db import get_db
from dsr.queue import Cursor

TITLE = "Staff queue"
TARGET_MS = 50.0
TARGET_RATIO = 3.0
PAGE = 1000
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


@dataclass
class View:
    name: str
    query: dict[str, str]
    #: (SQL, parameters) of every statement one load runs, as the driver got them.
    statements: list[tuple[str, Any]]

    @property
    def url(self) -> str:
        return "/staff/" + (f"?{urlencode(self.query)}" if self.query else "")


def login(app: Flask, email: str, password: str) -> FlaskClient:
    """A test client logged in through the login form, as a browser would."""
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    match = CSRF.search(page)
    assert match, "no CSRF token on the login page"
    response = client.post(
        "/staff/login", data={"email": email, "password": password, "csrf_token": match.group(1)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def page_cursor(url: str, page: int, page_size: int) -> tuple[int, Cursor | None]:
    """The page number actually used (page 1000, or the last one on a small database) and the
    cursor a "Next page" link to it carries: the sort key of the last row of the page before.

    Built directly (one OFFSET query here, outside the measurement) rather than by following
    999 links; ``check_cursor`` shows the two agree.
    """
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM requests")).scalar_one()
            page = max(1, min(page, math.ceil(total / page_size)))
            if page == 1:
                return page, None
            due_legal, row_id = conn.execute(
                text("SELECT due_legal, id FROM requests ORDER BY due_legal, id LIMIT 1 OFFSET :n"),
                {"n": (page - 1) * page_size - 1},
            ).one()
    finally:
        engine.dispose()
    if isinstance(due_legal, str):  # SQLite hands dates back as text here
        from datetime import date

        due_legal = date.fromisoformat(due_legal)
    return page, Cursor((due_legal, int(row_id)))


NEXT_LINK = re.compile(r'<a class="button" rel="next" href="([^"]+)"')


def check_cursor(client: FlaskClient, url: str, page_size: int, pages: int = 4) -> None:
    """Following "Next page" links from page 1 reaches the page ``page_cursor`` builds."""
    target = "/staff/?status=all"
    for _ in range(pages - 1):
        html = client.get(target).get_data(as_text=True)
        match = NEXT_LINK.search(html)
        if match is None:
            return  # a database smaller than that: nothing to compare
        target = match.group(1).replace("&amp;", "&")
    _page, cursor = page_cursor(url, pages, page_size)
    assert cursor is not None and f"after={cursor.encode()}" in target, (target, cursor)


def capture(app: Flask, client: FlaskClient, url: str) -> list[tuple[str, Any]]:
    """Every statement one load of ``url`` sends to the database."""
    statements: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        # Transaction control (SQLite's BEGIN, savepoints) is not part of the page's SQL.
        if statement.split(None, 1)[0].upper() not in TRANSACTION_CONTROL:
            statements.append((statement, parameters))

    with app.app_context():
        engine = get_db(app).engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        response = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert response.status_code == 200, (url, response.status_code)
    return statements


def time_page(client: FlaskClient, url: str, samples: int) -> list[float]:
    client.get(url)  # warm up
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return out


# --- the baseline ----------------------------------------------------------------------------


def _rendered(url: str, statements: list[tuple[str, Any]]) -> list[str]:
    """The statements with their values written in, as psql will run them."""
    import psycopg

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        cursor = psycopg.ClientCursor(conn)
        return [cursor.mogrify(sql, params) for sql, params in statements]


def raw_postgresql(url: str, statements: list[tuple[str, Any]], samples: int) -> list[float]:
    """Milliseconds per load: the page's statements run ``samples`` times by psql."""
    rendered = _rendered(url, statements)
    times = psql_timings(url, rendered * (samples + 1))  # the first round warms up
    per = len(rendered)
    loads = [sum(times[i : i + per]) for i in range(0, len(times), per)]
    return loads[1:]


def _unicode_lower(value: Any) -> Any:
    # The service registers the same function on its SQLite connections (dsr.db).
    return value.lower() if isinstance(value, str) else value


def raw_sqlite(url: str, statements: list[tuple[str, Any]], samples: int) -> list[float]:
    """Milliseconds per load: the page's statements run ``samples`` times by ``sqlite3``."""
    conn = sqlite3.connect(make_url(url).database or "")
    conn.create_function("lower", 1, _unicode_lower, deterministic=True)
    try:
        loads = []
        for _ in range(samples + 1):
            start = time.perf_counter()
            for sql, params in statements:
                conn.execute(sql, params).fetchall()
            loads.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return loads[1:]


# --- the workload ------------------------------------------------------------------------------


def views(data: RequestsData, url: str, page_size: int) -> tuple[list[View], int]:
    page, cursor = page_cursor(url, PAGE, page_size)
    last_page: dict[str, str] = {"status": "all"}
    if cursor is not None:
        last_page["after"] = cursor.encode()
    chosen = [
        View("default (open, by due date)", {}, []),
        View("filter: right = erasure", {"right": "erasure"}, []),
        View("search: full name", {"q": data.search_name}, []),
        View("search: email address", {"q": data.search_email}, []),
        View("search: reference", {"q": data.search_reference}, []),
        View(f"page {page} of all requests", last_page, []),
    ]
    return chosen, page


def run(ctx: Context, notes: list[str]) -> list[Figure]:
    data = requests_database(ctx)
    app = ctx.make_app(data.url)
    client = login(app, data.handler_email, data.password)
    page_size = app.config["STAFF_PAGE_SIZE"]
    check_cursor(client, data.url, page_size)
    chosen, page = views(data, data.url, page_size)
    for view in chosen:
        view.statements = capture(app, client, view.url)
    raw: Callable[[str, list[tuple[str, Any]], int], list[float]]
    raw = raw_postgresql if ctx.backend == "postgresql" else raw_sqlite
    samples = ctx.size.queue_samples
    p50: dict[str, list[float]] = {v.name: [] for v in chosen}
    p95: dict[str, list[float]] = {v.name: [] for v in chosen}
    base50: dict[str, list[float]] = {v.name: [] for v in chosen}
    base95: dict[str, list[float]] = {v.name: [] for v in chosen}
    for number in range(ctx.size.repeat):
        log(f"queue: run {number + 1} of {ctx.size.repeat}")
        for view in chosen:
            loads = time_page(client, view.url, samples)
            p50[view.name].append(percentile(loads, 0.5))
            p95[view.name].append(percentile(loads, 0.95))
            baseline = raw(data.url, view.statements, samples)
            base50[view.name].append(percentile(baseline, 0.5))
            base95[view.name].append(percentile(baseline, 0.95))

    def fast_enough(figure: Figure) -> bool:
        return figure.median <= TARGET_MS

    def near_raw_sql(figure: Figure) -> bool:
        ratio = figure.ratio
        return ratio is None or ratio <= TARGET_RATIO

    figures: list[Figure] = []
    for view in chosen:
        figures.append(
            Figure(
                TITLE,
                f"{view.name}: p95",
                "ms",
                p95[view.name],
                baseline=base95[view.name],
                baseline_name="raw SQL p95",
                target=f"≤ {TARGET_MS:.0f} ms and ≤ {TARGET_RATIO:.0f}× raw SQL",
                checks={
                    f"≤ {TARGET_MS:.0f} ms": fast_enough,
                    f"≤ {TARGET_RATIO:.0f}×": near_raw_sql,
                },
            )
        )
        figures.append(
            Figure(
                TITLE,
                f"{view.name}: p50",
                "ms",
                p50[view.name],
                baseline=base50[view.name],
                baseline_name="raw SQL p50",
            )
        )
    statements = ", ".join(f"{v.name.split(':')[0]} {len(v.statements)}" for v in chosen)
    notes.append(
        f"{data.counts.get('open', 0):,} open and {data.counts.get('closed', 0):,} closed "
        f"requests ({data.counts.get('anonymized', 0):,} anonymised by retention), built in "
        f"{data.build_seconds:.0f} s. Page loads per view and run: {samples}, by a handler "
        "logged in through the login form (Flask test client, no network)."
    )
    notes.append(
        f"Page {page}: reached with the cursor of the last row of page {page - 1}, built by "
        "one OFFSET query outside the timing (following links from page 1 was checked to give "
        "the same cursor). The searches look for one open request's full name, its email "
        "address and its reference."
    )
    notes.append(
        "Raw SQL: the statements one page load runs (user, scheduler heartbeat, the page's "
        f"rows, the staff list; per view: {statements}), recorded with a SQLAlchemy listener "
        + (
            "and run in one psql session with \\timing, values written in by psycopg."
            if ctx.backend == "postgresql"
            else "and run with Python's sqlite3 module with the same parameters."
        )
    )
    return figures
