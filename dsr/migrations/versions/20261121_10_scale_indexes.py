"""Indexes for a large database: the scheduler's jobs find their few due rows among many.

- ``ix_requests_unverified_created_at``: unverified requests by age (the expiry job).
- ``ix_requests_not_anonymized_closed_at``: closed requests that still hold personal data
  (the retention job); without it the job walks every anonymised request on each run.
- ``ix_email_outbox_unsent_next_attempt_at_id``: unsent emails in sending order (the
  outbox); without it each claim sorts the whole backlog.
- ``ix_requests_subject_name_trgm`` (PostgreSQL, where the pg_trgm extension can be created):
  a trigram index for the staff queue's search by any word of a name, which no B-tree can
  serve. Without pg_trgm the search still works, by scanning; the migration says so.

Revision ID: 20261121_10_scale_indexes
Revises: 20261121_09_exports
Created: 2026-11-21
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261121_10_scale_indexes"
down_revision: str | None = "20261121_09_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNVERIFIED = "status = 'unverified'"
NOT_ANONYMIZED = "closed_at IS NOT NULL AND anonymized_at IS NULL"
UNSENT = "status IN ('pending', 'sending')"
NAME_SEARCH = "ix_requests_subject_name_trgm"
log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    op.create_index(
        "ix_requests_unverified_created_at",
        "requests",
        ["created_at"],
        sqlite_where=sa.text(UNVERIFIED),
        postgresql_where=sa.text(UNVERIFIED),
    )
    op.create_index(
        "ix_requests_not_anonymized_closed_at",
        "requests",
        ["closed_at"],
        sqlite_where=sa.text(NOT_ANONYMIZED),
        postgresql_where=sa.text(NOT_ANONYMIZED),
    )
    op.create_index(
        "ix_email_outbox_unsent_next_attempt_at_id",
        "email_outbox",
        ["next_attempt_at", "id"],
        sqlite_where=sa.text(UNSENT),
        postgresql_where=sa.text(UNSENT),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _name_search_index(bind)


def _name_search_index(bind: sa.engine.Connection) -> None:
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).scalar()
    if not available:
        log.warning("pg_trgm is not installed on this server: %s not created", NAME_SEARCH)
        return
    try:
        # In a savepoint: a role that may not create extensions leaves the rest applied.
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm could not be created (%s): %s not created", exc.orig, NAME_SEARCH)
        return
    bind.execute(
        sa.text(
            f"CREATE INDEX {NAME_SEARCH} ON requests USING gin (lower(subject_name) gin_trgm_ops)"
        )
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {NAME_SEARCH}")
    op.drop_index("ix_email_outbox_unsent_next_attempt_at_id", table_name="email_outbox")
    op.drop_index("ix_requests_not_anonymized_closed_at", table_name="requests")
    op.drop_index("ix_requests_unverified_created_at", table_name="requests")
