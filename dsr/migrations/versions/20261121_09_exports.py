"""Answer files: the plan each was made from, and the build job's claim.

Revision ID: 20261121_09_exports
Revises: 20261121_08_rights
Created: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dsr.db

revision: str = "20261121_09_exports"
down_revision: str | None = "20261121_08_rights"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite can add a constraint or a foreign key only by rebuilding the table.
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("plan_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("outcome_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column("claimed_until", dsr.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_foreign_key(
            op.f("fk_exports_plan_id_request_plans"), "request_plans", ["plan_id"], ["id"]
        )
        batch.create_check_constraint(
            op.f("ck_exports_failure_has_reason"), "state <> 'failed' OR error IS NOT NULL"
        )
        batch.create_index(batch.f("ix_exports_plan_id"), ["plan_id"], unique=False)
        batch.create_index(
            "ix_exports_state_claimed_until", ["state", "claimed_until"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.drop_index("ix_exports_state_claimed_until")
        batch.drop_index(batch.f("ix_exports_plan_id"))
        batch.drop_constraint(op.f("ck_exports_failure_has_reason"), type_="check")
        batch.drop_constraint(op.f("fk_exports_plan_id_request_plans"), type_="foreignkey")
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
        batch.drop_column("outcome_sha256")
        batch.drop_column("plan_id")
