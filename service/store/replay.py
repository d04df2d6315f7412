"""Replay protection: JWT ids already seen, claimed atomically so every replica refuses a replay."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from .connection import StoreBase
from .schema import StoreUnavailable, dialect_insert, is_unavailable, seen_jti


class ReplayStore(StoreBase):
    """The `seen_jti` table."""

    def claim_jti(self, jti: str, expires_at: datetime, *, now: datetime | None = None) -> bool:
        """Claim a JWT id until it expires; False when it is already claimed and still valid.

        One statement, atomic in both databases and therefore across processes and replicas:
        insert, or on conflict take over the row only if the stored claim has expired. Expired
        claims are removed by `purge_expired_jtis` (run periodically in the background). Raises
        `StoreUnavailable` when the database does not answer.
        """
        now = (now or datetime.now(UTC)).astimezone(UTC)
        table = seen_jti
        statement = dialect_insert(self.dialect, table).values(jti=jti, expires_at=expires_at)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.jti],
            set_={"expires_at": statement.excluded.expires_at},
            where=table.c.expires_at <= now,
        ).returning(table.c.jti)
        try:
            self.ensure_schema()
            with self.engine.begin() as conn:
                return conn.execute(statement).first() is not None
        except Exception as exc:
            if is_unavailable(exc):
                raise StoreUnavailable("database unreachable") from None
            raise

    def purge_expired_jtis(self, *, now: datetime | None = None) -> int:
        """Delete JWT ids whose claim has expired; returns how many. Keeps the table the size of
        the tokens still alive; run by the background writer thread, not by each request."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        self.ensure_schema()
        with self.engine.begin() as conn:
            result = conn.execute(seen_jti.delete().where(seen_jti.c.expires_at <= now))
        return int(result.rowcount or 0)

    def seen_jti_count(self) -> int:
        """Number of recorded JWT ids (monitoring and tests)."""
        with self.engine.connect().execution_options(cds_readonly=True) as conn:
            return int(conn.execute(select(func.count()).select_from(seen_jti)).scalar_one())
