"""Finding a subject's rows in a database through SQLAlchemy.

Every table and column comes from reflection and every value travels as a bound parameter:
nothing a profile or a subject wrote is ever pasted into SQL. Each source is read inside one
read-only transaction (REPEATABLE READ on PostgreSQL, one snapshot on SQLite), so rows
reached through links agree with the rows they were reached from. A source that cannot be
reached, or whose mapped tables and columns are not there, is reported as a problem of that
source; an empty result always means "searched, and nothing there".
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import ObjectKind, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from dsr.sources.datamap import IdentityKind, SourceConfigError, SourceMap, TableMap
from dsr.sources.identities import Identities, matches, stored_forms
from dsr.sources.results import (
    PersonMatch,
    ProblemKind,
    Record,
    RecordColumns,
    SourceProblem,
    SourceResult,
    TableResult,
)

#: Values per IN (...) list; keeps every backend well inside its parameter limit.
CHUNK = 500
#: Seconds to wait for a server before calling it unreachable.
CONNECT_TIMEOUT = 5


class SourceFailure(Exception):
    """The source as a whole cannot be read."""

    def __init__(self, problem: SourceProblem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def _describe(exc: BaseException, url: str | None = None) -> str:
    """One line about what went wrong, without the password of the URL."""
    text = str(exc.orig) if isinstance(exc, DBAPIError) and exc.orig is not None else str(exc)
    line = (text.strip().splitlines() or [exc.__class__.__name__])[0]
    if url:
        password = make_url(url).password
        if password:
            line = line.replace(str(password), "***")
    return line[:300]


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself (below), so that every query of a locate run reads
    # from the same snapshot; pysqlite would otherwise run each SELECT on its own.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def source_engine(url: str) -> Engine:
    """A pool-less engine that only reads: SQLite opened read-only, servers with a timeout."""
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        raise SourceFailure(SourceProblem(ProblemKind.unreachable, _describe(exc, None))) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            raise SourceFailure(
                SourceProblem(ProblemKind.unreachable, "an SQLite source must be a file path")
            )
        path = Path(database)
        if not path.is_file():
            # Connecting would create an empty database and report every table missing.
            raise SourceFailure(
                SourceProblem(ProblemKind.unreachable, f"database file {path} does not exist")
            )
        engine = create_engine(
            f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true", poolclass=NullPool
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    try:
        return create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    except (SQLAlchemyError, ImportError) as exc:
        raise SourceFailure(SourceProblem(ProblemKind.unreachable, _describe(exc, url))) from None


def read_only(connection: Connection) -> Connection:
    """The connection with read-only transactions where the backend has them.

    SQLite sources are opened read-only as files (``source_engine``).
    """
    if connection.dialect.name == "postgresql":
        return connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    return connection


def _open(source: SourceMap, data_dir: str | os.PathLike[str]) -> tuple[Engine, str]:
    try:
        url = source.resolve_url(data_dir)
    except SourceConfigError as exc:
        raise SourceFailure(SourceProblem(ProblemKind.unreachable, str(exc))) from None
    return source_engine(url), url


# --- reflection ------------------------------------------------------------------------------


def _link_targets(source: SourceMap) -> dict[str, set[str]]:
    """Per table, the columns other tables link to (their values must be kept)."""
    targets: dict[str, set[str]] = {}
    for table in source.tables:
        for link in table.links:
            targets.setdefault(link.table, set()).add(link.target_column)
    return targets


@dataclass
class _Plan:
    """How one mapped table is read: the reflected table and the columns to select."""

    table: TableMap
    reflected: Table
    key: tuple[str, ...]
    columns: tuple[str, ...]
    unmapped: tuple[str, ...]
    layout: RecordColumns


def _needed_columns(table: TableMap, targets: set[str]) -> list[str]:
    needed = list(table.key)
    needed += list(table.columns)
    needed += [column for _, column in table.identity]
    needed += [link.column for link in table.links]
    needed += sorted(targets)
    for extra in (table.restriction_column, table.marketing_consent_column):
        if extra:
            needed.append(extra)
    if table.retain:
        needed.append(table.retain.from_column)
    return list(dict.fromkeys(needed))


def reflect_tables(
    connection: Connection, schema: str | None, names: Sequence[str], *, views: bool = True
) -> dict[str, Table]:
    """The named tables (and views, unless ``views`` is false) that exist, by name, with
    their columns and primary keys.

    Reading or changing rows by key needs nothing more. Full reflection also reads every
    index, foreign key and constraint, and follows foreign keys to further tables: on a
    server that is a dozen catalogue queries where these two suffice.
    """
    if not names:
        return {}
    inspector = inspect(connection)
    kind = ObjectKind.ANY if views else ObjectKind.TABLE
    wanted = list(dict.fromkeys(names))
    columns = inspector.get_multi_columns(schema=schema, filter_names=wanted, kind=kind)
    keys = inspector.get_multi_pk_constraint(schema=schema, filter_names=wanted, kind=kind)
    metadata = MetaData()
    found: dict[str, Table] = {}
    for (_schema, name), described in columns.items():
        if name not in wanted:
            continue
        key = (keys.get((_schema, name)) or {}).get("constrained_columns") or []
        found[name] = Table(
            name,
            metadata,
            *(Column(c["name"], c["type"], nullable=c.get("nullable", True)) for c in described),
            *([PrimaryKeyConstraint(*key)] if key else []),
            schema=schema,
        )
    return found


def in_values(
    column: Column[Any], values: Sequence[Any], connection: Connection
) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)`` with the values as one
    parameter, a short statement that neither SQLAlchemy nor the driver has to expand and
    parse again value by value for every chunk."""
    if connection.dialect.name == "postgresql" and not isinstance(column.type, NullType):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _reflect(connection: Connection, source: SourceMap) -> dict[str, Table]:
    """The mapped tables (or views) that exist, reflected in one go."""
    return reflect_tables(connection, source.schema, [table.name for table in source.tables])


