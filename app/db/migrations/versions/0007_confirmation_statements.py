"""confirmation statements and once-only payouts: how each confirmation was made, a payout's frequency

Revision ID: 0007
Revises: 0006

`confirmation_statements`: one row per confirmation, whatever its channel: signed with the holder's
device key, the COSE_Sign1 statement as received (its SHA-256 unique), its time and the device's
P-256 point; otherwise `signed` false (app.matching.confirmations). `payouts.pays`: the policy's
frequency when it was paid, and the partial unique index that pays a `once` policy a subject once
per policy version, ever (app.matching.payouts). Like the earlier revisions this only adds what is
missing, so a database `suishen match run --ledger` made (it creates the current tables itself) is
brought under the history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ONCE_INDEX = "one_once_payout_per_subject_policy_version"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "pays" not in {c["name"] for c in inspector.get_columns("payouts")}:
        op.add_column("payouts", sa.Column("pays", sa.String(length=16), nullable=True))
    if ONCE_INDEX not in {i["name"] for i in inspector.get_indexes("payouts")}:
        once = sa.text("pays = 'once'")
        op.create_index(
            ONCE_INDEX, "payouts", ["subject", "policy_id", "policy_version"], unique=True,
            sqlite_where=once, postgresql_where=once,
        )  # fmt: skip
    if not inspector.has_table("confirmation_statements"):
        op.create_table(
            "confirmation_statements",
            sa.Column("application_sha256", sa.String(length=64), nullable=False),
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("signed", sa.Boolean(), nullable=False),
            sa.Column("notice_version", sa.Integer(), nullable=True),
            sa.Column("statement", sa.LargeBinary(), nullable=True),
            sa.Column("statement_sha256", sa.String(length=64), nullable=True),
            sa.Column("signed_at", sa.BigInteger(), nullable=True),
            sa.Column("device_key", sa.LargeBinary(length=64), nullable=True),
            sa.Column("device", sa.Integer(), nullable=True),
            sa.Column("received_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("application_sha256"),
            sa.UniqueConstraint("statement_sha256"),
        )


def downgrade() -> None:
    op.drop_table("confirmation_statements")
    op.drop_index(ONCE_INDEX, table_name="payouts")
    with op.batch_alter_table("payouts") as batch:
        batch.drop_column("pays")
