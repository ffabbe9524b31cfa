"""Demo data for `make run`: staff accounts to log in with and requests to look at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from dsr import accounts
from dsr.audit import Actor
from dsr.models import StaffRole, StaffUser

DEMO_STAFF = (
    ("admin@example.com", "Ada Admin", StaffRole.admin, "dsr-demo-admin"),
    ("handler@example.com", "Hanna Handläggare", StaffRole.handler, "dsr-demo-handler"),
    ("auditor@example.com", "Arvid Granskare", StaffRole.auditor, "dsr-demo-auditor"),
)


def seed(session: Session, config: Mapping[str, Any]) -> bool:
    """Fill an empty database; return False (and touch nothing) if staff already exist."""
    if session.scalar(select(func.count()).select_from(StaffUser)):
        return False
    actor = Actor.system("demo")
    for email, name, role, password in DEMO_STAFF:
        accounts.create_staff(session, email, role, name=name, password=password, actor=actor)
    return True
