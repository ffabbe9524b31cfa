"""e-legitimation and single sign-on over OpenID Connect.

- ``requests.assurance`` may be ``eid_verified``: between ``personnummer_matched`` and
  ``staff_verified``.
- ``requests.eid_pnr_encrypted`` / ``eid_pnr_masked``: a personnummer proven by
  e-legitimation that differs from the one on the request, kept for staff to decide.
- ``oidc_logins``: one sign-in at an OpenID provider, from the redirect to the callback.

Revision ID: 20261122_01_eid
Revises: 20261121_10_scale_indexes
Created: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dsr.db

revision: str = "20261122_01_eid"
down_revision: str | None = "20261121_10_scale_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS_BEFORE = ("none", "email_verified", "personnummer_matched", "staff_verified")
LEVELS = ("none", "email_verified", "personnummer_matched", "eid_verified", "staff_verified")


def _levels(levels: tuple[str, ...]) -> str:
    return "assurance IN ({})".format(", ".join(f"'{level}'" for level in levels))


def upgrade() -> None:
    # Batch mode: SQLite changes a CHECK constraint only by rebuilding the table.
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("eid_pnr_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("eid_pnr_masked", sa.String(length=16), nullable=True))
        batch.drop_constraint(op.f("ck_requests_assurance_level"), type_="check")
        batch.create_check_constraint("assurance_level", _levels(LEVELS))

    op.create_table(
        "oidc_logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "flow",
            sa.Enum("eid", "staff_sso", name="login_flow", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("code_verifier_encrypted", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("return_to_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", dsr.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", dsr.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", dsr.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.CheckConstraint("(flow = 'eid') = (request_id IS NOT NULL)", name=op.f("ck_oidc_logins_eid_has_request")),
        sa.CheckConstraint("(finished_at IS NULL) = (outcome IS NULL)", name=op.f("ck_oidc_logins_finished_has_outcome")),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name=op.f("fk_oidc_logins_request_id_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_logins")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oidc_logins_state_hash")),
    )
    with op.batch_alter_table("oidc_logins") as batch:
        batch.create_index(batch.f("ix_oidc_logins_expires_at"), ["expires_at"], unique=False)
        batch.create_index(batch.f("ix_oidc_logins_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_logins") as batch:
        batch.drop_index(batch.f("ix_oidc_logins_request_id"))
        batch.drop_index(batch.f("ix_oidc_logins_expires_at"))
    op.drop_table("oidc_logins")
    op.execute("UPDATE requests SET assurance = 'email_verified' WHERE assurance = 'eid_verified'")
    with op.batch_alter_table("requests") as batch:
        batch.drop_constraint(op.f("ck_requests_assurance_level"), type_="check")
        batch.create_check_constraint("assurance_level", _levels(LEVELS_BEFORE))
        batch.drop_column("eid_pnr_masked")
        batch.drop_column("eid_pnr_encrypted")
