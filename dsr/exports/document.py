"""The answer as JSON and CSV, written as the records are read.

The JSON document (``format: "dsr-answer"``, ``version: 1``, described by
``schema/answer-v1.json``) starts with everything but the data, then the data grouped by
source, table and record::

    {"$schema": ..., "format": "dsr-answer", "version": 1, "generated_at": ...,
     "language": ..., "controller": {...}, "request": {...}, "subject": {...},
     "summary": {...}, "outcome": {...}, "information": {...} (access only),
     "complaint": {...}, "manual_systems": [...],
     "data": {"sources": [{"source", "label", "tables": [
         {"table", "label", "fields": [{"column", "category", "category_label", ...}],
          "records": [{"key": [...], "values": {...}, "redacted": [...]}, ...],
          "record_count", "withheld", "missing"}]}]}}

Each table declares its fields once, with the category and purpose of each; a record's
``values`` are keyed by those fields. The head is indented for people; each record takes one
line. Nothing but the current record is held in memory.

CSV files (one per table, UTF-8 with a byte-order mark so that spreadsheet programs read
å, ä and ö right) have the fields as columns; a redacted value reads ``[redacted]`` in the
subject's language.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

from flask_babel import force_locale
from flask_babel import gettext as _

from dsr.exports.answer import Answer, DataTable

#: Called after each record written, for progress.
OnRecord = Callable[[], None]


#: One encoder for every record: ``json.dumps`` with any option makes a new one per call.
_COMPACT = json.JSONEncoder(ensure_ascii=False)


def _dumps(value: Any, indent: int | None = None) -> str:
    if indent is None:
        return _COMPACT.encode(value)
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _indented(value: Any, level: int) -> str:
    """``value`` as indented JSON, its lines after the first shifted by ``level`` spaces."""
    return _dumps(value, 2).replace("\n", "\n" + " " * level)


def json_chunks(answer: Answer, on_record: OnRecord | None = None) -> Iterator[str]:
    """The JSON document in pieces: the head at once, then record by record."""
    head = _indented(answer.head(), 0)
    # The head is an object ending in "\n}": open it up and add the data after it.
    yield head[: -len("\n}")]
    yield ',\n  "data": {\n    "sources": ['
    for s_index, (source, label, tables) in enumerate(answer.sources()):
        yield "," if s_index else ""
        yield f'\n      {{\n        "source": {_dumps(source)},\n        "label": {_dumps(label)},'
        yield '\n        "tables": ['
        for t_index, table in enumerate(tables):
            yield "," if t_index else ""
            yield from _table_chunks(table, on_record)
        yield "\n        ]\n      }"
    yield "\n    ]\n  }\n}\n"


def _table_chunks(table: DataTable, on_record: OnRecord | None) -> Iterator[str]:
    pad = " " * 12
    yield f"\n{pad[:-2]}{{"
    yield f'\n{pad}"table": {_dumps(table.table)},'
    yield f'\n{pad}"label": {_dumps(table.label)},'
    yield f'\n{pad}"fields": {_indented(table.fields, len(pad))},'
    yield f'\n{pad}"records": ['
    written = 0
    for record in table.records():
        yield (
            ("," if written else "")
            + f"\n{pad}  "
            + _dumps(
                {"key": record["key"], "values": record["values"], "redacted": record["redacted"]}
            )
        )
        written += 1
        if on_record is not None:
            on_record()
    yield f"\n{pad}]," if written else "],"
    yield f'\n{pad}"record_count": {written},'
    yield f'\n{pad}"withheld": {table.withheld},'
    yield f'\n{pad}"missing": {table.missing}'
    yield f"\n{pad[:-2]}}}"


def write_json(answer: Answer, target: IO[str], on_record: OnRecord | None = None) -> None:
    for piece in json_chunks(answer, on_record):
        target.write(piece)


# --- CSV ------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def csv_name(table: DataTable) -> str:
    """The table's file name in the bundle: ``csv/<source>.<table>.csv``, made safe."""
    stem = _UNSAFE.sub("_", f"{table.source}.{table.table}").strip("._") or "table"
    return f"csv/{stem}.csv"


#: A text cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_START):
        # Text anyone could have typed (a delivery name, a ticket) must not run as a formula
        # in the subject's spreadsheet; the quote shows it as text. answer.json keeps it exact.
        return "'" + value
    return str(value)


def write_csv(
    table: DataTable, target: IO[str], language: str, on_record: OnRecord | None = None
) -> int:
    """The table's records as CSV into ``target`` (opened with ``newline=""``); rows written."""
    with force_locale(language):
        marker = _("[redacted]")
    target.write("\ufeff")
    writer = csv.writer(target)
    writer.writerow(table.columns)
    rows = 0
    for record in table.records():
        hidden = set(record["redacted"])
        writer.writerow(
            [marker if c in hidden else _cell(record["values"].get(c)) for c in table.columns]
        )
        rows += 1
        if on_record is not None:
            on_record()
    return rows
