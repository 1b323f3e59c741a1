"""cards: printed cards for people without a phone, at most one active per subject

Revision ID: 0005
Revises: 0004

One row per card printed (app.cards): the card number (the key), the registry subject, the kid
and cti naming its credential, its issue and expiry times, its status (active, replaced, lost)
and the one printed initial. The partial unique index keeps one active card per subject, so two
counters issuing at once cannot both leave an active card. Like the earlier revisions this only
adds what is missing, so a database `suishen match run --ledger` made (it creates the current
tables itself) is brought under the history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("cards"):
        return
    op.create_table(
        "cards",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.LargeBinary(), nullable=False),
        sa.Column("cti", sa.LargeBinary(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("initial", sa.String(length=4), nullable=True),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_index("cards_by_subject", "cards", ["subject", "status"], unique=False)
    op.create_index("cards_by_kid", "cards", ["kid", "expires_at"], unique=False)
    active = sa.text("status = 'active'")
    op.create_index(
        "one_active_card_per_subject", "cards", ["subject"], unique=True, sqlite_where=active, postgresql_where=active
    )


def downgrade() -> None:
    op.drop_index("one_active_card_per_subject", table_name="cards")
    op.drop_index("cards_by_kid", table_name="cards")
    op.drop_index("cards_by_subject", table_name="cards")
    op.drop_table("cards")
