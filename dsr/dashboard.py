"""Figures for the dashboard: how the team stands against its deadlines.

Counts are done in SQL; the twelve-month figures read only the columns they need, a batch
at a time, and fold them in Python so that SQLite and PostgreSQL give the same answers.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlmodel import Session, col

from dsr.deadlines import add_months
from dsr.models import OPEN_STATUS_SQL, Request, RequestStatus, Right

ANSWERED = (RequestStatus.completed, RequestStatus.refused)


@dataclass
class Dashboard:
    open: int
    overdue: int
    due_this_week: int
    completed_this_month: int
    #: Share of requests answered in the last 12 months that were answered on time.
    on_time_rate: float | None
    median_days_to_close: float | None
    #: ("2026-01", {Right: count}) for the last 12 months, oldest first.
    per_month: list[tuple[str, dict[Right, int]]] = field(default_factory=list)
    overdue_requests: list[Request] = field(default_factory=list)


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(UTC)


def build(session: Session, *, today: date, zone: ZoneInfo, overdue_limit: int = 50) -> Dashboard:
    open_clause = text(OPEN_STATUS_SQL)

    def count(*where: object) -> int:
        return int(session.scalar(select(func.count()).select_from(Request).where(*where)) or 0)

    week_end = today + timedelta(days=6 - today.weekday())
    month_start = today.replace(day=1)
    year_ago_month = add_months(month_start, -11)

    answered_rows = session.execute(
        select(col(Request.received_at), col(Request.closed_at), col(Request.due_legal))
        .where(
            col(Request.status).in_(ANSWERED),
            col(Request.closed_at) >= _start_of(add_months(today, -12), zone),
        )
        .execution_options(yield_per=5000)
    )
    durations: list[float] = []
    on_time = 0
    for received_at, closed_at, due_legal in answered_rows:
        durations.append((closed_at - received_at).total_seconds() / 86400)
        if closed_at.astimezone(zone).date() <= due_legal:
            on_time += 1

    months = [add_months(year_ago_month, i) for i in range(12)]
    per_month: dict[str, Counter[Right]] = {m.strftime("%Y-%m"): Counter() for m in months}
    received_rows = session.execute(
        select(col(Request.received_at), col(Request.right))
        .where(col(Request.received_at) >= _start_of(year_ago_month, zone))
        .execution_options(yield_per=5000)
    )
    for received_at, right in received_rows:
        key = received_at.astimezone(zone).strftime("%Y-%m")
        if key in per_month:
            per_month[key][right] += 1

    overdue_requests = list(
        session.scalars(
            select(Request)
            .where(open_clause, col(Request.due_legal) < today)
            .order_by(col(Request.due_legal), col(Request.id))
            .limit(overdue_limit)
        )
    )
    return Dashboard(
        open=count(open_clause),
        overdue=count(open_clause, col(Request.due_legal) < today),
        due_this_week=count(
            open_clause, col(Request.due_legal) >= today, col(Request.due_legal) <= week_end
        ),
        completed_this_month=count(
            col(Request.status) == RequestStatus.completed,
            col(Request.closed_at) >= _start_of(month_start, zone),
        ),
        on_time_rate=(on_time / len(durations)) if durations else None,
        median_days_to_close=statistics.median(durations) if durations else None,
        per_month=[(key, dict(counter)) for key, counter in per_month.items()],
        overdue_requests=overdue_requests,
    )


#: One colour per right for the chart; each passes WCAG contrast against white as a fill.
RIGHT_COLOURS = {
    Right.access: "#0b4f8a",
    Right.rectification: "#6a3d9a",
    Right.erasure: "#a4161a",
    Right.restriction: "#7a4d00",
    Right.portability: "#1e6b34",
    Right.objection: "#b3367a",
    Right.consent_withdrawal: "#3b6e8f",
    Right.human_review: "#4a5560",
}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    colour: str
    right: Right
    count: int


def chart_bars(
    per_month: list[tuple[str, dict[Right, int]]],
    *,
    width: int = 720,
    height: int = 240,
    pad: int = 32,
) -> tuple[list[Bar], int, float]:
    """Stacked bars for the SVG chart: (bars, highest monthly total, bar width)."""
    top = max((sum(c.values()) for _, c in per_month), default=0) or 1
    slot = (width - pad) / max(len(per_month), 1)
    bar_width = slot * 0.7
    bars: list[Bar] = []
    for index, (_month, counts) in enumerate(per_month):
        y = float(height - pad)
        for right in Right:
            n = counts.get(right, 0)
            if not n:
                continue
            h = (height - 2 * pad) * n / top
            y -= h
            bars.append(
                Bar(
                    pad + index * slot + (slot - bar_width) / 2,
                    y,
                    h,
                    RIGHT_COLOURS[right],
                    right,
                    n,
                )
            )
    return bars, top, bar_width
