"""Languages: Swedish by default, English on request; dates shown in the controller's zone."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, session
from flask_babel import Babel, format_date, format_datetime, format_decimal

from dsr.config import LANGUAGES

babel = Babel()


def select_locale() -> str:
    """Explicit ``?lang=`` (links in emails carry it) > the visitor's choice > default."""
    if request:
        asked = request.args.get("lang")
        if asked in LANGUAGES:
            return asked
        chosen = session.get("lang")
        if chosen in LANGUAGES:
            return str(chosen)
    return str(current_app.config["DEFAULT_LANGUAGE"])


def select_timezone() -> str:
    return str(current_app.config["TIMEZONE"])


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config["DEFAULT_LANGUAGE"])
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["TIMEZONE"])
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", str(Path(app.root_path) / "translations")
    )
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["date"] = _date_filter
    app.jinja_env.filters["datetime"] = _datetime_filter
    app.jinja_env.filters["bytes"] = _bytes_filter


def _date_filter(value: date | datetime | None, fmt: str = "yyyy-MM-dd") -> str:
    """Dates as Swedes and ISO 8601 write them (2026-12-21) unless a CLDR format is given."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(local_zone()).date()
    if fmt == "yyyy-MM-dd":
        # The same digits in every locale; lists show many dates, and Babel takes its time.
        return value.isoformat()
    return format_date(value, fmt)


def _datetime_filter(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """In the controller's time zone."""
    if value is None:
        return ""
    return format_datetime(value, fmt)


def _bytes_filter(value: int | None) -> str:
    """A file size as people read it, in the page's language (1,2 MB in Swedish)."""
    size = float(value or 0)
    unit = "B"
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            break
        size /= 1000
    return f"{format_decimal(round(size, 1), format='#,##0.#')} {unit}"
