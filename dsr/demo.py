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
from dsr.models import Channel, Right, StaffRole, StaffUser
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


#: Requests on the demo queue: (name, email, right, details, days ago, channel, what happened).
#: The people are not in the demo customer systems, so the demo subjects in README stay free
#: for a newcomer to file requests for themselves.
DEMO_REQUESTS: tuple[tuple[str, str, Right, dict[str, Any], int, Channel, str], ...] = (
    ("Karin Svensson", "karin.svensson@example.net", Right.access, {}, 38, Channel.web, "overdue"),
    (
        "Olof Berglund",
        "olof.berglund@example.net",
        Right.erasure,
        {"scope": "everything"},
        27,
        Channel.web,
        "assigned",
    ),
    (
        "Sara Nyström",
        "sara.nystrom@example.net",
        Right.rectification,
        {"data_to_correct": "Min adress", "correct_values": "Storgatan 5, 222 33 Lund"},
        20,
        Channel.email,
        "verified",
    ),
    (
        "Johan Ek",
        "johan.ek@example.net",
        Right.objection,
        {"objection_to": "direct_marketing"},
        12,
        Channel.web,
        "verified",
    ),
    (
        "Lena Holm",
        "lena.holm@example.net",
        Right.portability,
        {"delivery": "download"},
        9,
        Channel.web,
        "asked",
    ),
    ("Per Wikström", "per.wikstrom@example.net", Right.access, {}, 6, Channel.letter, "unverified"),
    (
        "Eva Sandberg",
        "eva.sandberg@example.net",
        Right.restriction,
        {"grounds": "accuracy_contested"},
        3,
        Channel.phone,
        "unverified",
    ),
    (
        "Mikael Dahl",
        "mikael.dahl@example.net",
        Right.consent_withdrawal,
        {"consent": "Nyhetsbrev"},
        2,
        Channel.web,
        "verified",
    ),
    ("Spam Sändare", "offers@example.net", Right.access, {}, 15, Channel.web, "spam"),
)


def seed_requests(session: Session, config: Mapping[str, Any]) -> int:
    """Put a handful of requests in every state on the queue (only into an empty one)."""
    from datetime import timedelta

    from dsr import identity, intake, workflow
    from dsr.db import utcnow
    from dsr.models import CloseReason, PauseReason, Request

    if session.scalar(select(func.count()).select_from(Request)):
        return 0
    offered = set(load_profile(config["PROFILE"]).rights)
    handler = accounts.find_by_email(session, "handler@example.com")
    actor = Actor.system("demo")
    now = utcnow()
    made = 0
    for name, email, right, details, days_ago, channel, state in DEMO_REQUESTS:
        if right not in offered:
            continue
        submission = intake.check_submission(
            right, name=name, email=email, details=details, language="sv", now=now
        )
        received = now - timedelta(days=days_ago, hours=3)
        filed = intake.file_request(
            session,
            submission,
            channel=channel,
            actor=actor,
            received_at=received,
            acknowledge=False,
        )
        request = filed.request
        staff_actor = Actor.staff(handler) if handler is not None else actor
        if state != "unverified":
            identity.mark_email_verified(session, request, actor=Actor.subject(), now=received)
        if state in ("assigned", "overdue", "asked") and handler is not None:
            workflow.assign(session, request, handler, actor=staff_actor)
            workflow.start_work(session, request, actor=staff_actor)
        if state == "asked":
            workflow.pause(
                session,
                request,
                reason=PauseReason.clarification,
                question="Vilket av dina två konton gäller begäran?",
                actor=staff_actor,
            )
        if state == "spam":
            workflow.close_as(
                session,
                request,
                reason=CloseReason.spam,
                note="Reklam, ingen begäran.",
                actor=staff_actor,
            )
        made += 1
    return made
