"""renewal reminders: one per (subject, fact, end date), made by the matching run

Revision ID: 0003
Revises: 0002

The matching run reminds a subject 30 days before a fact a code depends on ends (a disability
certificate's validity, a student enrolment). The unique constraint keeps one reminder per
subject, fact and end date however often the run is repeated. Like the earlier revisions, this
only adds what is missing, so a database made by `suishen match run --ledger` (which creates
the current tables itself) is brought under the history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("renewal_reminders"):
        return
    op.create_table(
        "renewal_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("fact", sa.String(length=64), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("matching_run", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject", "fact", "ends_on", name="one_reminder_per_subject_fact_end"),
    )


def downgrade() -> None:
    op.drop_table("renewal_reminders")
