"""While the jti store is unreachable, calls do not each wait for it: after one failure the replay
cache alone answers for a second, then the store is tried again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from spasticity_cds import auth
from spasticity_cds.auth import JwtVerifier, ReplayCache
from spasticity_cds.store import StoreUnavailable


class SlowDeadStore:
    """A store whose database host does not answer: each claim costs 0.3 s, then fails."""

    def __init__(self) -> None:
        self.calls = 0

    def claim_jti(self, jti: str, expires_at: datetime) -> bool:
        self.calls += 1
        time.sleep(0.3)
        raise StoreUnavailable("database unreachable")


class _Verifier(JwtVerifier):
    def __init__(self) -> None:  # noqa: D107 - only what `_claim` reads
        self.replay_cache = ReplayCache()
        self._degraded = False
        self._store_retry_at = 0.0
        self.on_degraded_claim = None


def test_after_a_failure_the_store_is_not_tried_on_every_call() -> None:
    store = SlowDeadStore()
    verifier = _Verifier()
    expires = datetime.now(UTC) + timedelta(minutes=5)
    assert verifier._claim(store, "a", expires) is True  # noqa: SLF001 - pays one failed attempt
    started = time.monotonic()
    for i in range(20):
        assert verifier._claim(store, f"b-{i}", expires) is True  # noqa: SLF001
    assert time.monotonic() - started < 0.2  # none of them waited for the store
    assert store.calls == 1
    assert verifier._claim(store, "a", expires) is False  # noqa: SLF001 - still refused as a replay
    time.sleep(auth.STORE_RETRY_SECONDS + 0.05)
    verifier._claim(store, "c", expires)  # noqa: SLF001
    assert store.calls == 2  # tried again after the pause
