"""Building a demo customer system: a real database described by a small table spec.

A :class:`DemoSystem` lists tables; each row is made for a person or for a row of a parent
table, by plain functions of a :class:`RowContext`. The same seed and day give the same
database, on SQLite or PostgreSQL. The builder knows nothing of any one controller: the
controllers' systems are in the sibling modules.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Column, Engine, ForeignKey, Integer, MetaData, String, Table, insert

from dsr.demodata.people import Person, population

T = TypeVar("T")

#: Bumped when a system's tables change, so an old demo database is not mistaken for current.
VERSION = "1"
#: Rows per INSERT batch.
BATCH = 2000


@dataclass
class RowContext:
    """What a column's value function may use to make up one value."""

    rng: random.Random
    person: Person
    today: date
    #: This row's id.
    id: int
    #: Position among the rows made for the same person or parent row.
    n: int = 0
    #: The parent table's row, for tables made per parent row.
    parent: dict[str, Any] = field(default_factory=dict)
    #: This row so far: later columns may build on earlier ones (closed after opened).
    row: dict[str, Any] = field(default_factory=dict)
    #: Rows made so far per table, to point at a random row of another table.
    sizes: dict[str, int] = field(default_factory=dict)

    def any_id(self, table: str) -> int | None:
        """The id of a random row of ``table`` (made before this one), if it has any."""
        size = self.sizes.get(table, 0)
        return self.rng.randint(1, size) if size else None

    def moment(self, start: datetime | None = None, end: datetime | None = None) -> datetime:
        """A time between ``start`` (default: when the person arrived) and ``end`` (last seen)."""
        start = start or self.person.since
        end = max(start, end or self.person.last_active)
        span = int((end - start).total_seconds())
        return start + timedelta(seconds=self.rng.randint(0, span))

    def later(self, moment: datetime, days: float) -> datetime:
        """Up to ``days`` after ``moment``."""
        return moment + timedelta(seconds=self.rng.randint(60, max(60, int(days * 86400))))

    def pick(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def amount(self, low: int, high: int) -> float:
        """Kronor with öre, from ``low`` to ``high``."""
        return round(self.rng.uniform(low, high), 2)


Value = Callable[[RowContext], Any]


@dataclass(frozen=True)
class Col:
    name: str
    type: Any = None
    value: Value | None = None
    #: The table's id; numbered 1, 2, 3, ... by the builder.
    key: bool = False
    #: ``"table.id"``: a foreign key, filled with the parent row's id unless ``value`` says else.
    ref: str | None = None


@dataclass(frozen=True)
class DemoTable:
    name: str
    columns: tuple[Col, ...]
    #: None: rows are made per person; otherwise per row of this table.
    parent: str | None = None
    #: How many rows per person or parent row, inclusive.
    count: tuple[int, int] = (1, 1)
    #: Share of persons or parent rows that have any rows here.
    share: float = 1.0


@dataclass(frozen=True)
class DemoSystem:
    """One demo database: the tables of one source of one profile."""

    tables: tuple[DemoTable, ...]


@dataclass(frozen=True)
class BuildSummary:
    people: int
    rows: dict[str, int]


def _sa_table(spec: DemoTable, metadata: MetaData) -> Table:
    columns = []
    for col in spec.columns:
        if col.key:
            columns.append(Column(col.name, Integer, primary_key=True, autoincrement=False))
        elif col.ref:
            columns.append(Column(col.name, Integer, ForeignKey(col.ref), index=True))
        else:
            columns.append(Column(col.name, col.type if col.type is not None else String(200)))
    return Table(spec.name, metadata, *columns)


def metadata_for(system: DemoSystem) -> MetaData:
    metadata = MetaData()
    for spec in system.tables:
        _sa_table(spec, metadata)
    Table(
        "demo_info",
        metadata,
        Column("name", String(40), primary_key=True),
        Column("value", String(200), nullable=False),
    )
    return metadata


def _rows(
    spec: DemoTable,
    owners: Sequence[tuple[Person, dict[str, Any]]],
    rng: random.Random,
    today: date,
    sizes: dict[str, int],
) -> Iterator[tuple[Person, dict[str, Any]]]:
    next_id = 1
    for person, parent in owners:
        count = rng.randint(*spec.count) if rng.random() < spec.share else 0
        if person.known:
            count = spec.count[1]  # the documented subjects show every kind of row
        for n in range(count):
            row: dict[str, Any] = {}
            ctx = RowContext(rng, person, today, next_id, n, parent, row, sizes)
            for col in spec.columns:
                if col.key:
                    row[col.name] = next_id
                elif col.value is not None:
                    row[col.name] = col.value(ctx)
                elif col.ref:
                    row[col.name] = parent["id"]
                else:
                    row[col.name] = None
            next_id += 1
            yield person, row


def build_system(
    engine: Engine,
    system: DemoSystem,
    *,
    people: int,
    seed: str,
    today: date,
) -> BuildSummary:
    """Create the system's tables in an empty database and fill them."""
    rng = random.Random(seed)
    persons = population(people, rng, today)
    metadata = metadata_for(system)
    made: dict[str, list[tuple[Person, dict[str, Any]]]] = {}
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        metadata.create_all(connection)
        for spec in system.tables:
            owners = [(p, {}) for p in persons] if spec.parent is None else made[spec.parent]
            table = metadata.tables[spec.name]
            rows = list(_rows(spec, owners, rng, today, counts))
            made[spec.name] = rows
            counts[spec.name] = len(rows)
            values = [row for _, row in rows]
            for start in range(0, len(values), BATCH):
                connection.execute(insert(table), values[start : start + BATCH])
        connection.execute(
            insert(metadata.tables["demo_info"]),
            [
                {"name": "version", "value": VERSION},
                {"name": "seed", "value": seed},
                {"name": "people", "value": str(people)},
                {"name": "today", "value": today.isoformat()},
            ],
        )
    return BuildSummary(people=len(persons), rows=counts)


# --- small value helpers for the system modules ---------------------------------------------


def person(attribute: str) -> Value:
    """The person's ``attribute`` (``email``, ``national_phone``, ...)."""
    return lambda c: getattr(c.person, attribute)


def parent(column: str) -> Value:
    return lambda c: c.parent[column]


def after(column: str, days: float) -> Value:
    """Up to ``days`` after a time already filled in this row."""
    return lambda c: c.later(c.row[column], days)


def moment_after_parent(column: str, days: float) -> Value:
    return lambda c: c.later(c.parent[column], days)


def when() -> Value:
    return lambda c: c.moment()


def choice(*options: Any) -> Value:
    return lambda c: c.pick(options)


def flag(probability: float) -> Value:
    return lambda c: c.chance(probability)


def fixed(value: Any) -> Value:
    return lambda c: value


def ip_address() -> Value:
    # Documentation ranges (RFC 5737): realistic, and nobody's.
    return lambda c: c.pick(("192.0.2", "198.51.100", "203.0.113")) + f".{c.rng.randint(1, 254)}"


USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) Chrome/130.0 Mobile",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Firefox/132.0",
)


def user_agent() -> Value:
    return lambda c: c.pick(USER_AGENTS)
