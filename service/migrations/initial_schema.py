"""The schema of revision 0001_initial, frozen: what `create_all` made before migrations existed.

Used by that revision and by the adoption of a database created before migrations. Never change
it: a later schema change is a new revision with explicit `op.` calls, not an edit here.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)


def initial_metadata() -> MetaData:
    """A fresh MetaData with the five tables of revision 0001 (datetimes stored as naive UTC)."""
    metadata = MetaData()
    Table(
        "schema_version",
        metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("applied_at", DateTime(timezone=False), nullable=False),
    )
    Table(
        "issued_cards",
        metadata,
        Column("uuid", String(200), primary_key=True),
        Column("rule_id", String(200), nullable=False),
        Column("service_id", String(200), nullable=False),
        Column("indicator", String(20), nullable=True),
        Column("issued_at", DateTime(timezone=False), nullable=False),
        Index("ix_issued_cards_issued_at", "issued_at"),
        Index("ix_issued_cards_window", "issued_at", "rule_id", "service_id"),
    )
    Table(
        "feedback",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("card_uuid", String(200), nullable=False),
        Column("service_id", String(200), nullable=False),
        Column("rule_id", String(200), nullable=True),
        Column("outcome", String(20), nullable=False),
        Column("accepted_suggestions", Text, nullable=True),
        Column("override_system", String(500), nullable=True),
        Column("override_code", String(200), nullable=True),
        Column("override_display", String(1000), nullable=True),
        Column("user_comment", Text, nullable=True),
        Column("outcome_at", DateTime(timezone=False), nullable=False),
        Column("received_at", DateTime(timezone=False), nullable=False),
        UniqueConstraint("card_uuid", "outcome", "outcome_at", name="uq_feedback_card_outcome_time"),
        Index("ix_feedback_outcome_at", "outcome_at"),
        Index(
            "ix_feedback_window",
            *("outcome_at", "outcome", "rule_id", "card_uuid", "service_id"),
            *("override_system", "override_code"),
        ),
    )
    Table(
        "seen_jti",
        metadata,
        Column("jti", String(500), primary_key=True),
        Column("expires_at", DateTime(timezone=False), nullable=False),
        Index("ix_seen_jti_expires_at", "expires_at"),
    )
    Table(
        "card_repeats",
        metadata,
        Column("uuid", String(200), primary_key=True),
        Column("rule_id", String(200), nullable=False),
        Column("subject", String(64), nullable=False),
        Column("encounter", String(64), nullable=True),
        Column("issued_at", DateTime(timezone=False), nullable=False),
        Index("ix_card_repeats_subject", "subject"),
        Index("ix_card_repeats_issued_at", "issued_at"),
    )
    return metadata
