"""Indexes for a large database: the scheduler's jobs find their few due rows among many.

- ``ix_requests_unverified_created_at``: unverified requests by age (the expiry job).
- ``ix_requests_not_anonymized_closed_at``: closed requests that still hold personal data
  (the retention job); without it the job walks every anonymised request on each run.
- ``ix_email_outbox_unsent_next_attempt_at_id``: unsent emails in sending order (the
  outbox); without it each claim sorts the whole backlog.

Revision ID: 20261121_10_scale_indexes
Revises: 20261121_09_exports
Created: 2026-11-21
"""

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


def downgrade() -> None:
    op.drop_index("ix_email_outbox_unsent_next_attempt_at_id", table_name="email_outbox")
    op.drop_index("ix_requests_not_anonymized_closed_at", table_name="requests")
    op.drop_index("ix_requests_unverified_created_at", table_name="requests")
