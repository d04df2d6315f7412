"""Alembic environment: runs on the connection the service hands over (no URL, no ini file).

Migrations run inside the caller's transaction, so the store's schema lock (PostgreSQL advisory
lock, SQLite BEGIN IMMEDIATE) covers them and two workers starting together never both migrate.
"""

from __future__ import annotations

from alembic import context

from spasticity_cds.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through spasticity_cds.migrations.upgrade(connection)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
