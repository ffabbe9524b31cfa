"""Refusal grounds, and the index behind the default staff queue.

Revision ID: 20261121_03
Revises: 20261121_02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261121_03"
down_revision: str | None = "20261121_02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUNDS = ("manifestly_unfounded", "excessive", "unidentifiable", "exemption", "other")
OPEN = "status IN ('unverified', 'verified', 'in_progress', 'awaiting_subject')"


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "refusal_grounds",
                sa.Enum(*GROUNDS, name="refusal_grounds", native_enum=False, create_constraint=True, length=32),
                nullable=True,
            )
        )
    op.create_index(
        "ix_requests_open_due_legal_id",
        "requests",
        ["due_legal", "id"],
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_requests_open_due_legal_id", table_name="requests")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_requests_refusal_grounds"), type_="check")
        batch_op.drop_column("refusal_grounds")
