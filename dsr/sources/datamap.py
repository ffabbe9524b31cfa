"""The data map: where a controller keeps personal data, and what may be done with it.

Each ``[[sources]]`` entry of a profile is one database. Each of its ``[[sources.tables]]``
says how a row is reached from the subject (identity columns, or a link to a table already
reached), what every column is (data category, purpose, whether the subject provided it),
what erasure means for the table (delete, anonymize column by column, or retain under a
named law until a date computed from a column) and which columns may be rectified, mark a
restriction or hold marketing consent. Executing the rights relies on nothing else, so the
map is checked for consistency when the profile loads.
"""

from __future__ import annotations

import calendar
import enum
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dsr.sources.reader import Node


class IdentityKind(enum.StrEnum):
    """What a request can prove about the subject and a table can be searched by."""

    email = "email"
    personnummer = "personnummer"  # or samordningsnummer, 12 digits
    phone = "phone"
    customer_id = "customer_id"


class Erasure(enum.StrEnum):
    delete = "delete"
    #: Overwrite the personal columns by their rules and keep the row (statistics, links).
    anonymize = "anonymize"
    #: Keep under an Art. 17(3) exception until a computed date.
    retain = "retain"


class Anonymize(enum.StrEnum):
    """What one column becomes when its row is anonymized."""

    null = "null"
    #: A fixed marker text.
    redact = "redact"
    #: A text unique to the row, for NOT NULL or UNIQUE columns.
    placeholder = "placeholder"
    #: ``anonymized-<key>@invalid``: unique, and never deliverable (RFC 6761 ``.invalid``).
    placeholder_email = "placeholder_email"
    #: A date kept only as 1 January of its year.
    year = "year"
    #: Not identifying on its own (an amount, a product); kept as it is.
    keep = "keep"


class CountFrom(enum.StrEnum):
    #: From the end of the calendar year of the date (Bokföringslagen 7:2 counts this way).
    year_end = "year_end"
    #: From the date itself.
    date = "date"


#: The Art. 17(3) exceptions a table may be retained under.
ERASURE_EXCEPTIONS = {
    "17(3)(a)": "freedom of expression and information",
    "17(3)(b)": "a legal obligation or a task in the public interest",
    "17(3)(c)": "public health",
    "17(3)(d)": "archiving, research or statistics",
    "17(3)(e)": "legal claims",
}

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ENV_NAME = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")


class SourceConfigError(Exception):
    """A source's URL cannot be resolved (an environment variable is missing)."""


@dataclass(frozen=True)
class RetainRule:
    #: The rule in words, e.g. "Bokföringslagen (1999:1078) 7 kap. 2 §".
    basis: str
    #: The Art. 17(3) point that allows keeping the data, e.g. "17(3)(b)".
    exception: str
    years: int
    #: The column whose date starts the period.
    from_column: str
    count_from: CountFrom = CountFrom.year_end
    #: What happens when the period has run out.
    then: Erasure = Erasure.delete

    def ends_on(self, start: date | datetime | str | None) -> date | None:
        """Last day the data may be kept; None when the start date is unknown.

        ``year_end``: the end of the ``years``-th year after the calendar year of ``start``
        (a payment on 2025-05-01 under Bokföringslagen 7:2 is kept until 2032-12-31).
        """
        day = as_date(start)
        if day is None:
            return None
        if self.count_from is CountFrom.year_end:
            return date(day.year + self.years, 12, 31)
        year = day.year + self.years
        return date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


