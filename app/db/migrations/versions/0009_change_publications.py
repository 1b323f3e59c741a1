"""change publications: the change feed's batches that reached the services, each exactly once

Revision ID: 0009
Revises: 0008

One row per change batch (app.matching.change_effects) published over a copied run: the copied
run (its number and finish time, since a results database started afresh numbers its runs from 1
again), the batch's number in that results database, and what it wrote. The next copy of a run
compares with the run as these batches changed it. Like the earlier revisions this only adds
what is missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("change_publications"):
        return
    op.create_table(
        "change_publications",
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("run_finished_at", sa.DateTime(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("entitlements", sa.Integer(), nullable=False),
        sa.Column("profiles", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run", "run_finished_at", "batch"),
    )


def downgrade() -> None:
    op.drop_table("change_publications")
