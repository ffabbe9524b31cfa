"""The staff queue: filters, search and keyset pagination over every request.

Pages are cut by keyset ("after the row with these sort values"), not by OFFSET, so page
1000 costs what page 1 costs. Each sort order has an index that matches it (see the
indexes on ``Request``); the default view, open requests by legal due date, uses a partial
index whose predicate is repeated here word for word so the planner can use it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, text, tuple_
from sqlmodel import Session, col

from dsr.deadlines import DueState
from dsr.models import OPEN_STATUS_SQL, Channel, Request, RequestStatus, Right

PAGE_SIZE = 50
REFERENCE = re.compile(r"^DSR-\d{4}-\d{1,6}$", re.IGNORECASE)
SORTS = ("due", "received", "status")
STATUS_GROUPS = ("open", "closed", "all")


class FilterError(ValueError):
    """A filter value that cannot be understood; the view shows it next to the filter."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class QueueFilter:
    status: str = "open"  # open | closed | all | one RequestStatus value
    right: Right | None = None
    assignee: str | None = None  # mine | unassigned | a staff id
    due: DueState | None = None
    channel: Channel | None = None
    received_from: date | None = None
    received_to: date | None = None
    q: str = ""
    sort: str = "due"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> tuple[QueueFilter, dict[str, str]]:
        """Read a filter from query arguments; bad values are dropped and reported."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}

        def pick(name: str, parse: Any) -> None:
            raw = (args.get(name) or "").strip()
            if not raw:
                return
            try:
                values[name] = parse(raw)
            except (ValueError, KeyError):
                errors[name] = raw

        pick("status", _parse_status)
        pick("right", Right)
        pick("assignee", _parse_assignee)
        pick("due", DueState)
        pick("channel", Channel)
        pick("received_from", date.fromisoformat)
        pick("received_to", date.fromisoformat)
        pick("sort", _parse_sort)
        values["q"] = (args.get("q") or "").strip()[:200]
        return cls(**values), errors

    def to_args(self, **changes: Any) -> dict[str, str]:
        """Query arguments that reproduce this filter (for links, forms and CSV export)."""
        current = replace(self, **changes) if changes else self
        out: dict[str, str] = {}
        for name in QueueFilter.__dataclass_fields__:
            value = getattr(current, name)
            default = getattr(QueueFilter(), name)
            if value in (None, "") or value == default:
                continue
            out[name] = value.isoformat() if isinstance(value, date) else str(value)
        return out

    @property
    def is_default(self) -> bool:
        return self == QueueFilter()


def _parse_status(raw: str) -> str:
    if raw in STATUS_GROUPS:
        return raw
    return RequestStatus(raw).value


def _parse_assignee(raw: str) -> str:
    if raw in ("mine", "unassigned"):
        return raw
    return str(int(raw))


def _parse_sort(raw: str) -> str:
    if raw not in SORTS:
        raise ValueError(raw)
    return raw


@dataclass(frozen=True)
class Cursor:
    """Sort values of the row a page starts after (or ends before)."""

    values: tuple[Any, ...]

    def encode(self) -> str:
        plain = [v.isoformat() if isinstance(v, (date, datetime)) else v for v in self.values]
        return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, raw: str, sort: str) -> Cursor | None:
        try:
            padded = raw + "=" * (-len(raw) % 4)
            plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if sort == "due":
                due_legal, row_id = plain
                return cls((date.fromisoformat(due_legal), int(row_id)))
            if sort == "received":
                received, row_id = plain
                return cls((datetime.fromisoformat(received), int(row_id)))
            status, due_legal, row_id = plain
            return cls((RequestStatus(status).value, date.fromisoformat(due_legal), int(row_id)))
        except (ValueError, TypeError, json.JSONDecodeError):
            return None


@dataclass
class Page:
    rows: Sequence[Request]
    next_cursor: Cursor | None = None
    prev_cursor: Cursor | None = None
    filter: QueueFilter = field(default_factory=QueueFilter)


def _sort_columns(sort: str) -> tuple[list[Any], bool]:
    """Columns of the sort key, and whether the order is descending."""
    if sort == "received":
        return [col(Request.received_at), col(Request.id)], True
    if sort == "status":
        return [col(Request.status), col(Request.due_legal), col(Request.id)], False
    return [col(Request.due_legal), col(Request.id)], False


def _cursor_of(row: Request, sort: str) -> Cursor:
    if sort == "received":
        return Cursor((row.received_at, row.id))
    if sort == "status":
        return Cursor((row.status.value, row.due_legal, row.id))
    return Cursor((row.due_legal, row.id))


def conditions(
    f: QueueFilter, *, me_id: int | None, today: date, due_soon_days: int, zone: ZoneInfo
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a filter (shared by the page, the CSV export and the bulk form)."""
    where: list[ColumnElement[bool]] = []
    status = f.status
    if f.due is not None:
        status = "open"  # a due window only makes sense for requests still running
    if status == "open":
        where.append(text(OPEN_STATUS_SQL))
    elif status == "closed":
        where.append(col(Request.closed_at).is_not(None))
    elif status != "all":
        where.append(col(Request.status) == status)
    if f.right is not None:
        where.append(col(Request.right) == f.right)
    if f.channel is not None:
        where.append(col(Request.channel) == f.channel)
    if f.assignee == "mine":
        where.append(col(Request.assignee_id) == me_id)
    elif f.assignee == "unassigned":
        where.append(col(Request.assignee_id).is_(None))
    elif f.assignee:
        where.append(col(Request.assignee_id) == int(f.assignee))
    soon = today + timedelta(days=due_soon_days)
    if f.due == DueState.overdue:
        where.append(col(Request.due_legal) < today)
    elif f.due == DueState.due_soon:
        where.append(and_(col(Request.due_legal) >= today, col(Request.due_legal) <= soon))
    elif f.due == DueState.later:
        where.append(col(Request.due_legal) > soon)
    if f.received_from is not None:
        start = datetime.combine(f.received_from, time.min, zone).astimezone(UTC)
        where.append(col(Request.received_at) >= start)
    if f.received_to is not None:
        end = datetime.combine(f.received_to + timedelta(days=1), time.min, zone).astimezone(UTC)
        where.append(col(Request.received_at) < end)
    if f.q:
        where.append(search_condition(f.q))
    return where


