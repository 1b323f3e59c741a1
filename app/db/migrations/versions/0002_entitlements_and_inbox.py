"""entitlements, run history and diffs in the services database; inbox notices per policy version

Revision ID: 0002
Revises: 0001

The matching ledger grew after the baseline: the latest run's entitlements, the run history and
the diffs between runs are copied into the services database, and a notice is kept once per
(subject, policy, version) with the times it was sent and read. Like the baseline, this only adds
what is missing, so it also brings a database made by `suishen match run --ledger` (which
creates the current tables itself) under the history. Notices made before policy versions were
recorded are counted as version 1.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_UNIQUE = "one_notice_per_subject_policy"
NEW_UNIQUE = "one_notice_per_subject_policy_version"


def _has_table(name: str) -> bool:
    return bool(sa.inspect(op.get_bind()).has_table(name))


def upgrade() -> None:
    if not _has_table("entitlements"):
        op.create_table(
            "entitlements",
            sa.Column("subject", sa.String(length=64), nullable=False),
            sa.Column("policy_id", sa.String(length=64), nullable=False),
            sa.Column("generation", sa.Integer(), nullable=False),
            sa.Column("policy_version", sa.Integer(), nullable=False),
            sa.Column("mode", sa.String(length=16), nullable=False),
            sa.Column("run", sa.Integer(), nullable=False),
            sa.Column("evidence", sa.String(length=64), nullable=False),
            sa.Column("revoked_in", sa.Integer(), nullable=True),
            sa.PrimaryKeyConstraint("subject", "policy_id", "generation"),
            sqlite_with_rowid=False,
        )
    if not _has_table("matching_runs"):
        op.create_table(
            "matching_runs",
            sa.Column("run", sa.Integer(), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("started_at", sa.DateTime(), nullable=True),
            sa.Column("finished_at", sa.DateTime(), nullable=True),
            sa.Column("registries", sa.String(length=64), nullable=False),
            sa.Column("persons", sa.BigInteger(), nullable=False),
            sa.Column("enterprises", sa.BigInteger(), nullable=False),
            sa.Column("entitlements", sa.BigInteger(), nullable=False),
            sa.Column("seconds", sa.Float(), nullable=False),
            sa.Column("counts", sa.Text(), nullable=False),
            sa.Column("copied_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("run"),
        )
    if not _has_table("run_diffs"):
        op.create_table(
            "run_diffs",
            sa.Column("old_run", sa.Integer(), nullable=False),
            sa.Column("new_run", sa.Integer(), nullable=False),
            sa.Column("policy_id", sa.String(length=64), nullable=False),
            sa.Column("newly_eligible", sa.BigInteger(), nullable=False),
            sa.Column("no_longer_eligible", sa.BigInteger(), nullable=False),
            sa.Column("changed_version", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("old_run", "new_run", "policy_id"),
        )
    _notices_per_version()


def _notices_per_version() -> None:
    inspector = sa.inspect(op.get_bind())
    columns = {c["name"] for c in inspector.get_columns("notifications")}
    uniques = {u["name"] for u in inspector.get_unique_constraints("notifications")}
    indexes = {i["name"] for i in inspector.get_indexes("notifications")}
    if "policy_version" in columns and NEW_UNIQUE in uniques and "notifications_unsent" in indexes:
        return
    with op.batch_alter_table("notifications") as batch:
        if "policy_version" not in columns:
            batch.add_column(sa.Column("policy_version", sa.Integer(), nullable=False, server_default="1"))
        if "sent_at" not in columns:
            batch.add_column(sa.Column("sent_at", sa.DateTime(), nullable=True))
        if "read_at" not in columns:
            batch.add_column(sa.Column("read_at", sa.DateTime(), nullable=True))
        if OLD_UNIQUE in uniques:
            batch.drop_constraint(OLD_UNIQUE, type_="unique")
        if NEW_UNIQUE not in uniques:
            batch.create_unique_constraint(NEW_UNIQUE, ["subject", "policy_id", "policy_version"])
        if "notifications_unsent" not in indexes:
            batch.create_index("notifications_unsent", ["sent_at", "id"], unique=False)
    if "policy_version" not in columns:
        with op.batch_alter_table("notifications") as batch:  # the default only filled the rows already there
            batch.alter_column(
                "policy_version", server_default=None, existing_type=sa.Integer(), existing_nullable=False
            )


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("notifications_unsent")
        batch.drop_constraint(NEW_UNIQUE, type_="unique")
        batch.create_unique_constraint(OLD_UNIQUE, ["subject", "policy_id"])
        batch.drop_column("read_at")
        batch.drop_column("sent_at")
        batch.drop_column("policy_version")
    op.drop_table("run_diffs")
    op.drop_table("matching_runs")
    op.drop_table("entitlements")
