"""Fixtures shared by the whole suite.

Every database test runs twice: once on SQLite and once on PostgreSQL (``backend``). The
schema comes from the real migrations. A test gets a ``db`` session inside a transaction
that is rolled back afterwards; tests that need real commits (other processes, a live
server) ask for ``fresh_database`` instead.

PostgreSQL: ``DSR_TEST_POSTGRES_URL`` (default the local server, user postgres) names a
server where tests may create and drop databases; ``DSR_TEST_POSTGRES=off`` turns that half
of the suite off explicitly. An unreachable server stops the run; it never skips silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlmodel import Session

from dsr import create_app
from dsr.audit import Actor
from dsr.db import get_db, utcnow
from dsr.models import Channel, Regime, Request, Right, StaffRole, StaffUser
from tests.support import Client, DatabaseFactory, SMTPSink, postgres_problem

PG_URL = os.environ.get(
    "DSR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_ENABLED = os.environ.get("DSR_TEST_POSTGRES", "on").strip().lower() not in {
    "off",
    "0",
    "no",
    "false",
}
BACKENDS = ["sqlite", "postgresql"] if PG_ENABLED else ["sqlite"]

TEST_SECRET = "test-secret-key-that-is-long-enough-to-pass-validation"
STAFF_PASSWORD = "correct horse battery staple"  # noqa: S105


def pytest_sessionstart(session: pytest.Session) -> None:
    if not PG_ENABLED:
        return
    problem = postgres_problem(PG_URL)
    if problem:
        pytest.exit(
            "The test suite runs against PostgreSQL as well as SQLite, and the server at "
            f"{PG_URL} cannot be used ({problem}).\n"
            "  Start it, or point the tests at another server with "
            "DSR_TEST_POSTGRES_URL=postgresql+psycopg://user@host:5432/postgres,\n"
            "  or run only the SQLite half, explicitly, with DSR_TEST_POSTGRES=off.",
            returncode=3,
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    if PG_ENABLED:
        return [f"databases: sqlite and postgresql ({PG_URL})"]
    return ["databases: sqlite only -- PostgreSQL turned off by DSR_TEST_POSTGRES=off"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PG_ENABLED:
        terminalreporter.write_line(
            "NOTE: the PostgreSQL half of the suite did not run (DSR_TEST_POSTGRES=off).",
            yellow=True,
        )


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def databases(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(backend, tmp_path_factory.mktemp(f"db-{backend}"), PG_URL)
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPSink]:
    sink = SMTPSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_server: SMTPSink) -> SMTPSink:
    """The SMTP sink, emptied for this test."""
    smtp_server.clear()
    return smtp_server


def app_settings(database_url: str, data_dir: Path, smtp_port: int, **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "BASE_URL": "http://dsr.test",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_TIMEOUT": 5.0,
        "MAIL_FROM": "dsr@dsr.test",
        "MAIL_PRIVACY_TEAM": "privacy-team@dsr.test",
        "MAIL_DEV_MAILBOX": False,
        "PROFILE": "default",
    }
    settings.update(extra)
    return settings


@pytest.fixture(scope="session")
def make_app(
    databases: DatabaseFactory, smtp_server: SMTPSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Flask]]:
    """Build an app on its own fresh database (for live servers and other processes)."""
    built: list[Flask] = []

    def build(**extra: Any) -> Flask:
        url = extra.pop("DATABASE_URL", None) or databases.new("app")
        data_dir = tmp_path_factory.mktemp("data")
        app = create_app(app_settings(url, data_dir, smtp_server.port, **extra))
        app.test_client_class = Client
        built.append(app)
        return app

    yield build
    for app in built:
        get_db(app).dispose()


@pytest.fixture(scope="session")
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session in a transaction that is rolled back after the test.

    Every session the app opens during the test (views, jobs) joins the same connection
    through savepoints, so they see each other's work and nothing outlives the test.
    """
    database = get_db(app)
    connection = database.engine.connect()
    transaction = connection.begin()
    database.bind_override = connection
    ctx = app.app_context()
    ctx.push()
    session = database.new_session()
    try:
        yield session
    finally:
        session.close()
        ctx.pop()
        database.bind_override = None
        if transaction.is_active:
            transaction.rollback()
        connection.close()