def search_condition(q: str) -> ColumnElement[bool]:
    """Reference (whole, or its number), an exact email address, or the start of a name."""
    q = q.strip()
    if REFERENCE.match(q):
        prefix, year, number = q.upper().split("-")
        return col(Request.reference) == f"{prefix}-{year}-{int(number):06d}"
    if q.isdigit() and len(q) <= 6:
        return col(Request.reference).like(f"DSR-%-{int(q):06d}")
    if "@" in q:
        return col(Request.subject_email) == q.lower()
    pattern = _escape_like(q.lower())
    name = func.lower(col(Request.subject_name))
    return or_(name.like(f"{pattern}%", escape="\\"), name.like(f"% {pattern}%", escape="\\"))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _keyset(sort: str, cursor: Cursor, forward: bool) -> ColumnElement[bool]:
    columns, descending = _sort_columns(sort)
    key = tuple_(*columns)
    # Typed like the columns, so a datetime is stored-format on every backend.
    values = tuple_(
        *(literal(v, type_=c.type) for v, c in zip(cursor.values, columns, strict=True))
    )
    ascending_walk = forward != descending
    return key > values if ascending_walk else key < values


def page(
    session: Session,
    f: QueueFilter,
    *,
    me_id: int | None,
    today: date,
    due_soon_days: int,
    zone: ZoneInfo,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of the queue, ``limit`` rows, after ``after`` or before ``before``."""
    columns, descending = _sort_columns(f.sort)
    forward = before is None
    statement: Select[Any] = select(Request)
    for condition in conditions(
        f, me_id=me_id, today=today, due_soon_days=due_soon_days, zone=zone
    ):
        statement = statement.where(condition)
    cursor = after if forward else before
    if cursor is not None:
        statement = statement.where(_keyset(f.sort, cursor, forward))
    walk_descending = descending == forward
    order = [c.desc() if walk_descending else c.asc() for c in columns]
    rows = list(session.scalars(statement.order_by(*order).limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    result = Page(rows=rows, filter=f)
    if rows:
        first, last = _cursor_of(rows[0], f.sort), _cursor_of(rows[-1], f.sort)
        if forward:
            result.next_cursor = last if more else None
            result.prev_cursor = first if after is not None else None
        else:
            result.prev_cursor = first if more else None
            result.next_cursor = last
    return result


def iter_matching(
    session: Session,
    f: QueueFilter,
    *,
    me_id: int | None,
    today: date,
    due_soon_days: int,
    zone: ZoneInfo,
    batch: int = 1000,
) -> Iterator[Request]:
    """Every matching request in queue order, fetched page by page (CSV export)."""
    after: Cursor | None = None
    while True:
        chunk = page(
            session,
            f,
            me_id=me_id,
            today=today,
            due_soon_days=due_soon_days,
            zone=zone,
            after=after,
            limit=batch,
        )
        yield from chunk.rows
        if chunk.next_cursor is None:
            return
        after = chunk.next_cursor
        session.expunge_all()
