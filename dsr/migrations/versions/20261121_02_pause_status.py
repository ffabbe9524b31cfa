"""Remember a request's status while it waits for the subject.

Revision ID: 20261121_02
Revises: 20261121_01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261121_02"
down_revision: str | None = "20261121_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "unverified", "verified", "in_progress", "awaiting_subject",
    "completed", "refused", "withdrawn", "expired", "closed",
)


def upgrade() -> None:
    with op.batch_alter_table("request_pauses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status_before",
                sa.Enum(*STATUSES, name="status_before", native_enum=False, create_constraint=True, length=32),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("request_pauses", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_request_pauses_status_before"), type_="check")
        batch_op.drop_column("status_before")
