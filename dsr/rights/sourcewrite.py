"""Changing a controller's own databases: by key, with bound parameters, counted.

Every change to a source goes through :class:`SourceSession`, one transaction on one source.
Tables and columns come from reflection, values travel as bound parameters, and rows are
addressed by the key values locating found (never by anything a subject typed). Each
operation first reads the rows it is about to touch, changes only those that differ from the
intended result and says how many that was: running the same change twice changes nothing
the second time, and a re-run after a crash can tell what an earlier run already did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from dsr.sources.datamap import Anonymize, SourceConfigError, SourceMap, TableMap
from dsr.sources.results import plain
from dsr.sources.sql import in_values, reflect_tables

#: Rows per statement; keeps every backend well inside its parameter limit.
CHUNK = 500
#: Seconds to wait for a database server before giving up.
CONNECT_TIMEOUT = 5
#: What a column anonymized by ``redact`` says instead of its value.
REDACTED_MARKER = "[anonymiserad]"

Key = tuple[Any, ...]


class SourceWriteError(Exception):
    """A source could not be changed; the message is for staff and names no password."""


@dataclass(frozen=True)
class Count:
    """What one operation found and did."""

    #: Rows it was asked to touch.
    planned: int
    #: Rows it changed now.
    changed: int
    #: Rows already as intended (changed by an earlier run, or never needing it).
    already: int
    #: Rows no longer there.
    absent: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(
            self.planned + other.planned,
            self.changed + other.changed,
            self.already + other.already,
            self.absent + other.absent,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "planned": self.planned,
            "changed": self.changed,
            "already": self.already,
            "absent": self.absent,
        }


NO_ROWS = Count(0, 0, 0, 0)


def _describe(exc: BaseException, url: str) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    line = (text.strip().splitlines() or [exc.__class__.__name__])[0]
    password = make_url(url).password
    if password:
        line = line.replace(str(password), "***")
    return line[:300]


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself (below) so that reads and writes share a transaction.
    dbapi_connection.isolation_level = None
    # SQLite only enforces foreign keys when asked; a child must never outlive its parent.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # Take the write lock at once: the rows read are the rows then changed.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def writable_engine(source: SourceMap, data_dir: str | os.PathLike[str]) -> tuple[Engine, str]:
    """A pool-less engine that may write to ``source``, and its resolved URL."""
    try:
        url = source.resolve_url(data_dir)
        parsed = make_url(url)
    except (SourceConfigError, SQLAlchemyError) as exc:
        raise SourceWriteError(str(exc)) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            # Connecting would create an empty database file where the real one should be.
            raise SourceWriteError(f"database file {database or '(none)'} does not exist")
        engine = create_engine(url, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine, url
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    try:
        return create_engine(parsed, poolclass=NullPool, connect_args=connect_args), url
    except (SQLAlchemyError, ImportError) as exc:
        raise SourceWriteError(_describe(exc, url)) from None


# --- values ------------------------------------------------------------------------------------


def python_type(column: Column[Any]) -> type | None:
    try:
        kind: type = column.type.python_type
    except NotImplementedError:
        return None
    return kind


def coerce(column: Column[Any], value: Any) -> Any:
    """A JSON value (a key part, a typed-in correction) in the column's own type.

    Raises ValueError when the text cannot be that type (letters for a number, a bad date).
    """
    if value is None:
        return None
    kind = python_type(column)
    if kind is str:
        length = getattr(column.type, "length", None)
        if length is not None and len(str(value)) > length:
            raise ValueError(f"longer than {length} characters")
        return str(value)
    if kind is None or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    if kind is bool:
        lowered = text.lower()
        if lowered in {"1", "true", "ja", "yes", "sant"}:
            return True
        if lowered in {"0", "false", "nej", "no", "falskt"}:
            return False
        raise ValueError(text)
    if kind is int:
        return int(text)
    if kind is float:
        return float(text.replace(",", "."))
    if kind is Decimal:
        try:
            return Decimal(text.replace(",", ".").replace(" ", ""))
        except InvalidOperation:
            raise ValueError(text) from None
    if kind is datetime:
        return datetime.fromisoformat(text)
    if kind is date:
        return date.fromisoformat(text[:10])
    return value


def moment_for(column: Column[Any], now: datetime) -> Any:
    """``now`` in the form the column stores a moment (restriction columns)."""
    kind = python_type(column)
    if kind is bool:
        return True
    if kind is datetime:
        if getattr(column.type, "timezone", False):
            return now.astimezone(UTC)
        return now.astimezone(UTC).replace(tzinfo=None)
    if kind is date:
        return now.date()
    if kind is int:
        return 1
    return now.astimezone(UTC).isoformat(timespec="seconds")


def cleared_for(column: Column[Any]) -> Any:
    """What a consent or restriction column holds when there is none: false, 0 or NULL."""
    kind = python_type(column)
    if kind is bool:
        return False
    if kind is int and not column.nullable:
        return 0
    return None


def key_text(key: Sequence[Any]) -> str:
    return "/".join(str(plain(part)) for part in key)


def anonymized(
    table: TableMap, reflected: Table, key: Sequence[Any], row: Mapping[str, Any]
) -> dict[str, Any]:
    """The values an anonymized row gets, column by column, from the data map's rules."""
    values: dict[str, Any] = {}
    for name, mapped in table.columns.items():
        rule = mapped.anonymize
        if rule is None or rule is Anonymize.keep:
            continue
        column = reflected.c[name]
        kind = python_type(column)
        current = row.get(name)
        if rule is Anonymize.null:
            values[name] = None
        elif rule is Anonymize.redact:
            values[name] = REDACTED_MARKER if kind is str else None
        elif rule is Anonymize.placeholder:
            if kind is int:
                first = key[0] if key else None
                values[name] = -first if isinstance(first, int) else None
            else:
                text = f"anon-{key_text(key)}"
                length = getattr(column.type, "length", None)
                values[name] = text[:length] if length else text
        elif rule is Anonymize.placeholder_email:
            values[name] = f"anonymized-{key_text(key)}@invalid"
        elif rule is Anonymize.year:
            values[name] = _first_of_year(current)
    return values


