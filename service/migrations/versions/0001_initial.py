"""Initial schema: issued_cards, feedback, seen_jti, card_repeats and schema_version.

Revision ID: 0001_initial
Revises:
Create Date: 2026-12-06

The tables as `create_all` made them before migrations existed (service/migrations/initial_schema.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from spasticity_cds.migrations.initial_schema import initial_metadata

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    initial_metadata().create_all(op.get_bind())


def downgrade() -> None:
    initial_metadata().drop_all(op.get_bind())
