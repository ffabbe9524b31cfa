"""Rate limits of the public pages, named after the settings that size them.

Each check counts one hit in the database (``dsr.ratelimit``) and says whether the window
was already full. The caller commits right after, before doing the work, so that a refused
or failing attempt still counts.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, request
from sqlmodel import Session

from dsr import ratelimit

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

#: scope -> (setting, window)
_LIMITS: dict[tuple[str, str], tuple[str, timedelta]] = {
    ("submit", "ip"): ("RATELIMIT_SUBMIT_PER_HOUR_IP", HOUR),
    ("submit", "email"): ("RATELIMIT_SUBMIT_PER_DAY_EMAIL", DAY),
    ("verify", "ip"): ("RATELIMIT_VERIFY_PER_HOUR_IP", HOUR),
    ("verify", "email"): ("RATELIMIT_VERIFY_PER_HOUR_EMAIL", HOUR),
    ("resend", "ip"): ("RATELIMIT_RESEND_PER_HOUR_IP", HOUR),
    ("resend", "email"): ("VERIFICATION_RESEND_PER_HOUR", HOUR),
    ("reply", "request"): ("RATELIMIT_REPLY_PER_HOUR", HOUR),
}


def client_ip() -> str:
    return request.remote_addr or "unknown"


def exceeded(session: Session, scope: str, kind: str, value: str) -> bool:
    """Count a hit for ``value`` (an IP, an email address, a request id); True if over."""
    setting, window = _LIMITS[(scope, kind)]
    limit = ratelimit.Limit(int(current_app.config[setting]), window)
    try:
        ratelimit.hit(session, ratelimit.key_for(scope, kind, value), limit)
    except ratelimit.RateLimited:
        return True
    return False
