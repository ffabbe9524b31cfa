"""What locating a subject found: plain dataclasses for staff pages, answers and plans.

Everything here is data; nothing holds a connection. ``as_dict()`` gives JSON-safe plain
values (dates as ISO 8601 text) for templates and exports.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dsr.sources.datamap import SourceMap, TableMap
from dsr.sources.identities import Identities


class ProblemKind(enum.StrEnum):
    #: No connection: server down, wrong address or credentials, file missing.
    unreachable = "unreachable"
    missing_table = "missing_table"
    missing_columns = "missing_columns"
    #: Neither a primary key in the database nor ``key`` in the map.
    no_key = "no_key"
    #: A table this one links through failed, so rows reached through it are missing.
    link_broken = "link_broken"
    query_failed = "query_failed"

    @property
    def schema_mismatch(self) -> bool:
        return self in (ProblemKind.missing_table, ProblemKind.missing_columns, ProblemKind.no_key)


@dataclass(frozen=True)
class SourceProblem:
    kind: ProblemKind
    #: Technical detail for staff (never shown to the subject or on /healthz).
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "detail": self.detail}


#: Types whose values are JSON as they are (checked first: most values are of these).
_JSON_TYPES = frozenset({type(None), bool, int, float, str})


def plain(value: Any) -> Any:
    """A database value as JSON: text, numbers, booleans, null."""
    kind = type(value)
    if kind in _JSON_TYPES:
        return value
    if kind is datetime or kind is date:
        return value.isoformat()
    if kind is Decimal:
        return str(value)
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return str(value)


@dataclass(frozen=True)
class FieldValue:
    """One column of one record."""

    column: str
    value: Any
    #: From the data map; None for key and link columns, which are references only.
    category: str | None
    purpose: str | None
    provided: bool = False
    rectifiable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "value": plain(self.value),
            "category": self.category,
            "purpose": self.purpose,
            "provided": self.provided,
            "rectifiable": self.rectifiable,
        }


@dataclass(frozen=True)
class RecordColumns:
    """The columns every record of one table holds, in order, and what the map says of each.

    Shared by all the records of a table, so that a record is its values and nothing more:
    a subject with a hundred thousand records does not cost a hundred thousand copies of
    the same descriptions.
    """

    names: tuple[str, ...]
    #: ``(category, purpose, provided, rectifiable)`` per column, as in :class:`FieldValue`.
    described: tuple[tuple[str | None, str | None, bool, bool], ...]
    positions: Mapping[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", {name: i for i, name in enumerate(self.names)})


@dataclass(frozen=True, slots=True)
class Record:
    """One row that belongs to the subject."""

    key: tuple[Any, ...]
    #: The row's values, in the order of ``columns``.
    values: tuple[Any, ...]
    columns: RecordColumns
    #: Identity kinds the row matched directly, and ``link:<table>`` for rows reached by link.
    matched_on: tuple[str, ...]
    #: The people (``table:key`` of subject tables) the row was reached from.
    people: frozenset[str] = frozenset()
    restricted: bool = False
    #: The value of the table's marketing consent column, if it has one.
    marketing_consent: Any = None
    #: Last day the row must be kept, for tables retained by law.
    retain_until: date | None = None

    @property
    def fields(self) -> tuple[FieldValue, ...]:
        """Each column with its value and what the map says of it."""
        return tuple(
            FieldValue(name, value, *described)
            for name, value, described in zip(
                self.columns.names, self.values, self.columns.described, strict=True
            )
        )

    @property
    def key_text(self) -> str:
        return "/".join(str(part) for part in self.key)

    def value(self, column: str) -> Any:
        try:
            return self.values[self.columns.positions[column]]
        except KeyError:
            raise KeyError(column) from None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": [plain(k) for k in self.key],
            "fields": [f.as_dict() for f in self.fields],
            "matched_on": list(self.matched_on),
            "people": sorted(self.people),
            "restricted": self.restricted,
            "marketing_consent": plain(self.marketing_consent),
            "retain_until": plain(self.retain_until),
        }


@dataclass
class TableResult:
    source: str
    table: TableMap
    records: list[Record] = field(default_factory=list)
    problem: SourceProblem | None = None
    #: Columns in the database that the data map does not describe (never read).
    unmapped_columns: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.name,
            "label": self.table.label or self.name,
            "erasure": self.table.erasure.value,
            "on_behalf_of": self.table.on_behalf_of,
            "problem": self.problem.as_dict() if self.problem else None,
            "unmapped_columns": list(self.unmapped_columns),
            "records": [r.as_dict() for r in self.records],
        }


@dataclass(frozen=True)
class PersonMatch:
    """A row of a subject table that the identities led to: one person in that system."""

    ref: str
    table: str
    key: tuple[Any, ...]
    matched_on: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "table": self.table,
            "key": [plain(k) for k in self.key],
            "matched_on": list(self.matched_on),
        }


@dataclass
class SourceResult:
    source: SourceMap
    tables: list[TableResult] = field(default_factory=list)
    #: The source as a whole failed (no connection); tables may be missing or partial.
    problem: SourceProblem | None = None
    people: list[PersonMatch] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def ok(self) -> bool:
        return self.problem is None and all(t.ok for t in self.tables)

    @property
    def ambiguous(self) -> bool:
        """The identities point at more than one row of one subject table: at different
        people (one row is one person there). Staff must decide; nothing is merged.

        The same person in two roles (a customer who is also on a mailing list) is a match
        in two tables, not a conflict.
        """
        tables = [person.table for person in self.people]
        return len(tables) != len(set(tables))

    @property
    def record_count(self) -> int:
        return sum(len(t.records) for t in self.tables)

    def table(self, name: str) -> TableResult:
        for result in self.tables:
            if result.name == name:
                return result
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "label": self.source.label or self.name,
            "ok": self.ok,
            "problem": self.problem.as_dict() if self.problem else None,
            "ambiguous": self.ambiguous,
            "people": [p.as_dict() for p in self.people],
            "tables": [t.as_dict() for t in self.tables],
        }


@dataclass(frozen=True)
class ManualCheck:
    """A system without a connection that a handler must search by hand."""

    name: str
    instructions: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "instructions": self.instructions}


@dataclass
class LocateResult:
    identities: Identities
    sources: list[SourceResult]
    located_at: datetime
    manual: list[ManualCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources)

    @property
    def ambiguous(self) -> bool:
        return any(s.ambiguous for s in self.sources)

    @property
    def record_count(self) -> int:
        return sum(s.record_count for s in self.sources)

    def source(self, name: str) -> SourceResult:
        for result in self.sources:
            if result.name == name:
                return result
        raise KeyError(name)

    def iter_records(self) -> Iterator[tuple[SourceResult, TableResult, Record]]:
        for source in self.sources:
            for table in source.tables:
                for record in table.records:
                    yield source, table, record

    def as_dict(self) -> dict[str, Any]:
        return {
            "located_at": self.located_at.isoformat(),
            "identities": self.identities.masked(),
            "ok": self.ok,
            "ambiguous": self.ambiguous,
            "record_count": self.record_count,
            "sources": [s.as_dict() for s in self.sources],
            "manual": [m.as_dict() for m in self.manual],
        }