@pytest.fixture
def client(app: Flask, db: Session) -> Client:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def fresh_database(databases: DatabaseFactory) -> str:
    """URL of a new, migrated, empty database that the test may commit to."""
    return databases.new("fresh")


# --- people ------------------------------------------------------------------------------------


@pytest.fixture
def make_staff(db: Session) -> Callable[..., StaffUser]:
    from dsr import accounts

    counter = iter(range(1, 10_000))

    def create(
        role: StaffRole | str = StaffRole.handler, email: str | None = None, **kw: Any
    ) -> StaffUser:
        role = StaffRole(role)
        email = email or f"{role.value}{next(counter)}@staff.test"
        user = accounts.create_staff(
            db,
            email,
            role,
            password=kw.pop("password", STAFF_PASSWORD),
            actor=Actor.system("test"),
            **kw,
        )
        db.commit()
        return user

    return create


@pytest.fixture
def login_as(client: Client, make_staff: Callable[..., StaffUser]) -> Callable[..., StaffUser]:
    """Log the test client in as a new staff member with ``role`` (through the login form)."""

    def login(role: StaffRole | str = StaffRole.handler, **kw: Any) -> StaffUser:
        user = make_staff(role, **kw)
        response = client.submit("/staff/login", {"email": user.email, "password": STAFF_PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return login


@pytest.fixture
def make_request(db: Session) -> Callable[..., Request]:
    """Insert a request directly (bypassing intake), with due dates from the deadline engine."""
    from dsr import deadlines
    from dsr.intake import next_reference

    def create(**fields: Any) -> Request:
        received_at = fields.pop("received_at", None) or utcnow()
        regime = fields.pop("regime", Regime.gdpr)
        due = deadlines.due(received_at, regime=regime)
        year = deadlines.received_date(received_at).year
        fields.setdefault("right", Right.access)
        fields.setdefault("channel", Channel.web)
        fields.setdefault("subject_email", "anna.andersson@example.se")
        fields.setdefault("subject_name", "Anna Andersson")
        request = Request(
            reference=next_reference(db, year),
            regime=regime,
            received_at=received_at,
            due_target=due.target,
            due_legal=due.legal,
            first_due_legal=due.legal,
            **fields,
        )
        db.add(request)
        db.commit()
        return request

    return create


# --- time --------------------------------------------------------------------------------------


@pytest.fixture
def frozen_time() -> Iterator[Callable[[datetime | str], Any]]:
    """``frozen_time("2026-03-05T10:00:00+01:00")`` stops the clock there (call again to move)."""
    import time_machine

    travellers: list[Any] = []

    def freeze(moment: datetime | str) -> Any:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        if travellers:
            travellers.pop().stop()
        traveller = time_machine.travel(moment, tick=False)
        traveller.start()
        travellers.append(traveller)
        return traveller

    yield freeze
    while travellers:
        travellers.pop().stop()


# --- browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from tests.support import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="sv-SE", timezone_id="Europe/Stockholm")
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def artifacts() -> Path:
    """Where browser tests leave screenshots for people to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- OpenID provider ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Any]:
    """The OpenID provider (oidc-provider on loopback) the tests' apps at http://dsr.test use."""
    from tests.oidc import Provider

    provider = Provider("http://dsr.test", []).start()
    yield provider
    provider.stop()


@pytest.fixture
def start_provider() -> Iterator[Callable[..., Any]]:
    """Start a provider of this test's own: ``start_provider("--jwks", "other-key")``."""
    from tests.oidc import Provider

    started: list[Any] = []

    def start(*options: str, base: str = "http://dsr.test") -> Any:
        provider = Provider(base, list(options)).start()
        started.append(provider)
        return provider

    yield start
    for provider in started:
        provider.stop()
