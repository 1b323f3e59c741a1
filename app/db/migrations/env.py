"""Alembic environment: the connection comes from the caller (`app.db.migrations.upgrade`)."""

from __future__ import annotations

from alembic import context

from app.db.migrations import models

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations through app.db.migrations.upgrade(engine) or `suishen serve`")
context.configure(connection=connection, target_metadata=models(), render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