def _plan(
    reflected_tables: Mapping[str, Table], table: TableMap, targets: set[str]
) -> _Plan | SourceProblem:
    reflected = reflected_tables.get(table.name)
    if reflected is None:
        return SourceProblem(ProblemKind.missing_table, f"table {table.name} does not exist")
    present = {c.name for c in reflected.columns}
    needed = _needed_columns(table, targets)
    missing = [c for c in needed if c not in present]
    if missing:
        return SourceProblem(
            ProblemKind.missing_columns,
            f"table {table.name} has no column {', '.join(missing)}",
        )
    key = table.key or tuple(c.name for c in reflected.primary_key.columns)
    if not key:
        return SourceProblem(
            ProblemKind.no_key, f"table {table.name} has no primary key; set key in the map"
        )
    columns = tuple(dict.fromkeys([*key, *needed]))
    unmapped = tuple(
        c.name for c in reflected.columns if c.name not in columns and c.name not in table.ignore
    )
    return _Plan(table, reflected, tuple(key), columns, unmapped, _layout(table, columns))


# --- locating --------------------------------------------------------------------------------


def _typed(column: Column[Any], values: Sequence[str]) -> list[Any]:
    """Values in the column's type: identities are text, but ids may live in integer columns."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return list(values)
    if python_type is int:
        return [int(v) for v in values if v.isdigit()]
    return list(values)


def _identity_condition(plan: _Plan, identities: Identities) -> Any:
    conditions = []
    for kind, name in plan.table.identity:
        value = identities.value(kind)
        if value is None:
            continue
        column = plan.reflected.c[name]
        if kind is IdentityKind.email:
            conditions.append(func.lower(column) == value)
            continue
        typed = _typed(column, stored_forms(kind, value))
        if typed:
            conditions.append(column.in_(typed))
    return or_(*conditions) if conditions else None


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _search(
    connection: Connection,
    plan: _Plan,
    identities: Identities,
    reached: Mapping[tuple[str, str], Mapping[Any, frozenset[str]]],
) -> list[Record]:
    """The table's rows that belong to the subject, each once however it was reached."""
    columns = [plan.reflected.c[name] for name in plan.columns]
    at = plan.layout.positions
    key_at = [at[name] for name in plan.key]
    #: Key -> the row's values, in the order of the plan's columns.
    found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    streaming = connection.execution_options(yield_per=1000)

    def collect(statement: Any) -> None:
        for row in streaming.execute(statement):
            values = tuple(row)
            found.setdefault(tuple([values[i] for i in key_at]), values)

    condition = _identity_condition(plan, identities)
    if condition is not None:
        collect(select(*columns).where(condition))
    for link in plan.table.links:
        linked_values = list(reached.get((link.table, link.target_column), {}))
        for chunk in _chunks(linked_values):
            column = plan.reflected.c[link.column]
            collect(select(*columns).where(in_values(column, chunk, connection)))

    # Say for each row why it belongs to the subject, and through which people. A record
    # reached from one parent shares that parent's set of people rather than copying it:
    # a subject's records are many, their people few.
    table = plan.table
    direct = [
        (kind, value, at[name])
        for kind, name in table.identity
        if (value := identities.value(kind)) is not None
    ]
    linked = [
        (f"link:{link.table}", reached.get((link.table, link.target_column), {}), at[link.column])
        for link in table.links
    ]
    restriction = at[table.restriction_column] if table.restriction_column else None
    marketing = at[table.marketing_consent_column] if table.marketing_consent_column else None
    retain = table.retain
    retain_from = at[retain.from_column] if retain else 0
    nobody: frozenset[str] = frozenset()
    #: One tuple of reasons for all the records reached the same way.
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    records = []
    for key, row in found.items():
        reasons: list[str] = []
        people = nobody
        for kind, value, position in direct:
            if matches(kind, value, row[position]):
                reasons.append(kind.value)
                if table.subject:
                    people = people | {f"{table.name}:{'/'.join(map(str, key))}"}
        for reason, parents, position in linked:
            value = row[position]
            if value is not None and value in parents:
                reasons.append(reason)
                people = parents[value] if not people else people | parents[value]
        records.append(
            Record(
                key,
                row,
                plan.layout,
                shared.setdefault(matched := tuple(dict.fromkeys(reasons)), matched),
                people,
                bool(row[restriction]) if restriction is not None else False,
                row[marketing] if marketing is not None else None,
                retain.ends_on(row[retain_from]) if retain else None,
            )
        )
    return records


