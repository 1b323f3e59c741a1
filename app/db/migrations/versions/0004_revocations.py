"""revocations: the revocation list's entries and version counter, subject requests, phones

Revision ID: 0004
Revises: 0003

The signed revocation list (app.revocations) is built from `revocations`, one row per withdrawn
credential or subject day pseudonym, numbered by the single-row counter `revocation_list_state`
(made here at version 0, so the first list anyone asks for is version 1). The matching run asks
for subject revocations in `revocation_requests`; `holder_devices` and `holder_credentials` keep
each subject's phones and the credentials issued to them (one phone per person). Like the earlier
revisions this only adds what is missing, so a database `suishen match run --ledger` made (it
creates the current tables itself) is brought under the history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _has_table(name: str) -> bool:
    return bool(sa.inspect(op.get_bind()).has_table(name))


def upgrade() -> None:
    if not _has_table("revocations"):
        op.create_table(
            "revocations",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("key", sa.LargeBinary(length=32), nullable=False),
            sa.Column("before", sa.BigInteger(), nullable=True),
            sa.Column("until", sa.BigInteger(), nullable=False),
            sa.Column("cause", sa.String(length=32), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("revocations_by_version", "revocations", ["version"], unique=False)
        op.create_index("revocations_by_until", "revocations", ["until"], unique=False)
    if not _has_table("revocation_list_state"):
        op.create_table(
            "revocation_list_state",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("issued_at", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    state = sa.table("revocation_list_state", sa.column("id"), sa.column("version"), sa.column("issued_at"))
    if op.get_bind().execute(sa.select(sa.func.count()).select_from(state)).scalar_one() == 0:
        op.bulk_insert(state, [{"id": 1, "version": 0, "issued_at": 0}])
    if not _has_table("revocation_requests"):
        op.create_table(
            "revocation_requests",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("subject", sa.String(length=64), nullable=False),
            sa.Column("cause", sa.String(length=32), nullable=False),
            sa.Column("requested_at", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if not _has_table("holder_devices"):
        op.create_table(
            "holder_devices",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("subject", sa.String(length=64), nullable=False),
            sa.Column("key_sha256", sa.String(length=64), nullable=False),
            sa.Column("registered_at", sa.DateTime(), nullable=False),
            sa.Column("ended", sa.String(length=16), nullable=True),
            sa.Column("ended_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("subject", "key_sha256", name="one_row_per_subject_phone"),
        )
    if not _has_table("holder_credentials"):
        op.create_table(
            "holder_credentials",
            sa.Column("device", sa.Integer(), nullable=False),
            sa.Column("credential_id", sa.LargeBinary(length=8), nullable=False),
            sa.Column("until", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("device", "credential_id"),
        )


def downgrade() -> None:
    op.drop_table("holder_credentials")
    op.drop_table("holder_devices")
    op.drop_table("revocation_requests")
    op.drop_table("revocation_list_state")
    op.drop_index("revocations_by_until", table_name="revocations")
    op.drop_index("revocations_by_version", table_name="revocations")
    op.drop_table("revocations")