def as_date(value: date | datetime | str | None) -> date | None:
    """A column value as a calendar date (SQLite hands back text for untyped columns)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class ColumnMap:
    name: str
    #: Key into the profile's ``[categories]``.
    category: str
    #: Key into the profile's ``[[purposes]]``.
    purpose: str
    #: The subject gave it (a form, an upload) or it was observed about them: Art. 20 scope.
    provided: bool
    rectifiable: bool = False
    anonymize: Anonymize | None = None


@dataclass(frozen=True)
class Link:
    """Rows of this table whose ``column`` equals ``target_column`` of a reached row."""

    column: str
    table: str
    target_column: str


@dataclass(frozen=True)
class TableMap:
    name: str
    columns: Mapping[str, ColumnMap]
    erasure: Erasure
    identity: tuple[tuple[IdentityKind, str], ...] = ()
    links: tuple[Link, ...] = ()
    #: A row is one person (an account, a customer): several matched rows are flagged.
    subject: bool = False
    #: Key columns; empty means the table's primary key.
    key: tuple[str, ...] = ()
    retain: RetainRule | None = None
    restriction_column: str | None = None
    marketing_consent_column: str | None = None
    #: Processed for another controller (Art. 28): requests go to that controller.
    on_behalf_of: str = ""
    #: Columns deliberately never read (credentials): not reported as missing from the map.
    ignore: tuple[str, ...] = ()
    label: str = ""
    notes: str = ""

    @property
    def depends_on(self) -> frozenset[str]:
        return frozenset(link.table for link in self.links)

    @property
    def rectifiable(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns.values() if c.rectifiable)

    def identity_columns(self, kind: IdentityKind) -> tuple[str, ...]:
        return tuple(column for k, column in self.identity if k is kind)


@dataclass(frozen=True)
class SourceMap:
    name: str
    #: SQLAlchemy URL; may hold ``{data_dir}`` and ``{env:NAME}`` placeholders.
    url: str
    #: In dependency order: a linked table comes after the table it links to.
    tables: tuple[TableMap, ...]
    label: str = ""
    schema: str | None = None
    notes: str = ""
    _by_name: Mapping[str, TableMap] = field(default_factory=dict, compare=False, repr=False)

    def table(self, name: str) -> TableMap:
        return self._by_name[name]

    def resolve_url(
        self, data_dir: str | os.PathLike[str], environ: Mapping[str, str] | None = None
    ) -> str:
        environ = os.environ if environ is None else environ

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "data_dir":
                return str(data_dir)
            env = _ENV_NAME.fullmatch(name)
            if env and env.group(1) in environ:
                return environ[env.group(1)]
            raise SourceConfigError(
                f"environment variable {env.group(1) if env else name} is not set"
            )

        return _PLACEHOLDER.sub(replace, self.url)


# --- reading ---------------------------------------------------------------------------------


def _choice(node: Node, key: str, enum_cls: type[enum.StrEnum], default: Any = None) -> Any:
    raw = node.raw(key)
    if raw is None:
        if default is None:
            node.problem(key, "is required")
        return default
    try:
        return enum_cls(raw)
    except ValueError:
        known = ", ".join(m.value for m in enum_cls)
        node.problem(key, f"unknown value {raw!r} (one of: {known})")
        return default


def _read_retain(node: Node) -> RetainRule | None:
    basis = node.text("basis", required=True)
    exception = node.text("exception", required=True)
    if exception and exception not in ERASURE_EXCEPTIONS:
        node.problem("exception", f"must be one of {', '.join(ERASURE_EXCEPTIONS)}")
    years = node.integer("years", required=True, minimum=0)
    from_column = node.text("from", required=True)
    count_from = _choice(node, "count_from", CountFrom, CountFrom.year_end)
    then = _choice(node, "then", Erasure, Erasure.delete)
    if then is Erasure.retain:
        node.problem("then", 'must be "delete" or "anonymize"')
    node.finish()
    if not (basis and exception and from_column) or years is None:
        return None
    return RetainRule(basis, exception, years, from_column, count_from, then)


def _read_columns(
    node: Node,
    table_purpose: str,
    provided_default: bool,
    rectifiable: Collection[str],
    purposes: Mapping[str, frozenset[str]],
    categories: Collection[str],
) -> dict[str, ColumnMap]:
    columns: dict[str, ColumnMap] = {}
    raw_columns = node.mapping("columns")
    if not raw_columns:
        node.problem("columns", "is required: map every column read for the subject")
    for name, raw in raw_columns.items():
        spec = node.child(f"columns.{name}", raw if isinstance(raw, dict) else {})
        if isinstance(raw, str):
            category, purpose, provided, rule = raw, table_purpose, provided_default, None
        elif isinstance(raw, dict):
            category = spec.text("category", required=True)
            purpose = spec.text("purpose") or table_purpose
            provided = spec.flag("provided", provided_default)
            rule = _choice(spec, "anonymize", Anonymize, None) if spec.has("anonymize") else None
            spec.finish()
        else:
            spec.problem(None, "must be a category name or a table")
            continue
        if category and category not in categories:
            spec.problem(None, f"unknown category {category!r}")
        if not purpose:
            spec.problem(None, "has no purpose (set purpose on the column or its table)")
        elif purpose not in purposes:
            spec.problem(None, f"unknown purpose {purpose!r}")
        elif category in categories and category not in purposes[purpose]:
            spec.problem(
                None, f"category {category!r} is not among the categories of purpose {purpose!r}"
            )
        columns[name] = ColumnMap(
            name=name,
            category=category,
            purpose=purpose,
            provided=provided,
            rectifiable=name in rectifiable,
            anonymize=rule,
        )
    return columns


def _read_table(
    node: Node, purposes: Mapping[str, frozenset[str]], categories: Collection[str]
) -> TableMap | None:
    name = node.text("name", required=True)
    table_purpose = node.text("purpose")
    if table_purpose and table_purpose not in purposes:
        node.problem("purpose", f"unknown purpose {table_purpose!r}")
    provided_default = node.flag("provided_by_subject", False)
    rectifiable = node.texts("rectifiable")
    columns = _read_columns(
        node, table_purpose, provided_default, rectifiable, purposes, categories
    )
    for column in rectifiable:
        if column not in columns:
            node.problem("rectifiable", f"column {column!r} is not in columns")

    identity: list[tuple[IdentityKind, str]] = []
    for kind_name, raw in node.mapping("identity").items():
        path = f"identity.{kind_name}"
        try:
            kind = IdentityKind(kind_name)
        except ValueError:
            known = ", ".join(k.value for k in IdentityKind)
            node.problem(path, f"unknown identity (one of: {known})")
            continue
        names = [raw] if isinstance(raw, str) else raw
        if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
            node.problem(path, "must be a column name or a list of them")
            continue
        for column in names:
            if column not in columns:
                node.problem(path, f"column {column!r} is not in columns")
            identity.append((kind, column))

    links: list[Link] = []
    for column, target in node.mapping("link").items():
        path = f"link.{column}"
        if not isinstance(target, str) or target.count(".") != 1:
            node.problem(path, 'must name a column of another table as "table.column"')
            continue
        target_table, target_column = target.split(".")
        if target_table == name:
            node.problem(path, "a table cannot link to itself")
            continue
        links.append(Link(column, target_table, target_column))
    if not identity and not links:
        node.problem(None, "needs identity columns or a link to reach the subject")

    erasure = _choice(node, "erasure", Erasure)
    retain_node = node.table("retain")
    retain = _read_retain(retain_node) if retain_node else None
    if erasure is Erasure.retain and retain_node is None:
        node.problem(
            "retain", 'is required when erasure = "retain" (basis, exception, years, from)'
        )
    if erasure is not Erasure.retain and retain_node is not None:
        node.problem("retain", 'is only used with erasure = "retain"')
    anonymizes = erasure is Erasure.anonymize or (
        retain is not None and retain.then is Erasure.anonymize
    )
    # A customer number may stay on an anonymized row (retained invoices point at it);
    # an email, personnummer or phone number never may.
    identity_columns = {name for kind, name in identity if kind is not IdentityKind.customer_id}
    for mapped in columns.values():
        path = f"columns.{mapped.name}.anonymize"
        if anonymizes and mapped.anonymize is None:
            node.problem(path, "is required when rows are anonymized")
        if not anonymizes and mapped.anonymize is not None:
            node.problem(path, "is only used when rows are anonymized")
        if mapped.anonymize is Anonymize.keep and mapped.name in identity_columns:
            node.problem(
                path, "an email, personnummer or phone cannot be kept in an anonymized row"
            )

    marketing = node.text("marketing_consent_column") or None
    if marketing and marketing not in columns:
        node.problem("marketing_consent_column", f"column {marketing!r} is not in columns")
    table = TableMap(
        name=name,
        columns=columns,
        erasure=erasure or Erasure.delete,
        identity=tuple(identity),
        links=tuple(links),
        subject=node.flag("subject", False),
        key=node.texts("key"),
        retain=retain,
        restriction_column=node.text("restriction_column") or None,
        marketing_consent_column=marketing,
        on_behalf_of=node.text("on_behalf_of"),
        ignore=node.texts("ignore"),
        label=node.text("label"),
        notes=node.text("notes"),
    )
    node.finish()
    return table if name else None


def _dependency_order(node: Node, tables: list[TableMap]) -> tuple[TableMap, ...]:
    """Tables ordered so that every link points backwards; cycles are problems."""
    by_name = {t.name: t for t in tables}
    for table in tables:
        for link in table.links:
            target = by_name.get(link.table)
            if target is None:
                node.problem(
                    f"tables[{table.name}].link.{link.column}",
                    f"links to {link.table!r}, which is not mapped in this source",
                )
    # Keep the map's own order where links allow: it is the order staff read the tables in.
    ordered: list[TableMap] = []
    placed: set[str] = set()
    pending = list(tables)
    while pending:
        ready = next(
            (t for t in pending if t.depends_on & by_name.keys() <= placed),
            None,
        )
        if ready is None:
            names = ", ".join(t.name for t in pending)
            node.problem("tables", f"links form a cycle among: {names}")
            return tuple(ordered + pending)
        ordered.append(ready)
        placed.add(ready.name)
        pending.remove(ready)
    return tuple(ordered)


def _check_url(node: Node, url: str) -> None:
    for match in _PLACEHOLDER.finditer(url):
        name = match.group(1)
        if name != "data_dir" and not _ENV_NAME.fullmatch(name):
            node.problem(
                "url", f"unknown placeholder {{{name}}} (use {{data_dir}} or {{env:NAME}})"
            )


def read_sources(
    root: Node, purposes: Mapping[str, frozenset[str]], categories: Collection[str]
) -> tuple[SourceMap, ...]:
    """The ``[[sources]]`` of a profile, with problems recorded on ``root.problems``."""
    sources: list[SourceMap] = []
    seen: set[str] = set()
    for node in root.tables("sources"):
        name = node.text("name", required=True)
        if name in seen:
            node.problem("name", f"source {name!r} is defined twice")
        seen.add(name)
        url = node.text("url", required=True)
        _check_url(node, url)
        tables: list[TableMap] = []
        table_names: set[str] = set()
        for table_node in node.tables("tables"):
            table = _read_table(table_node, purposes, categories)
            if table is None:
                continue
            if table.name in table_names:
                table_node.problem("name", f"table {table.name!r} is mapped twice")
                continue
            table_names.add(table.name)
            tables.append(table)
        if not tables:
            node.problem("tables", "is required: a source maps at least one table")
        ordered = _dependency_order(node, tables)
        source = SourceMap(
            name=name,
            url=url,
            tables=ordered,
            label=node.text("label"),
            schema=node.text("schema") or None,
            notes=node.text("notes"),
            _by_name={t.name: t for t in ordered},
        )
        node.finish()
        sources.append(source)
    return tuple(sources)
