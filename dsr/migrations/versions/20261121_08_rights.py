"""Executing the rights: request plans, erasure follow-ups and the suppression list.

Revision ID: 20261121_08_rights
Revises: 20261121_07_sources
Created: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dsr.db

revision: str = "20261121_08_rights"
down_revision: str | None = "20261121_07_sources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RIGHTS = (
    "access",
    "rectification",
    "erasure",
    "restriction",
    "portability",
    "objection",
    "consent_withdrawal",
    "human_review",
)
STATES = ("draft", "approved", "executing", "executed", "failed", "cancelled", "superseded")
LIVE = "state IN ('draft', 'approved', 'executing', 'executed', 'failed')"


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _utc(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, dsr.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "request_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("right", _enum(RIGHTS, "plan_right"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", _enum(STATES, "plan_state"), nullable=False),
        sa.Column("plan", _json(), nullable=False),
        sa.Column("plan_sha256", sa.String(length=64), nullable=True),
        sa.Column("execution", _json(), nullable=True),
        sa.Column("outcome", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _utc("created_at", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _utc("approved_at"),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        _utc("execute_after"),
        _utc("started_at"),
        _utc("executed_at"),
        _utc("cancelled_at"),
        sa.Column("cancelled_by_id", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        _utc("claimed_until"),
        _utc("updated_at", nullable=False),
        sa.CheckConstraint(
            "(state = 'cancelled') = (cancelled_at IS NOT NULL)",
            name=op.f("ck_request_plans_cancelled_iff_state"),
        ),
        sa.CheckConstraint(
            "(state = 'executed') = (executed_at IS NOT NULL)",
            name=op.f("ck_request_plans_executed_iff_state"),
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'superseded') OR approved_at IS NOT NULL",
            name=op.f("ck_request_plans_approved_first"),
        ),
        sa.CheckConstraint(
            "cancelled_at IS NULL OR cancel_reason IS NOT NULL",
            name=op.f("ck_request_plans_cancel_has_reason"),
        ),
        sa.CheckConstraint("number >= 1", name=op.f("ck_request_plans_number_positive")),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["staff_users.id"],
            name=op.f("fk_request_plans_approved_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_id"],
            ["staff_users.id"],
            name=op.f("fk_request_plans_cancelled_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_users.id"],
            name=op.f("fk_request_plans_created_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_request_plans_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_plans")),
        sa.UniqueConstraint("request_id", "number", name="uq_request_plans_request_number"),
    )
    with op.batch_alter_table("request_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_plans_request_id"), ["request_id"])
        batch_op.create_index(
            "ix_request_plans_state_execute_after", ["state", "execute_after"], unique=False
        )
        batch_op.create_index(
            "uq_request_plans_live",
            ["request_id"],
            unique=True,
            sqlite_where=sa.text(LIVE),
            postgresql_where=sa.text(LIVE),
        )

    op.create_table(
        "suppression_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "reason", _enum(("objection", "consent_withdrawal"), "suppression_reason"), nullable=False
        ),
        sa.Column("request_id", sa.Integer(), nullable=True),
        _utc("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_suppression_list_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression_list")),
        sa.UniqueConstraint("email_hash", name=op.f("uq_suppression_list_email_hash")),
    )
    with op.batch_alter_table("suppression_list", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suppression_list_request_id"), ["request_id"])

    op.create_table(
        "erasure_followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("table_name", sa.String(length=200), nullable=False),
        sa.Column("action", _enum(("delete", "anonymize"), "followup_action"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("keys", _json(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        _utc("done_at"),
        sa.Column("outcome", _json(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        _utc("claimed_until"),
        sa.CheckConstraint(
            "position >= 0", name=op.f("ck_erasure_followups_position_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["request_plans.id"],
            name=op.f("fk_erasure_followups_plan_id_request_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_erasure_followups_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_followups")),
    )
    with op.batch_alter_table("erasure_followups", schema=None) as batch_op:
        batch_op.create_index("ix_erasure_followups_done_at_due_on", ["done_at", "due_on"])
        batch_op.create_index(batch_op.f("ix_erasure_followups_plan_id"), ["plan_id"])
        batch_op.create_index(batch_op.f("ix_erasure_followups_request_id"), ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("erasure_followups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_followups_request_id"))
        batch_op.drop_index(batch_op.f("ix_erasure_followups_plan_id"))
        batch_op.drop_index("ix_erasure_followups_done_at_due_on")
    op.drop_table("erasure_followups")
    with op.batch_alter_table("suppression_list", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppression_list_request_id"))
    op.drop_table("suppression_list")
    with op.batch_alter_table("request_plans", schema=None) as batch_op:
        batch_op.drop_index("uq_request_plans_live")
        batch_op.drop_index("ix_request_plans_state_execute_after")
        batch_op.drop_index(batch_op.f("ix_request_plans_request_id"))
    op.drop_table("request_plans")
