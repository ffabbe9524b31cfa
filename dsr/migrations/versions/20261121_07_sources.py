"""Manual tasks: one per request, kind and target, so creating them twice adds nothing.

Revision ID: 20261121_07_sources
Revises: 20261121_03
Created: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261121_07_sources"
down_revision: str | None = "20261121_03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("manual_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "uq_manual_tasks_request_kind_target", ["request_id", "kind", "target"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("manual_tasks", schema=None) as batch_op:
        batch_op.drop_index("uq_manual_tasks_request_kind_target")
