"""Demo data for `make run`: staff accounts to log in with, and customer systems to search.

The customer systems (``dsr.demodata``) are databases of their own in ``data_dir``, one per
source of the selected profile; README lists the demo subjects to file requests for.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from dsr import accounts
from dsr.audit import Actor
from dsr.models import StaffRole, StaffUser
from dsr.profiles import load_profile

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


def seed_customer_systems(config: Mapping[str, Any]) -> list[str]:
    """Build the selected profile's missing demo customer databases; say what each got."""
    from dsr.demodata import ensure_demo_systems

    profile = load_profile(config["PROFILE"])
    lines = []
    for outcome in ensure_demo_systems(profile, config["DATA_DIR"]):
        where = _shown_path(outcome.path)
        if outcome.state == "built":
            lines.append(
                f"Demo customer system {outcome.source!r} built at {where} "
                f"({outcome.people} people)."
            )
        elif outcome.state == "present":
            lines.append(f"Demo customer system {outcome.source!r} is at {where}.")
        else:
            lines.append(
                f"{where} exists and is not a demo database: left alone "
                f"(source {outcome.source!r} is searched as it is)."
            )
    return lines


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
