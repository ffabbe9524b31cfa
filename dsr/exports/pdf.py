"""The answer as a PDF report people can read, rendered by WeasyPrint from plain data.

The template (``templates/pdf/answer.html``) gets only dicts, lists, strings and dates from
:func:`pdf_context`, never database objects. WeasyPrint fetches nothing: the fetcher given to
it refuses every URL but inline ``data:`` ones, so neither a ``file:`` path nor a remote
address in the document (the subject's own data included) can make the renderer read a
local file or reach the network. Text is set in DejaVu Sans, found through fontconfig
(Debian's ``fonts-dejavu-core``, which ``make`` installs when it is missing), so å, ä and ö
render everywhere.

A PDF of a hundred thousand rows helps nobody, and WeasyPrint lays out the whole document in
memory; each table therefore shows at most ``exports.pdf_rows_per_table`` rows (default
250), with a note naming the JSON and CSV files in the same ZIP, which hold every record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from flask import render_template
from flask_babel import force_locale
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from dsr.exports.answer import Answer
from dsr.exports.document import csv_name
from dsr.labels import RIGHT_TITLES

#: Rows per table when the setting is absent.
DEFAULT_ROWS_PER_TABLE = 250
_ISO_MOMENT = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$"
)


class ResourceRefused(ValueError):
    """The PDF asked for a resource that is not embedded in it."""


class EmbeddedOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher for ``data:`` URLs only: no files, no network."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols={"data"}, allow_redirects=False, timeout=1)

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not url.lower().startswith("data:"):
            raise ResourceRefused(f"the answer PDF embeds its resources; refused {url[:80]!r}")
        return super().fetch(url, headers)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def cell(value: Any, yes: str, no: str) -> str:
    """A value as a table cell: moments without seconds, yes and no in words."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return yes if value else no
    text = str(value)
    found = _ISO_MOMENT.match(text)
    if found:
        return f"{found.group(1)} {found.group(2)}"
    return text


def pdf_context(answer: Answer, rows_per_table: int) -> dict[str, Any]:
    """Everything the template shows, as plain data; at most ``rows_per_table`` rows each.

    Call it in the subject's locale (the words for yes, no and redacted are in it).
    """
    from flask_babel import gettext as _

    yes, no, redacted = _("yes"), _("no"), _("[redacted]")
    tables = []
    for table in answer.tables:
        rows: list[list[str]] = []
        records = table.records()
        try:
            for record in records:
                if len(rows) >= rows_per_table:
                    break
                hidden = set(record["redacted"])
                rows.append(
                    [
                        redacted if c in hidden else cell(record["values"].get(c), yes, no)
                        for c in table.columns
                    ]
                )
        finally:
            # Stop reading the source once the cap is reached.
            close = getattr(records, "close", None)
            if close is not None:
                close()
        tables.append(
            {
                "source_label": table.source_label,
                "label": table.label,
                "fields": [dict(f) for f in table.fields],
                "rows": rows,
                "total": table.record_count,
                "shown": len(rows),
                "capped": table.record_count > len(rows),
                "withheld": table.withheld,
                "csv": csv_name(table),
            }
        )
    request = dict(answer.request)
    information = answer.information
    return {
        "language": answer.language,
        "right": answer.right.value,
        "right_title": str(RIGHT_TITLES[answer.right]),
        "controller": dict(answer.controller),
        "request": request,
        "received_at": _moment(request.get("received_at")),
        "executed_at": _moment(request.get("executed_at")),
        "generated_at": answer.generated_at,
        "subject": dict(answer.subject),
        "summary": {
            "sources": len(answer.sources()),
            "tables": len(answer.tables),
            "records": answer.record_count,
            "capped": any(t["capped"] for t in tables),
        },
        "outcome": _dated(answer.outcome),
        "information": information,
        "complaint": dict(answer.complaint),
        "manual_systems": [
            {**m, "completed_at": _moment(m.get("completed_at"))} for m in answer.manual_systems
        ],
        "tables": tables,
        "rows_per_table": rows_per_table,
        "css": {
            "header_left": css_string(answer.controller.get("name", "")),
            "header_right": css_string(request.get("reference", "")),
            "page_numbers": page_numbers(),
        },
    }


def css_string(text: str) -> str:
    """``text`` as a quoted CSS string, safe inside a style element."""
    escaped = "".join(
        ch if ch.isalnum() or ch in " -_.,:;()&'/@+" else f"\\{ord(ch):x} " for ch in text
    )
    return f'"{escaped}"'


def page_numbers() -> str:
    """CSS ``content`` for "Page 3 of 12" in the current language."""
    from flask_babel import gettext as _

    words = _("Page %(page)s of %(pages)s", page="\x00", pages="\x01")
    before, _sep, rest = words.partition("\x00")
    middle, _sep, after = rest.partition("\x01")
    return f"{css_string(before)} counter(page) {css_string(middle)} counter(pages) {css_string(after)}"


_DATE_KEYS = {"until", "due_on"}
_MOMENT_KEYS = {"restricted_at", "notice_at", "lifted_at", "recorded_at", "at", "notified_at"}


def _dated(value: Any) -> Any:
    """The outcome with its ISO dates and moments as date and datetime values."""
    if isinstance(value, Mapping):
        shaped = {}
        for key, item in value.items():
            if key in _DATE_KEYS and isinstance(item, str):
                shaped[key] = _day(item)
            elif key in _MOMENT_KEYS and isinstance(item, str):
                shaped[key] = _moment(item)
            else:
                shaped[key] = _dated(item)
        return shaped
    if isinstance(value, list):
        return [_dated(v) for v in value]
    return value


def render_pdf(answer: Answer, rows_per_table: int = DEFAULT_ROWS_PER_TABLE) -> bytes:
    """The answer's PDF, in the subject's language."""
    with force_locale(answer.language):
        context = pdf_context(answer, rows_per_table)
        html = render_template("pdf/answer.html", **context)
    document = HTML(string=html, url_fetcher=EmbeddedOnlyFetcher())
    return bytes(document.write_pdf())