def _first_of_year(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if isinstance(value, date):
        return value.replace(month=1, day=1)
    text = str(value)
    if len(text) >= 4 and text[:4].isdigit():
        return f"{text[:4]}-01-01"
    return None


# --- one transaction on one source -----------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SourceSession:
    """One transaction on one source: ``with SourceSession(source, data_dir) as s: ...``.

    Commits when the block ends normally, rolls everything back when it raises. Database
    errors come out as :class:`SourceWriteError`.
    """

    def __init__(
        self,
        source: SourceMap,
        data_dir: str | os.PathLike[str],
        *,
        tables: dict[str, Table] | None = None,
    ) -> None:
        """``tables`` keeps the reflected tables for the next session on the same source
        (the batches of one run), which then need not reflect them again."""
        self.source = source
        self.engine, self.url = writable_engine(source, data_dir)
        self._connection: Connection | None = None
        self._tables: dict[str, Table] = {} if tables is None else tables

    def __enter__(self) -> SourceSession:
        try:
            self._connection = self.engine.connect()
            self._connection.begin()
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise SourceWriteError(_describe(exc, self.url)) from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._connection
        assert connection is not None
        try:
            if exc_type is None:
                connection.commit()
            else:
                connection.rollback()
        except SQLAlchemyError as error:
            raise SourceWriteError(_describe(error, self.url)) from None
        finally:
            connection.close()
            self.engine.dispose()
        if isinstance(exc, SQLAlchemyError):
            raise SourceWriteError(_describe(exc, self.url)) from None

    @property
    def connection(self) -> Connection:
        assert self._connection is not None, "use SourceSession as a context manager"
        return self._connection

    def table(self, name: str) -> Table:
        """The reflected table (views are not written to)."""
        if name not in self._tables:
            found = reflect_tables(self.connection, self.source.schema, [name], views=False)
            if name not in found:
                raise SourceWriteError(f"table {name} does not exist in {self.source.name}")
            self._tables[name] = found[name]
        return self._tables[name]

    def key_columns(self, mapped: TableMap) -> list[Column[Any]]:
        reflected = self.table(mapped.name)
        names = mapped.key or tuple(c.name for c in reflected.primary_key.columns)
        if not names:
            raise SourceWriteError(f"table {mapped.name} has no key to address rows by")
        return [reflected.c[name] for name in names]

    def typed_keys(self, mapped: TableMap, keys: Sequence[Sequence[Any]]) -> list[Key]:
        columns = self.key_columns(mapped)
        typed = []
        for key in keys:
            if len(key) != len(columns):
                raise SourceWriteError(f"a key of {mapped.name} does not fit its key columns")
            try:
                typed.append(tuple(coerce(c, part) for c, part in zip(columns, key, strict=True)))
            except ValueError:
                raise SourceWriteError(f"a key of {mapped.name} is not of its type") from None
        return typed

    def _where(self, columns: Sequence[Column[Any]], keys: Sequence[Key]) -> Any:
        if len(columns) == 1:
            return in_values(columns[0], [k[0] for k in keys], self.connection)
        return tuple_(*columns).in_(keys)

    def rows(
        self, mapped: TableMap, keys: Sequence[Key], columns: Sequence[str] = ()
    ) -> dict[Key, dict[str, Any]]:
        """The rows with these keys that exist, with the named columns."""
        reflected = self.table(mapped.name)
        key_columns = self.key_columns(mapped)
        wanted = [*key_columns, *(reflected.c[c] for c in columns if c in reflected.c)]
        found: dict[Key, dict[str, Any]] = {}
        for chunk in _chunks(keys):
            statement = select(*wanted).where(self._where(key_columns, chunk))
            for row in self.connection.execute(statement):
                mapping = dict(row._mapping)
                found[tuple(mapping[c.name] for c in key_columns)] = mapping
        return found

    def delete(self, mapped: TableMap, keys: Sequence[Key]) -> Count:
        """Delete the rows; rows already gone count as ``absent``."""
        key_columns = self.key_columns(mapped)
        present = self.rows(mapped, keys)
        targets = [k for k in keys if k in present]
        for chunk in _chunks(targets):
            self.connection.execute(
                delete(self.table(mapped.name)).where(self._where(key_columns, chunk))
            )
        return Count(len(keys), len(targets), 0, len(keys) - len(targets))

    def set_values(
        self,
        mapped: TableMap,
        keys: Sequence[Key],
        intended: Callable[[Key, Mapping[str, Any]], Mapping[str, Any]],
        columns: Sequence[str],
    ) -> Count:
        """Give each row the values ``intended(key, row)`` returns; change only rows that differ.

        ``columns`` are read first, so ``intended`` can build on the current values and
        rows already as intended are left alone.
        """
        reflected = self.table(mapped.name)
        key_columns = self.key_columns(mapped)
        present = self.rows(mapped, keys, columns)
        changes: list[dict[str, Any]] = []
        names: list[str] = []
        already = 0
        for key in keys:
            row = present.get(key)
            if row is None:
                continue
            values = dict(intended(key, row))
            if all(_same(row.get(c), v) for c, v in values.items()):
                already += 1
                continue
            names = sorted(set(names) | values.keys())
            changes.append({"key": key, "values": values})
        for name in names:
            if name not in reflected.c:
                raise SourceWriteError(f"table {mapped.name} has no column {name}")
        # One statement per set of changed columns, executed for many rows at once.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for change in changes:
            groups.setdefault(tuple(sorted(change["values"])), []).append(change)
        for columns_changed, group in groups.items():
            condition = [c == bindparam(f"k_{i}") for i, c in enumerate(key_columns)]
            statement = (
                update(reflected)
                .where(*condition)
                .values({name: bindparam(f"v_{name}") for name in columns_changed})
            )
            parameters = [
                {
                    **{f"k_{i}": part for i, part in enumerate(change["key"])},
                    **{f"v_{name}": change["values"][name] for name in columns_changed},
                }
                for change in group
            ]
            for chunk in _chunks(parameters):
                self.connection.execute(statement, list(chunk))
        return Count(len(keys), len(changes), already, len(keys) - len(present))

    def anonymize(self, mapped: TableMap, keys: Sequence[Key]) -> Count:
        reflected = self.table(mapped.name)
        columns = [
            name
            for name, column in mapped.columns.items()
            if column.anonymize is not None and column.anonymize is not Anonymize.keep
        ]
        return self.set_values(
            mapped, keys, lambda key, row: anonymized(mapped, reflected, key, row), columns
        )

    def set_column(self, mapped: TableMap, keys: Sequence[Key], column: str, value: Any) -> Count:
        return self.set_values(mapped, keys, lambda key, row: {column: value}, [column])

    def column(self, mapped: TableMap, name: str) -> Column[Any]:
        reflected = self.table(mapped.name)
        if name not in reflected.c:
            raise SourceWriteError(f"table {mapped.name} has no column {name}")
        return reflected.c[name]


def _same(current: Any, intended: Any) -> bool:
    if current is None or intended is None:
        return current is intended
    if isinstance(current, datetime) and isinstance(intended, datetime):
        # A database without time zones hands back naive values for what was written aware.
        if (current.tzinfo is None) != (intended.tzinfo is None):
            current, intended = current.replace(tzinfo=None), intended.replace(tzinfo=None)
        return bool(current == intended)
    if isinstance(current, bool) or isinstance(intended, bool):
        return bool(current) == bool(intended) and type(current) in (bool, int)
    if isinstance(current, Decimal | float | int) and isinstance(intended, Decimal | float | int):
        return Decimal(str(current)) == Decimal(str(intended))
    return bool(current == intended) or plain(current) == plain(intended)


#: Called once a source has committed: (source name, the counts of its tables).
AfterSource = Callable[[str, list[dict[str, Any]]], None]
#: Changes one entry's records in an open source session and counts what it did.
ColumnChange = Callable[[SourceSession, TableMap, Mapping[str, Any]], Count]


def change_column_per_source(
    env: Any,
    entries: Sequence[Mapping[str, Any]],
    change: ColumnChange,
    after_source: AfterSource | None = None,
) -> list[dict[str, Any]]:
    """Apply ``change`` to each entry (one table's records and one column), one transaction
    per source; return the counts per table.

    A source that cannot be changed is left as it was and stops the run with a
    :class:`~dsr.workflow.WorkflowError` naming it; sources before it stay committed, and
    ``after_source`` has already recorded them.
    """
    from dsr.rights.base import source_not_changed  # base builds on this module

    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        if entry.get("column"):
            grouped.setdefault(entry["source"], []).append(entry)
    done: list[dict[str, Any]] = []
    for source_name, group in grouped.items():
        source = env.profile.source(source_name)
        before = len(done)
        try:
            with SourceSession(source, env.data_dir) as writer:
                for entry in group:
                    count = change(writer, source.table(entry["table"]), entry)
                    done.append(
                        {
                            "source": entry["source"],
                            "table": entry["table"],
                            "label": entry["label"],
                            "column": entry["column"],
                            **count.as_dict(),
                        }
                    )
        except SourceWriteError as exc:
            raise source_not_changed(source, exc) from None
        if after_source is not None:
            after_source(source_name, done[before:])
    return done
