"""Alembic environment: the database URL comes from the service's configuration."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import dsr.models  # noqa: F401 - registers every table on SQLModel.metadata
from dsr.db import isolated_engine
from dsr.migrate import include_object

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    from dsr.config import load

    return str(load()["DATABASE_URL"])


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=SQLModel.metadata,
        literal_binds=True,
        include_object=include_object,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = isolated_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=SQLModel.metadata,
                include_object=include_object,
                compare_type=True,
                # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
