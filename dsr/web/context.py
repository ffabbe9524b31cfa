"""Values every template may use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from dsr import deadlines, scheduler
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


#: How the timeline names what happened; unknown actions show their code.
EVENT_LABELS = {
    "request.created": _l("Request received"),
    "request.verified": _l("Email address confirmed"),
    "request.assigned": _l("Assigned"),
    "request.started": _l("Work started"),
    "request.extended": _l("Deadline extended"),
    "request.paused": _l("Information asked from the subject"),
    "request.resumed": _l("Clock restarted"),
    "request.message_sent": _l("Message to the subject"),
    "request.message_received": _l("Message from the subject"),
    "request.refused": _l("Refused"),
    "request.partially_refused": _l("Partly refused"),
    "request.completed": _l("Completed"),
    "request.withdrawn": _l("Withdrawn by the subject"),
    "request.closed_spam": _l("Closed as spam"),
    "request.closed_duplicate": _l("Closed as duplicate"),
    "request.expired": _l("Expired unverified"),
    "request.personnummer_shown": _l("Personnummer shown in full"),
    "identity.checked_by_staff": _l("Identity checked by staff"),
    "task.completed": _l("Manual task finished"),
}


def event_label(action: str) -> str:
    label = EVENT_LABELS.get(action)
    return str(label) if label is not None else action


def _scheduler_stale() -> bool:
    if "scheduler_stale" not in g:
        stale_after = timedelta(minutes=current_app.config["SCHEDULER_STALE_AFTER_MINUTES"])
        g.scheduler_stale = scheduler.status(db_session(), utcnow(), stale_after).stale
    return bool(g.scheduler_stale)


def init_app(app: Flask) -> None:
    @app.context_processor
    def inject() -> dict[str, Any]:
        return {
            "current_locale": lambda: str(get_locale() or app.config["DEFAULT_LANGUAGE"]),
            "site_name": lambda: current_profile().controller.name,
            "privacy_contact": lambda: current_profile().controller.privacy_email,
            "role_label": lambda role: ROLE_LABELS.get(StaffRole(role), role),
            "scheduler_stale": _scheduler_stale,
            "due_info": due_info,
            "event_label": event_label,
        }
