"""Intake: turning what a data subject (or a trusted system, or staff) sends into a request."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from dsr.models import ReferenceCounter

REFERENCE_PREFIX = "DSR"


def next_reference(session: Session, year: int) -> str:
    """The next public reference for ``year``, e.g. ``DSR-2026-000123``.

    The counter row is created on first use and then incremented with a single UPDATE, whose
    row lock makes concurrent intakes wait for each other instead of sharing a number.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(ReferenceCounter).values(year=year, last_number=0).on_conflict_do_nothing()
    )
    number = session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(last_number=ReferenceCounter.last_number + 1)
        .returning(ReferenceCounter.last_number)
    ).scalar_one()
    return f"{REFERENCE_PREFIX}-{year}-{number:06d}"
