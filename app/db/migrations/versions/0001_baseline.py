"""baseline: ledger, profiles, devices, events, catalogue

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _create_table(name: str, *parts: sa.schema.SchemaItem) -> None:
    """Databases made by the matching CLI before migrations existed already hold some tables."""
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *parts)


def _create_index(name: str, table: str, columns: list[str], **kw: object) -> None:
    if name not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table)}:
        op.create_index(name, table, columns, **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    _create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("matching_run", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
        sa.UniqueConstraint("subject", "policy_id", "matching_run", name="one_application_per_subject_policy_run"),
    )
    _create_table(
        "audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _create_table(
        "catalogue_snapshots",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("published_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    _create_table(
        "confirmations",
        sa.Column("application_sha256", sa.String(length=64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("application_sha256"),
    )
    _create_table(
        "devices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("venue", sa.String(length=64), nullable=True),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_sha256"),
    )
    _create_table(
        "events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=32), nullable=False),
        sa.Column("venue", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("policy_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("issuer", sa.String(length=64), nullable=True),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _create_index("events_by_day", "events", ["day", "venue"], unique=False)

    _create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("matching_run", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject", "policy_id", name="one_notice_per_subject_policy"),
    )
    _create_table(
        "objections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("filed_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("officer", sa.String(length=64), nullable=True),
        sa.Column("corrections", sa.Text(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _create_table(
        "payouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("amount_yuan", sa.Integer(), nullable=False),
        sa.Column("matching_run", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject", "policy_id", "period", name="one_payout_per_subject_policy_period"),
    )
    _create_table(
        "policy_drafts",
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("saved_at", sa.DateTime(), nullable=False),
        sa.Column("saved_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("policy_id"),
    )
    _create_table(
        "profiles",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("age_over", sa.SmallInteger(), nullable=True),
        sa.Column("disability_category", sa.SmallInteger(), nullable=True),
        sa.Column("disability_grade", sa.SmallInteger(), nullable=True),
        sa.Column("martyr_family", sa.Boolean(), nullable=False),
        sa.Column("entitled_group", sa.Boolean(), nullable=False),
        sa.Column("student_level", sa.SmallInteger(), nullable=True),
        sa.Column("enrolled_until", sa.Date(), nullable=True),
        sa.Column("residence", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )


def downgrade() -> None:
    op.drop_table("profiles")
    op.drop_table("policy_drafts")
    op.drop_table("payouts")
    op.drop_table("objections")
    op.drop_table("notifications")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("events_by_day")

    op.drop_table("events")
    op.drop_table("devices")
    op.drop_table("confirmations")
    op.drop_table("catalogue_snapshots")
    op.drop_table("audit")
    op.drop_table("applications")
