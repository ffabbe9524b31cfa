"""Demo customer systems: every demo subject can be found, the same way every time."""

import dataclasses
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dsr.demodata import SYSTEMS, demo_seed, ensure_demo_systems
from dsr.demodata.build import build_system
from dsr.profiles import load_profile
from dsr.sources.identities import Identities, normalize_personnummer
from dsr.sources.locate import locate

SEEDED = ["kliently", "cling", "qleano", "klingit", "hosting-provider"]
TODAY = date(2026, 11, 21)
#: Enough people for every table to have rows; few enough to build in a blink.
PEOPLE = 150

ASTRID = Identities.of(email="astrid.lindqvist@example.com")
# Maria Andersson's email belongs to one customer, her phone to another.
MARIAS = Identities.of(email="maria.andersson@example.com", phone="070-174 06 22")
NILS = Identities.of(email="nils.nilsson@example.com", personnummer="19580101-2393")


def demo_profile(key, backend, databases, tmp_path):
    """The profile with its demo systems built on ``backend``."""
    profile = load_profile(key)
    if backend == "sqlite":
        outcomes = ensure_demo_systems(profile, tmp_path, people=PEOPLE, today=TODAY)
        assert {o.state for o in outcomes} == {"built"}
        return profile
    sources = []
    for source in profile.sources:
        url = databases.empty(key.replace("-", "_"))
        engine = create_engine(url, poolclass=NullPool)
        system = SYSTEMS[key][source.name]
        build_system(engine, system, people=PEOPLE, seed=demo_seed(key, source.name), today=TODAY)
        engine.dispose()
        sources.append(dataclasses.replace(source, url=url))
    return dataclasses.replace(profile, sources=tuple(sources))


@pytest.mark.parametrize("key", SEEDED)
def test_a_demo_subject_is_found_in_every_mapped_table(key, backend, databases, tmp_path):
    profile = demo_profile(key, backend, databases, tmp_path)
    result = locate(profile, ASTRID, data_dir=tmp_path)
    assert result.ok and not result.ambiguous
    for source in result.sources:
        assert [t.name for t in source.tables] == [t.name for t in source.source.tables]
        empty = [t.name for t in source.tables if not t.records]
        assert empty == [], f"{key}: nothing for the demo subject in {empty}"
        assert not any(t.unmapped_columns for t in source.tables)
    assert locate(profile, NILS, data_dir=tmp_path).record_count == 0
    marias = locate(profile, MARIAS, data_dir=tmp_path)
    assert marias.ambiguous
    assert len({p.ref for s in marias.sources for p in s.people if s.ambiguous}) >= 2


def test_the_default_profile_has_its_demo_system_too(tmp_path):
    profile = load_profile("default")
    ensure_demo_systems(profile, tmp_path, people=PEOPLE, today=TODAY)
    result = locate(profile, ASTRID, data_dir=tmp_path)
    assert result.ok
    assert all(t.records for t in result.sources[0].tables)


def rows(path, table):
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    with engine.connect() as conn:
        found = [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))]
    engine.dispose()
    return found


def test_building_is_deterministic(tmp_path):
    profile = load_profile("qleano")
    ensure_demo_systems(profile, tmp_path / "a", people=PEOPLE, today=TODAY)
    ensure_demo_systems(profile, tmp_path / "b", people=PEOPLE, today=TODAY)
    name = "demo-qleano.sqlite3"
    for table in ("customers", "bookings", "invoices", "payments", "support_cases"):
        assert rows(tmp_path / "a" / name, table) == rows(tmp_path / "b" / name, table)


def test_running_twice_is_harmless_and_other_databases_are_never_touched(tmp_path):
    profile = load_profile("klingit")
    (first,) = ensure_demo_systems(profile, tmp_path, people=PEOPLE, today=TODAY)
    stamp = first.path.stat().st_mtime_ns
    (second,) = ensure_demo_systems(profile, tmp_path, people=PEOPLE, today=TODAY)
    assert (first.state, second.state) == ("built", "present")
    assert first.path.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("*.partial"))

    other = tmp_path / "elsewhere"
    other.mkdir()
    real = other / "demo-klingit.sqlite3"
    engine = create_engine(f"sqlite:///{real}", poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT)"))
    engine.dispose()
    (outcome,) = ensure_demo_systems(profile, other, people=PEOPLE, today=TODAY)
    assert outcome.state == "foreign"
    assert rows(real, "accounts") == []


def test_the_people_look_real_and_are_nobody(tmp_path):
    profile = load_profile("default")
    ensure_demo_systems(profile, tmp_path, today=TODAY)  # the full size `make run` builds
    path = tmp_path / "demo-default.sqlite3"
    customers = rows(path, "customers")
    assert len(customers) == 3000
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    with engine.connect() as conn:
        emails = conn.execute(text("SELECT email FROM customers")).scalars().all()
        pnrs = (
            conn.execute(text("SELECT personnummer FROM customers WHERE personnummer IS NOT NULL"))
            .scalars()
            .all()
        )
        first, last = conn.execute(
            text("SELECT min(ordered_at), max(ordered_at) FROM orders")
        ).one()
        consents = conn.execute(text("SELECT DISTINCT newsletter FROM customers")).scalars().all()
    engine.dispose()
    assert all(e.rsplit("@", 1)[1] in {"example.com", "example.net", "example.org"} for e in emails)
    assert len(set(emails)) == len(emails)
    assert all(normalize_personnummer(p) for p in pnrs)  # date and Luhn digit valid
    spread = datetime.fromisoformat(str(last)) - datetime.fromisoformat(str(first))
    assert spread.days > 7 * 365
    assert set(consents) == {0, 1}


def test_gunnar_has_been_away_longer_than_kliently_keeps_accounts(tmp_path):
    profile = load_profile("kliently")
    ensure_demo_systems(profile, tmp_path, people=PEOPLE, today=TODAY)
    result = locate(profile, Identities.of(email="gunnar.berg@example.org"), data_dir=tmp_path)
    (user,) = result.source("app").table("users").records
    cutoff = profile.rules.inactivity.cutoff(TODAY)
    assert user.value("last_login_at").date() < cutoff


def test_seed_demo_builds_the_selected_profiles_customer_system(make_app, fresh_database):
    app = make_app(DATABASE_URL=fresh_database, ENV="development", PROFILE="cling")
    runner = app.test_cli_runner()
    first = runner.invoke(args=["dsr", "seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Demo customer system 'cling' built at" in first.output
    assert "(3000 people)" in first.output
    assert (Path(app.config["DATA_DIR"]) / "demo-cling.sqlite3").is_file()
    second = runner.invoke(args=["dsr", "seed-demo"])
    assert second.exit_code == 0
    assert "Demo customer system 'cling' is at" in second.output


def test_a_fresh_checkout_can_migrate_into_a_data_dir_that_does_not_exist(make_app, tmp_path):
    data_dir = tmp_path / "not" / "yet"
    app = make_app(
        DATABASE_URL=f"sqlite:///{data_dir}/dsr.sqlite3", ENV="development", PROFILE="klingit"
    )
    runner = app.test_cli_runner()
    migrated = runner.invoke(args=["dsr", "migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert (data_dir / "dsr.sqlite3").is_file()
