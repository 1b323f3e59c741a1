"""Tables the online services add to the matching ledger's metadata: devices, events, snapshots, drafts.

One SQLAlchemy metadata for everything in the services database, so that one migration history
(Alembic) covers SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, LargeBinary, String, Table, Text

from app.matching.payouts import metadata

devices = Table(
    "devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),  # gate, handheld, admin
    Column("venue", String(64)),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

events = Table(
    "events",
    metadata,
    Column("id", String(32), primary_key=True),  # made by the gate: a batch posted twice is stored once
    Column("device", String(32), nullable=False),
    Column("venue", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("day", String(10), nullable=False),  # local (CST) date, for usage statistics
    Column("result", String(16), nullable=False),
    Column("reason", String(32)),
    Column("policy_id", String(64)),
    Column("kind", String(16)),
    Column("issuer", String(64)),
    Column("degraded", Boolean, nullable=False),
    Column("repeat", Boolean, nullable=False),
    Column("received_at", DateTime, nullable=False),
)
Index("events_by_day", events.c.day, events.c.venue)

snapshots = Table(
    "catalogue_snapshots",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("document", LargeBinary, nullable=False),
    Column("published_at", DateTime, nullable=False),
    Column("published_by", String(64), nullable=False),
)

drafts = Table(
    "policy_drafts",
    metadata,
    Column("policy_id", String(64), primary_key=True),
    Column("source", Text, nullable=False),  # the policy as YAML, as the department wrote it
    Column("saved_at", DateTime, nullable=False),
    Column("saved_by", String(64), nullable=False),
)