def _layout(table: TableMap, columns: Sequence[str]) -> RecordColumns:
    described: list[tuple[str | None, str | None, bool, bool]] = []
    for name in columns:
        mapped = table.columns.get(name)
        if mapped is None:
            described.append((None, None, False, False))
        else:
            described.append((mapped.category, mapped.purpose, mapped.provided, mapped.rectifiable))
    return RecordColumns(tuple(columns), tuple(described))


def iter_tables(
    source: SourceMap, identities: Identities, data_dir: str | os.PathLike[str]
) -> Iterator[TableResult]:
    """Each mapped table's result in turn, read in one read-only transaction.

    Raises :class:`SourceFailure` when the source cannot be read at all (possibly after some
    tables were yielded).
    """
    engine, url = _open(source, data_dir)
    targets = _link_targets(source)
    #: (table, column) -> value -> people, for the values later tables link to.
    reached: dict[tuple[str, str], dict[Any, frozenset[str]]] = {}
    failed: set[str] = set()
    connected = False
    try:
        with read_only(engine.connect()) as connection, connection.begin():
            connected = True
            reflected = _reflect(connection, source)
            for table in source.tables:
                planned = _plan(reflected, table, targets.get(table.name, set()))
                if isinstance(planned, SourceProblem):
                    failed.add(table.name)
                    yield TableResult(source.name, table, problem=planned)
                    continue
                records = _search(connection, planned, identities, reached)
                for column in targets.get(table.name, ()):
                    index = reached.setdefault((table.name, column), {})
                    position = planned.layout.positions[column]
                    for record in records:
                        value = record.values[position]
                        if value is not None:
                            known = index.get(value)
                            index[value] = record.people if known is None else known | record.people
                broken = sorted(table.depends_on & failed)
                if broken:
                    failed.add(table.name)
                result = TableResult(
                    source.name,
                    table,
                    records=records,
                    unmapped_columns=planned.unmapped,
                    problem=SourceProblem(
                        ProblemKind.link_broken,
                        f"rows linked through {', '.join(broken)} could not be searched",
                    )
                    if broken
                    else None,
                )
                yield result
    except SQLAlchemyError as exc:
        kind = ProblemKind.query_failed if connected else ProblemKind.unreachable
        raise SourceFailure(SourceProblem(kind, _describe(exc, url))) from None
    finally:
        engine.dispose()


def _people(tables: Sequence[TableResult]) -> list[PersonMatch]:
    people = []
    for result in tables:
        if not result.table.subject:
            continue
        for record in result.records:
            identity = tuple(m for m in record.matched_on if not m.startswith("link:"))
            if identity:
                ref = f"{result.name}:{record.key_text}"
                people.append(PersonMatch(ref, result.name, record.key, identity))
    return people


def locate_source(
    source: SourceMap, identities: Identities, data_dir: str | os.PathLike[str]
) -> SourceResult:
    """Everything one source holds about the subject, or the problem that prevented it."""
    result = SourceResult(source)
    try:
        for table in iter_tables(source, identities, data_dir):
            result.tables.append(table)
    except SourceFailure as failure:
        result.problem = failure.problem
    result.people = _people(result.tables)
    return result


@dataclass(frozen=True)
class SourceCheck:
    """Whether a source answers and still has the mapped tables and columns."""

    name: str
    problem: SourceProblem | None = None
    tables: tuple[tuple[str, SourceProblem], ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.tables

    def as_health(self) -> dict[str, str]:
        """For /healthz, which anyone may read: a status, no details."""
        if self.problem is not None:
            return {"status": "error", "problem": self.problem.kind.value}
        if self.tables:
            return {"status": "error", "problem": "schema_mismatch"}
        return {"status": "ok"}


def check_source(source: SourceMap, data_dir: str | os.PathLike[str]) -> SourceCheck:
    """Connect and reflect the mapped tables without reading any row."""
    try:
        engine, url = _open(source, data_dir)
    except SourceFailure as failure:
        return SourceCheck(source.name, failure.problem)
    targets = _link_targets(source)
    problems: list[tuple[str, SourceProblem]] = []
    try:
        with read_only(engine.connect()) as connection, connection.begin():
            reflected = _reflect(connection, source)
            for table in source.tables:
                planned = _plan(reflected, table, targets.get(table.name, set()))
                if isinstance(planned, SourceProblem):
                    problems.append((table.name, planned))
    except SQLAlchemyError as exc:
        return SourceCheck(source.name, SourceProblem(ProblemKind.unreachable, _describe(exc, url)))
    finally:
        engine.dispose()
    return SourceCheck(source.name, tables=tuple(problems))
