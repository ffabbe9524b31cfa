"""Legal deadlines, as pure functions: no Flask, no database.

GDPR (Art. 12(3), counted under Regulation 1182/71): the period starts the day after the
request is received in Europe/Stockholm and ends on the same date one month later, or the
month's last day when that date does not exist. An end falling on a Saturday, Sunday or
Swedish public holiday moves to the next working day. An extension adds two months to the
unrolled first due date; days spent waiting for the subject push the unrolled date back by
whole calendar days. CCPA counts 45 calendar days (45 more on extension) without rolling.

Two dates are kept: the *target* (unrolled) and the *legal* (rolled) due date; the legal one
is what the law holds the controller to.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CCPA_DAYS = 45


class Regime(enum.StrEnum):
    gdpr = "gdpr"
    ccpa = "ccpa"


class DueState(enum.StrEnum):
    overdue = "overdue"
    due_soon = "due_soon"
    later = "later"


@dataclass(frozen=True)
class Due:
    """A due date before (``target``) and after (``legal``) rolling past non-working days."""

    target: date
    legal: date


def received_date(received_at: datetime, tz: ZoneInfo = STOCKHOLM) -> date:
    """The calendar day on which the request arrived, in the controller's zone."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must carry a time zone")
    return received_at.astimezone(tz).date()


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the last day of a shorter month (1182/71 3(2)(c))."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@lru_cache(maxsize=256)
def _closed_days(year: int, eves_are_holidays: bool) -> frozenset[date]:
    """Sweden's allmänna helgdagar (lag 1989:253) for a year, optionally with the three eves.

    Sundays are handled by the weekday test; the library supplies the moveable feasts.
    """
    categories: tuple[str, ...] = ("public", "de_facto") if eves_are_holidays else ("public",)
    days = holidays.Sweden(years=year, include_sundays=False, categories=categories)
    return frozenset(days.keys())


def is_working_day(day: date, *, eves_are_holidays: bool = False) -> bool:
    return day.weekday() < 5 and day not in _closed_days(day.year, eves_are_holidays)


def roll_forward(day: date, *, eves_are_holidays: bool = False) -> date:
    """The day itself if it is a working day, else the next working day (1182/71 3(4))."""
    while not is_working_day(day, eves_are_holidays=eves_are_holidays):
        day += timedelta(days=1)
    return day


def unrolled_due(
    received: date, *, regime: Regime = Regime.gdpr, extended: bool = False, paused_days: int = 0
) -> date:
    """The due date before rolling: one month (three with extension) or 45 (90) days."""
    if paused_days < 0:
        raise ValueError("paused_days cannot be negative")
    if regime == Regime.ccpa:
        base = received + timedelta(days=CCPA_DAYS * (2 if extended else 1))
    else:
        first = add_months(received, 1)
        base = add_months(first, 2) if extended else first
    return base + timedelta(days=paused_days)


def due_for_date(
    received: date,
    *,
    regime: Regime = Regime.gdpr,
    extended: bool = False,
    paused_days: int = 0,
    eves_are_holidays: bool = False,
) -> Due:
    """Target and legal due dates for a request received on the calendar day ``received``."""
    target = unrolled_due(received, regime=regime, extended=extended, paused_days=paused_days)
    if regime == Regime.ccpa:
        return Due(target, target)
    return Due(target, roll_forward(target, eves_are_holidays=eves_are_holidays))


def due(
    received_at: datetime,
    *,
    regime: Regime = Regime.gdpr,
    extended: bool = False,
    paused_days: int = 0,
    eves_are_holidays: bool = False,
    tz: ZoneInfo = STOCKHOLM,
) -> Due:
    """The target and legal due dates of a request, given what has been decided about it."""
    return due_for_date(
        received_date(received_at, tz),
        regime=regime,
        extended=extended,
        paused_days=paused_days,
        eves_are_holidays=eves_are_holidays,
    )


def paused_days(
    pauses: Iterable[tuple[datetime, datetime | None]], now: datetime, tz: ZoneInfo = STOCKHOLM
) -> int:
    """Whole calendar days the clock stood still: from each pause's start day to its end day.

    A pause that is still open counts up to ``now``. A pause begun and ended on the same day
    costs nothing.
    """
    total = 0
    for started_at, ended_at in pauses:
        end = ended_at or now
        total += max(0, (end.astimezone(tz).date() - started_at.astimezone(tz).date()).days)
    return total


def days_left(due_legal: date, today: date) -> int:
    """Days until the legal due date: 0 on the day itself, negative once it has passed."""
    return (due_legal - today).days


def due_state(due_legal: date, today: date, due_soon_days: int) -> DueState:
    left = days_left(due_legal, today)
    if left < 0:
        return DueState.overdue
    if left <= due_soon_days:
        return DueState.due_soon
    return DueState.later


def today(tz: ZoneInfo = STOCKHOLM, now: datetime | None = None) -> date:
    """The current date in the controller's zone."""
    return (now or datetime.now(UTC)).astimezone(tz).date()
