"""Demo customer systems: the databases a controller's profile maps, filled with made-up people.

``flask --app app dsr seed-demo`` builds, for the selected profile, every source that has a
demo system here and whose URL is an SQLite file (normally in ``data_dir``). Building is
deterministic (seeded by profile and source), idempotent (an existing demo database is left
alone, a database that is not a demo is never touched) and written to a temporary file that
replaces the target only when complete.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from dsr.demodata import cling, default, hosting, kliently, klingit, qleano
from dsr.demodata.build import VERSION, DemoSystem, build_system
from dsr.profiles import Profile

#: Profile key -> source name -> demo system.
SYSTEMS: Mapping[str, Mapping[str, DemoSystem]] = {
    "default": default.SYSTEMS,
    "kliently": kliently.SYSTEMS,
    "cling": cling.SYSTEMS,
    "qleano": qleano.SYSTEMS,
    "klingit": klingit.SYSTEMS,
    "hosting-provider": hosting.SYSTEMS,
}

#: People per demo system: enough to feel real, few enough to build in a second or two.
DEFAULT_PEOPLE = 3000


@dataclass(frozen=True)
class DemoOutcome:
    source: str
    path: Path
    #: built | present (a current demo database was there) | foreign (not a demo: untouched)
    state: str
    people: int = 0


def demo_seed(profile_key: str, source: str) -> str:
    return f"dsr-demo/{profile_key}/{source}"


def _demo_version(path: Path) -> str | None:
    """The demo version recorded in the file, or None if it is not a demo database."""
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if "demo_info" not in inspect(connection).get_table_names():
                return None
            row = connection.execute(
                select(text("value")).select_from(text("demo_info")).where(text("name = 'version'"))
            ).first()
            return str(row[0]) if row else None
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def ensure_demo_systems(
    profile: Profile,
    data_dir: str | os.PathLike[str],
    *,
    people: int = DEFAULT_PEOPLE,
    today: date | None = None,
) -> list[DemoOutcome]:
    """Build the profile's demo databases that are missing; report what each source got."""
    today = today or date.today()
    outcomes: list[DemoOutcome] = []
    systems = SYSTEMS.get(profile.key, {})
    for source in profile.sources:
        system = systems.get(source.name)
        if system is None:
            continue
        url = make_url(source.resolve_url(data_dir))
        if url.get_backend_name() != "sqlite" or not url.database:
            continue  # the demo only ever writes files of its own
        path = Path(url.database)
        if path.exists():
            version = _demo_version(path)
            if version is None or version == VERSION:
                state = "foreign" if version is None else "present"
                outcomes.append(DemoOutcome(source.name, path, state))
                continue
            # A demo database from an older version of the systems: ours to replace.
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.unlink(missing_ok=True)
        engine = create_engine(f"sqlite:///{partial}", poolclass=NullPool)
        try:
            summary = build_system(
                engine, system, people=people, seed=demo_seed(profile.key, source.name), today=today
            )
        finally:
            engine.dispose()
        os.replace(partial, path)
        outcomes.append(DemoOutcome(source.name, path, "built", summary.people))
    return outcomes
