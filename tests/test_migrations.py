"""The schema comes from Alembic migrations, and they describe exactly what the models say."""

import pytest
from sqlalchemy import inspect

from dsr import migrate
from dsr.db import isolated_engine
from tests.conftest import BACKENDS


def test_migrations_match_the_models(databases, backend):
    url = databases.new("schema")
    assert migrate.differences(url) == [], f"models and migrations disagree on {backend}"


def test_migrations_build_every_table_and_reach_head(databases):
    url = databases.new("tables")
    engine = isolated_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    expected = {
        "requests",
        "staff_users",
        "audit_events",
        "verification_tokens",
        "email_outbox",
        "exports",
        "manual_tasks",
        "request_pauses",
        "request_messages",
        "api_tokens",
        "scheduler_heartbeats",
        "rate_limit_counters",
        "reference_counters",
        "apscheduler_jobs",
    }
    assert expected <= tables
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    assert migrate.current_revision(url) == head


def test_migrate_twice_is_harmless(databases):
    url = databases.new("twice")
    migrate.upgrade(url)
    migrate.upgrade(url)
    assert migrate.differences(url) == []


def test_downgrade_to_base_and_back(databases):
    url = databases.new("roundtrip")
    from alembic import command

    command.downgrade(migrate.alembic_config(url), "base")
    engine = isolated_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate.upgrade(url)
    assert migrate.differences(url) == []


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_postgresql_searches_names_by_trigram_index(databases):
    """The queue's search by any word of a name uses the trigram index (SQLite scans)."""
    from sqlalchemy import text

    url = databases.new("trgm")
    engine = isolated_engine(url)
    try:
        with engine.begin() as conn:
            definition = conn.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_requests_subject_name_trgm'"
                )
            ).scalar()
            assert definition is not None and "gin_trgm_ops" in definition
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(
                conn.execute(
                    text(
                        "EXPLAIN SELECT id FROM requests"
                        " WHERE lower(subject_name) LIKE '% andersson%'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()
    assert "ix_requests_subject_name_trgm" in plan
