"""Database plumbing: engine, sessions, UTC datetimes and the metadata naming convention.

Views and jobs own the transaction: they get a session here, call services (which only
``flush``) and ``commit`` once. Nothing connects at import time or in ``create_app``; the
engine is built on first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Connection, DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


def utcnow() -> datetime:
    """The current instant as an aware UTC datetime (frozen by tests through time-machine)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is stored as
    naive UTC and made aware again on the way out. Naive datetimes are refused on the way in:
    a wall-clock time without a zone is a bug waiting to happen.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite starts transactions lazily on its own, which breaks SAVEPOINTs and lets a
    # read-then-write interleave; let SQLAlchemy issue BEGIN itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    # SQLite's lower() only folds ASCII; Swedish names need å, ä and ö folded too.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the service's own database, with the settings each backend needs."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 10})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class Database:
    """Owns the engine and hands out sessions; registered as ``app.extensions['dsr.db']``."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self.url: str | None = None
        #: Tests bind every session to one connection inside an outer transaction that is
        #: rolled back afterwards; ``commit()`` then only releases a savepoint.
        self.bind_override: Connection | None = None

    def init_app(self, app: Flask) -> None:
        self.url = app.config["DATABASE_URL"]
        app.extensions["dsr.db"] = self
        app.teardown_appcontext(self._close_request_session)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            assert self.url is not None, "Database.init_app was not called"
            if self.url.startswith("sqlite"):
                from pathlib import Path

                path = self.url.removeprefix("sqlite:///")
                if path and path != ":memory:":
                    # Best effort; if it fails, connecting reports the real problem.
                    with contextlib.suppress(OSError):
                        Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._engine = make_engine(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def new_session(self) -> Session:
        """A session the caller owns (jobs, CLI commands). Close it when done."""
        if self.bind_override is not None:
            return Session(bind=self.bind_override, join_transaction_mode="create_savepoint")
        return Session(self.engine)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error: one unit of work."""
        session = self.new_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def session(self) -> Session:
        """The session of the current request (or app context), created on first use."""
        if "dsr_session" not in g:
            g.dsr_session = self.new_session()
        return g.dsr_session

    def _close_request_session(self, _exc: BaseException | None) -> None:
        session = g.pop("dsr_session", None)
        if session is not None:
            session.rollback()
            session.close()


def get_db(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["dsr.db"]


def session() -> Session:
    """Shortcut for views: the current request's session."""
    return get_db().session


def isolated_engine(url: str) -> Engine:
    """An engine without pooling, for short-lived tools (migrations, health checks)."""
    return make_engine(url, poolclass=NullPool)


def as_local_date(moment: datetime, tz: Any) -> date:
    return moment.astimezone(tz).date()
