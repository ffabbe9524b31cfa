"""Test helpers: databases to create and drop, an SMTP sink, a live server, HTML parsing."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from dsr import migrate

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- databases -----------------------------------------------------------------------------


class DatabaseFactory:
    """Creates migrated databases for one backend and drops them all at the end.

    The schema is built once, by running the real migrations, into a template; every database
    a test asks for is a copy of it (``CREATE DATABASE ... TEMPLATE`` on PostgreSQL, a file
    copy on SQLite), which takes milliseconds.
    """

    def __init__(self, backend: str, workdir: Path, pg_admin_url: str) -> None:
        self.backend = backend
        self.workdir = workdir
        self.pg_admin_url = pg_admin_url
        self.prefix = f"dsr_test_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []
        self._template: str | None = None
        self._sources: str | None = None

    def _admin(self) -> Any:
        return create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=None)

    def _pg_url(self, name: str) -> str:
        return make_url(self.pg_admin_url).set(database=name).render_as_string(hide_password=False)

    def template(self) -> str:
        if self._template is None:
            if self.backend == "sqlite":
                url = f"sqlite:///{self.workdir / 'template.sqlite3'}"
            else:
                name = f"{self.prefix}_tpl"
                engine = self._admin()
                with engine.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                engine.dispose()
                self.created.append(name)
                url = self._pg_url(name)
            migrate.upgrade(url)
            self._template = url
        return self._template

    def new(self, label: str = "db") -> str:
        """A fresh, migrated, empty database; returns its URL."""
        template = self.template()
        suffix = f"{label}_{uuid.uuid4().hex[:8]}"
        if self.backend == "sqlite":
            source = Path(template.removeprefix("sqlite:///"))
            target = self.workdir / f"{suffix}.sqlite3"
            shutil.copyfile(source, target)
            return f"sqlite:///{target}"
        name = f"{self.prefix}_{suffix}"
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.prefix}_tpl"'))
        engine.dispose()
        self.created.append(name)
        return self._pg_url(name)

    def empty(self, label: str = "empty") -> str:
        """URL of a new, empty database, not migrated: a customer system for sources tests.

        On PostgreSQL it is a fresh schema in one shared database, made the connection's
        search path by the URL: a whole database per test would cost a checkpoint to create
        and another to drop.
        """
        suffix = f"{label}_{uuid.uuid4().hex[:8]}"
        if self.backend == "sqlite":
            target = self.workdir / f"{suffix}.sqlite3"
            target.touch()
            return f"sqlite:///{target}"
        if self._sources is None:
            name = f"{self.prefix}_sources"
            admin = self._admin()
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            self.created.append(name)
            self._sources = self._pg_url(name)
        engine = create_engine(self._sources, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{suffix}"'))
        engine.dispose()
        url = make_url(self._sources).update_query_dict({"options": f"-csearch_path={suffix}"})
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.backend != "postgresql" or not self.created:
            return
        engine = self._admin()
        with engine.connect() as conn:
            for name in reversed(self.created):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def postgres_problem(url: str) -> str | None:
    """None if the server answers, else why not."""
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot use it"
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()


# --- email ---------------------------------------------------------------------------------


@dataclass
class SMTPSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def start(self) -> SMTPSink:
        from aiosmtpd.controller import Controller

        self.port = self.port or free_port()
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} emails, got {len(self.messages)}")

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]


def text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "email has no text/plain part"
    return str(part.get_content())


def html_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "email has no text/html part"
    return str(part.get_content())


# --- HTTP ----------------------------------------------------------------------------------


class Client(FlaskClient):
    """The Flask test client, plus form posting with the page's real CSRF token.

    Each request runs in a fresh app context, as in production, so nothing a view keeps in
    ``g`` (the session, the logged-in user) leaks from one request into the next even when
    the test itself holds an app context.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def csrf_token(self, page: str = "/staff/login") -> str:
        html = self.get(page).get_data(as_text=True)
        match = CSRF_META.search(html) or CSRF_INPUT.search(html)
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def submit(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST a form the way a browser would, CSRF token included."""
        payload = dict(data or {})
        payload.setdefault("csrf_token", self.csrf_token())
        return self.post(url, data=payload, **kwargs)


# --- live server -----------------------------------------------------------------------------


class LiveServer:
    """The app served over real HTTP on loopback, in a thread, for the browser."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.port = free_port()
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError(
            "Debian's chromium is not installed; `make test` installs it (apt-get install chromium)"
        )
    return path


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def iter_forms(html: str) -> Iterator[str]:
    yield from re.findall(r"<form\b.*?</form>", html, flags=re.S | re.I)


# --- requests --------------------------------------------------------------------------------


def new_request(session: Any, **fields: Any) -> Any:
    """A request row as intake would leave it, without intake: for tests of later steps."""
    from datetime import UTC, date, datetime

    from dsr.models import Channel, Request, Right

    received = fields.pop("received_at", datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    row = Request(
        reference=fields.pop("reference", f"DSR-2026-{uuid.uuid4().int % 1_000_000:06d}"),
        right=fields.pop("right", Right.access),
        channel=fields.pop("channel", Channel.web),
        received_at=received,
        due_target=fields.pop("due_target", date(2026, 4, 5)),
        due_legal=fields.pop("due_legal", date(2026, 4, 7)),
        first_due_legal=fields.pop("first_due_legal", date(2026, 4, 7)),
        **fields,
    )
    session.add(row)
    session.flush()
    return row
