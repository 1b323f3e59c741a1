"""evaluation and deliveries: the original-channel list per run, and notices handed to the SMS/push gateway

Revision ID: 0006
Revises: 0005

`original_channel`: the subjects a copied run could not decide for want of a fact, per run and
policy, which the performance evaluation counts (app.matching.evaluation). `deliveries`: one row
per notice or renewal reminder handed to the gateway (app.matching.delivery), with its
idempotency key, status, attempts, last failure and next attempt. Like the earlier revisions this
only adds what is missing, so a database `suishen match run --ledger` made (it creates the
current tables itself) is brought under the history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("original_channel"):
        op.create_table(
            "original_channel",
            sa.Column("run", sa.Integer(), nullable=False),
            sa.Column("subject", sa.String(length=64), nullable=False),
            sa.Column("policy_id", sa.String(length=64), nullable=False),
            sa.Column("missing", sa.String(length=128), nullable=False),
            sa.Column("listed_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("run", "subject", "policy_id"),
        )
        op.create_index("original_channel_by_time", "original_channel", ["listed_at", "policy_id"], unique=False)
    if not inspector.has_table("deliveries"):
        op.create_table(
            "deliveries",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("ref", sa.Integer(), nullable=False),
            sa.Column("idempotency_key", sa.String(length=64), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
            sa.Column("lease_until", sa.DateTime(), nullable=True),
            sa.Column("finished_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("idempotency_key"),
            sa.UniqueConstraint("kind", "ref", name="one_delivery_per_notice"),
        )
        op.create_index("deliveries_due", "deliveries", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("original_channel_by_time", table_name="original_channel")
    op.drop_table("original_channel")
