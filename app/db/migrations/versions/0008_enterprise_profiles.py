"""enterprise profiles: what an enterprise's Suishen code (法人随申码) may carry

Revision ID: 0008
Revises: 0007

One row per unified social credit code (app.matching.enterprise_profiles): 守信 (credit_good, an
A-level taxpayer with no blacklist entry), the registered region and the run's profile version,
copied by the matching run with the persons' profiles. Like the earlier revisions this only adds
what is missing, so a database `suishen match run --ledger` made (it creates the current tables
itself) is brought under the history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("enterprise_profiles"):
        return
    op.create_table(
        "enterprise_profiles",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("credit_good", sa.Boolean(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )


def downgrade() -> None:
    op.drop_table("enterprise_profiles")
