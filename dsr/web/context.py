"""Values every template may use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from dsr import deadlines, labels, scheduler
from dsr.db import session as db_session
from dsr.db import utcnow
from dsr.models import Request, RequestStatus, StaffRole
from dsr.profiles import current_profile

ROLE_LABELS = {
    StaffRole.admin: _l("Administrator"),
    StaffRole.handler: _l("Handler"),
    StaffRole.auditor: _l("Auditor (read-only)"),
}


@dataclass(frozen=True)
class DueInfo:
    """How a request stands against its legal due date today (derived, never stored)."""

    due_legal: date
    days_left: int
    state: deadlines.DueState
    paused: bool

    @property
    def overdue(self) -> bool:
        return self.state == deadlines.DueState.overdue

    @property
    def due_soon(self) -> bool:
        return self.state == deadlines.DueState.due_soon


def due_info(request: Request) -> DueInfo:
    """What pages show for a request's deadline: computed by dsr.deadlines at read time."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    today = deadlines.today(zone)
    return DueInfo(
        due_legal=request.due_legal,
        days_left=deadlines.days_left(request.due_legal, today),
        state=deadlines.due_state(
            request.due_legal, today, current_app.config["DEADLINES_DUE_SOON_DAYS"]
        ),
        paused=request.status == RequestStatus.awaiting_subject,
    )


def _scheduler_stale() -> bool:
    if "scheduler_stale" not in g:
        stale_after = timedelta(minutes=current_app.config["SCHEDULER_STALE_AFTER_MINUTES"])
        g.scheduler_stale = scheduler.status(db_session(), utcnow(), stale_after).stale
    return bool(g.scheduler_stale)


def init_app(app: Flask) -> None:
    # Globals rather than context values, so imported macros can use them too.
    app.jinja_env.globals["label"] = labels.label
    app.jinja_env.globals["event_label"] = lambda action: labels.label("event", action)

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {
            "current_locale": lambda: str(get_locale() or app.config["DEFAULT_LANGUAGE"]),
            "site_name": lambda: current_profile().controller.name,
            "privacy_contact": lambda: current_profile().controller.privacy_email,
            "role_label": lambda role: ROLE_LABELS.get(StaffRole(role), role),
            "scheduler_stale": _scheduler_stale,
            "due_info": due_info,
        }
