"""Report summaries: card_outcomes, report_days, reason_days, unattributed_days, backfilled.

Revision ID: 0002_report_summaries
Revises: 0001_initial
Create Date: 2026-12-07

The store keeps these at write time (service/store/summaries.py) so the report and
/admin/analytics read a few hundred rows per period. This revision creates them and fills them from
the rows already stored, with the counting rules of the report: a card's final outcome is its
feedback item with the latest outcome time (ties: larger id); its rule is the item's, else the
issued card's; its service the issued card's, else the item's. Days are UTC. The tables and the
backfill are spelled out here (not imported) so the revision keeps meaning what it meant.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002_report_summaries"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMMARY_SCHEMA_VERSION = 2

_issued = sa.table(
    "issued_cards",
    sa.column("uuid", sa.String),
    sa.column("rule_id", sa.String),
    sa.column("service_id", sa.String),
    sa.column("issued_at", sa.DateTime),
)
_feedback = sa.table(
    "feedback",
    sa.column("id", sa.Integer),
    sa.column("card_uuid", sa.String),
    sa.column("service_id", sa.String),
    sa.column("rule_id", sa.String),
    sa.column("outcome", sa.String),
    sa.column("override_system", sa.String),
    sa.column("override_code", sa.String),
    sa.column("override_display", sa.String),
    sa.column("outcome_at", sa.DateTime),
)


def upgrade() -> None:
    card_outcomes = op.create_table(
        "card_outcomes",
        sa.Column("card_uuid", sa.String(200), primary_key=True),
        sa.Column("feedback_id", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("outcome_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=True),
        sa.Column("service_id", sa.String(200), nullable=False),
        sa.Column("override_system", sa.String(500), nullable=True),
        sa.Column("override_code", sa.String(200), nullable=True),
        sa.Column("override_display", sa.String(1000), nullable=True),
    )
    op.create_index(
        "ix_card_outcomes_window", "card_outcomes", ["outcome_at", "rule_id", "service_id", "outcome"]
    )
    report_days = op.create_table(
        "report_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("rule_id", sa.String(200), primary_key=True),
        sa.Column("service_id", sa.String(200), primary_key=True),
        sa.Column("issued", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("overridden", sa.Integer, nullable=False),
    )
    reason_days = op.create_table(
        "reason_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("rule_id", sa.String(200), primary_key=True),
        sa.Column("reason_key", sa.String(64), primary_key=True),
        sa.Column("override_system", sa.String(500), nullable=True),
        sa.Column("override_code", sa.String(200), nullable=False),
        sa.Column("override_display", sa.String(1000), nullable=True),
        sa.Column("cards", sa.Integer, nullable=False),
    )
    unattributed_days = op.create_table(
        "unattributed_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("unattributed", sa.Integer, nullable=False),
    )
    assert card_outcomes is not None and report_days is not None
    assert reason_days is not None and unattributed_days is not None
    _backfill(op.get_bind(), card_outcomes, report_days, reason_days, unattributed_days)
    _raise_schema_version(op.get_bind())


def _day(column: Any, dialect: str) -> Any:
    # SQLite stores the naive UTC time as text: date() takes its day; PostgreSQL casts the timestamp.
    return sa.func.date(column) if dialect == "sqlite" else sa.cast(column, sa.Date)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _backfill(conn: Any, card_outcomes: sa.Table, report_days: sa.Table, reason_days: sa.Table,
              unattributed_days: sa.Table) -> None:  # fmt: skip
    dialect = conn.dialect.name
    f, i = _feedback, _issued
    ranked = sa.select(
        f.c.id,
        sa.func.row_number()
        .over(partition_by=f.c.card_uuid, order_by=(f.c.outcome_at.desc(), f.c.id.desc()))
        .label("position"),
    ).subquery()
    finals = sa.select(
        f.c.card_uuid,
        f.c.id,
        f.c.outcome,
        f.c.outcome_at,
        sa.func.coalesce(f.c.rule_id, i.c.rule_id),
        sa.func.coalesce(i.c.service_id, f.c.service_id),
        f.c.override_system,
        f.c.override_code,
        f.c.override_display,
    ).select_from(
        f.join(ranked, sa.and_(ranked.c.id == f.c.id, ranked.c.position == 1)).outerjoin(
            i, i.c.uuid == f.c.card_uuid
        )
    )
    conn.execute(
        card_outcomes.insert().from_select(
            [
                "card_uuid", "feedback_id", "outcome", "outcome_at", "rule_id", "service_id",
                "override_system", "override_code", "override_display",
            ],
            finals,
        )
    )  # fmt: skip
    o = card_outcomes.c
    counted = sa.union_all(
        sa.select(
            _day(i.c.issued_at, dialect).label("day"),
            i.c.rule_id.label("rule_id"),
            i.c.service_id.label("service_id"),
            sa.literal(1).label("issued"),
            sa.literal(0).label("accepted"),
            sa.literal(0).label("overridden"),
        ),
        sa.select(
            _day(o.outcome_at, dialect),
            o.rule_id,
            o.service_id,
            sa.literal(0),
            sa.case((o.outcome == "accepted", 1), else_=0),
            sa.case((o.outcome == "overridden", 1), else_=0),
        ).where(o.rule_id.is_not(None), o.outcome.in_(("accepted", "overridden"))),
    ).subquery()
    per_day = sa.select(
        counted.c.day,
        counted.c.rule_id,
        counted.c.service_id,
        sa.func.sum(counted.c.issued),
        sa.func.sum(counted.c.accepted),
        sa.func.sum(counted.c.overridden),
    ).group_by(counted.c.day, counted.c.rule_id, counted.c.service_id)
    rows = [
        {"day": _as_date(d), "rule_id": r, "service_id": s, "issued": int(n), "accepted": int(a),
         "overridden": int(v)}
        for d, r, s, n, a, v in conn.execute(per_day)
    ]  # fmt: skip
    _insert(conn, report_days, rows)
    reason_day = _day(o.outcome_at, dialect)
    reasons = (
        sa.select(reason_day, o.rule_id, o.override_system, o.override_code, o.override_display)
        .add_columns(sa.func.count())
        .where(o.rule_id.is_not(None), o.outcome == "overridden", o.override_code.is_not(None))
        .group_by(reason_day, o.rule_id, o.override_system, o.override_code, o.override_display)
    )
    rows = [
        {
            "day": _as_date(d),
            "rule_id": r,
            "reason_key": hashlib.sha256(json.dumps([system, code, display]).encode()).hexdigest(),
            "override_system": system,
            "override_code": code,
            "override_display": display,
            "cards": int(n),
        }
        for d, r, system, code, display, n in conn.execute(reasons)
    ]
    _insert(conn, reason_days, rows)
    lost_day = _day(f.c.outcome_at, dialect)
    lost = (
        sa.select(lost_day, sa.func.count())
        .select_from(f.outerjoin(i, i.c.uuid == f.c.card_uuid))
        .where(f.c.rule_id.is_(None), i.c.uuid.is_(None))
        .group_by(lost_day)
    )
    rows = [{"day": _as_date(d), "unattributed": int(n)} for d, n in conn.execute(lost)]
    _insert(conn, unattributed_days, rows)


def _insert(conn: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 500):
        conn.execute(table.insert(), rows[start : start + 500])


def _raise_schema_version(conn: Any) -> None:
    """Services older than migrations read `schema_version`: a database with summaries they would
    not keep must be refused by them. An empty table (a new database) is filled by the store."""
    versions = sa.table(
        "schema_version", sa.column("version", sa.Integer), sa.column("applied_at", sa.DateTime)
    )
    stored = conn.execute(sa.select(sa.func.max(versions.c.version))).scalar()
    if stored is not None and stored < SUMMARY_SCHEMA_VERSION:
        now = datetime.now(UTC).replace(tzinfo=None)
        conn.execute(versions.insert().values(version=SUMMARY_SCHEMA_VERSION, applied_at=now))


def downgrade() -> None:
    for name in ("unattributed_days", "reason_days", "report_days"):
        op.drop_table(name)
    op.drop_index("ix_card_outcomes_window", table_name="card_outcomes")
    op.drop_table("card_outcomes")
