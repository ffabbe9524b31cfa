"""The subject's data in an answer: which records and columns, read table by table when needed.

An access or portability outcome does not hold the subject's data: it lists, per table, the
keys of the records in the answer, the columns shown and what was redacted. The answer
exports read the values through :meth:`AnswerTable.records`, one table at a time and in
chunks, so an answer with many records never has to be held in memory at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from dsr.profiles import Profile
from dsr.rights.sourcewrite import CHUNK, coerce, key_text, python_type
from dsr.sources.results import ProblemKind, SourceProblem, plain
from dsr.sources.sql import (
    SourceFailure,
    in_values,
    read_only,
    reflect_tables,
    source_engine,
)


@dataclass
class TableContent:
    """One table's part of an answer."""

    source: str
    source_label: str
    table: str
    label: str
    #: ``{column, category, category_label, purpose, purpose_label}`` per column shown.
    columns: list[dict[str, Any]]
    #: Keys (JSON lists) of the records in the answer, in order.
    keys: list[list[Any]]
    #: Key text -> columns replaced by a redaction marker in that record.
    redacted_fields: dict[str, list[str]] = field(default_factory=dict)
    #: Records left out whole (others' data, trade secrets), counted.
    withheld: int = 0

    @property
    def record_count(self) -> int:
        return len(self.keys)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_label": self.source_label,
            "table": self.table,
            "label": self.label,
            "columns": [dict(c) for c in self.columns],
            "record_count": self.record_count,
            "keys": [list(k) for k in self.keys],
            "redacted_fields": {k: list(v) for k, v in self.redacted_fields.items()},
            "withheld": self.withheld,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableContent:
        return cls(
            source=data["source"],
            source_label=data["source_label"],
            table=data["table"],
            label=data["label"],
            columns=[dict(c) for c in data["columns"]],
            keys=[list(k) for k in data["keys"]],
            redacted_fields={k: list(v) for k, v in data.get("redacted_fields", {}).items()},
            withheld=int(data.get("withheld", 0)),
        )


def column_info(profile: Profile, column: str, category: str, purpose: str) -> dict[str, Any]:
    described = profile.categories.get(category)
    serves = profile.purposes.get(purpose)
    return {
        "column": column,
        "category": category,
        "category_label": described.description if described else category,
        "purpose": purpose,
        "purpose_label": serves.description if serves else purpose,
        "basis": serves.basis.value if serves else None,
    }


@dataclass
class AnswerTable:
    """A table of an answer whose records are read from the source on demand."""

    content: TableContent
    profile: Profile
    data_dir: str | os.PathLike[str]
    #: Records listed in the answer that were no longer in the source when read.
    missing: int = 0

    def records(self) -> Iterator[dict[str, Any]]:
        """``{"key", "values", "redacted"}`` per record, in the answer's order.

        Values are JSON-safe; a redacted column's value is None and its name is listed in
        ``redacted``. Raises :class:`~dsr.sources.sql.SourceFailure` when the source cannot
        be read.
        """
        source = self.profile.source(self.content.source)
        mapped = source.table(self.content.table)
        engine = source_engine(source.resolve_url(self.data_dir))
        names = [c["column"] for c in self.content.columns]
        self.missing = 0
        try:
            with read_only(engine.connect()) as connection, connection.begin():
                reflected = reflect_tables(connection, source.schema, [mapped.name])[mapped.name]
                key_names = mapped.key or tuple(c.name for c in reflected.primary_key.columns)
                key_columns = [reflected.c[n] for n in key_names]
                # The key comes first in every row, then the columns shown.
                width = len(key_columns)
                shown = list(enumerate(names, start=width))
                statement = select(*key_columns, *(reflected.c[n] for n in names))
                redacted = self.content.redacted_fields
                kinds = [python_type(c) for c in key_columns]
                for chunk in _chunks(self.content.keys):
                    typed = [_typed_key(key_columns, kinds, key) for key in chunk]
                    condition = (
                        in_values(key_columns[0], [k[0] for k in typed], connection)
                        if width == 1
                        else tuple_(*key_columns).in_(typed)
                    )
                    rows = {
                        tuple(row[:width]): row
                        for row in connection.execute(statement.where(condition))
                    }
                    for key, raw in zip(typed, chunk, strict=True):
                        row = rows.get(key)
                        if row is None:
                            self.missing += 1
                            continue
                        hidden = redacted.get(key_text(raw), []) if redacted else []
                        yield {
                            "key": list(raw),
                            "values": {n: None if n in hidden else plain(row[i]) for i, n in shown},
                            "redacted": list(hidden),
                        }
        except SQLAlchemyError as exc:
            detail = (str(exc).strip().splitlines() or ["query failed"])[0][:300]
            raise SourceFailure(SourceProblem(ProblemKind.query_failed, detail)) from None
        finally:
            engine.dispose()


def _typed_key(
    columns: Sequence[Column[Any]], kinds: Sequence[type | None], key: Sequence[Any]
) -> tuple[Any, ...]:
    """A key from the answer (JSON values) in its columns' types; whole numbers as they are."""
    return tuple(
        part if kind is int and type(part) is int else coerce(column, part)
        for column, kind, part in zip(columns, kinds, key, strict=True)
    )


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def answer_tables(
    tables: Sequence[TableContent], profile: Profile, data_dir: str | os.PathLike[str]
) -> Iterator[AnswerTable]:
    for content in tables:
        yield AnswerTable(content, profile, data_dir)
