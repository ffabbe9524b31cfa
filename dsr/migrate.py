"""Schema changes through Alembic only; applied by ``flask --app app dsr migrate``."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from dsr.db import isolated_engine

#: Tables in the database that the models do not describe, on purpose.
UNMODELLED_TABLES = {"alembic_version", "apscheduler_jobs"}
#: Indexes the models cannot describe: PostgreSQL's trigram index for the name search (an
#: expression with an operator class from an extension that may be missing).
UNMODELLED_INDEXES = {"ix_requests_subject_name_trgm"}


def alembic_config(url: str) -> Config:
    cfg = Config()
    # Package data: found inside the installed package as well as in a checkout.
    cfg.set_main_option("script_location", "dsr:migrations")
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    engine = isolated_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "index" and name in UNMODELLED_INDEXES:
        return False
    return not (type_ == "table" and name in UNMODELLED_TABLES)


def differences(url: str) -> list[Any]:
    """What autogenerate would change: empty when models and migrations agree."""
    import dsr.models  # noqa: F401 - registers the tables

    engine = isolated_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": False,
                    "include_object": include_object,
                    "render_as_batch": conn.dialect.name == "sqlite",
                },
            )
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()
