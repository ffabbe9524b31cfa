"""The dashboard: where the team stands, at a glance."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template

from dsr import dashboard as figures
from dsr import deadlines
from dsr.db import session as db_session
from dsr.models import Right
from dsr.web.auth import staff_required

bp = Blueprint("dashboard", __name__, url_prefix="/staff")


@bp.get("/dashboard")
@staff_required
def show() -> Any:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    board = figures.build(db_session(), today=deadlines.today(zone), zone=zone)
    bars, top, bar_width = figures.chart_bars(board.per_month)
    return render_template(
        "staff/dashboard.html",
        board=board,
        bars=bars,
        top=top,
        bar_width=bar_width,
        colours=figures.RIGHT_COLOURS,
        rights=list(Right),
    )
