"""Values every template may use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, current_app, g
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from dsr import scheduler
from dsr.db import session as db_session
from dsr.db import utcnow
from dsr.models import StaffRole
from dsr.profiles import current_profile

ROLE_LABELS = {
    StaffRole.admin: _l("Administrator"),
    StaffRole.handler: _l("Handler"),
    StaffRole.auditor: _l("Auditor (read-only)"),
}


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
        }
