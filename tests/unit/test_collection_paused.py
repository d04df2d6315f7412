"""`heap.collection_paused`: no automatic collection during a hook call, postponed and never lost."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from spasticity_cds import heap
from spasticity_cds.heap import collection_paused


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_paused_inside_and_enabled_after() -> None:
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_enables_it() -> None:
    with pytest.raises(ValueError), collection_paused():
        raise ValueError("bad body")
    assert gc.isenabled()
    assert not heap._pause_held


def test_no_pause_when_a_collection_is_due(monkeypatch: pytest.MonkeyPatch) -> None:
    threshold = gc.get_threshold()[0]
    monkeypatch.setattr(gc, "get_count", lambda: (threshold, 0, 0))
    with collection_paused():
        assert gc.isenabled()  # the due collection runs during this call, as it would have


def test_a_collector_disabled_by_someone_else_stays_disabled() -> None:
    gc.disable()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_one_call_holds_the_pause_and_the_collector_is_back_when_it_ends() -> None:
    """A call beside the holder is not paused past the holder's end: collections wait at most one
    call, however the calls overlap."""
    holding, second_inside, holder_done, release_second = (threading.Event() for _ in range(4))
    seen: dict[str, bool] = {}

    def holder() -> None:
        with collection_paused():
            holding.set()
            second_inside.wait(5)
        holder_done.set()

    def second() -> None:
        holding.wait(5)
        with collection_paused():
            seen["second took it"] = heap._pause_held and not gc.isenabled()
            second_inside.set()
            holder_done.wait(5)
            seen["enabled after the holder"] = gc.isenabled()
            release_second.wait(5)

    threads = [threading.Thread(target=holder), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    holder_done.wait(5)
    release_second.set()
    for thread in threads:
        thread.join(5)
    assert seen == {"second took it": True, "enabled after the holder": True}
    assert gc.isenabled()
    assert not heap._pause_held


def test_many_overlapping_calls_leave_the_collector_enabled() -> None:
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait(5)
        for _ in range(200):
            with collection_paused():
                _ = [[i] for i in range(50)]

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert gc.isenabled()
    assert not heap._pause_held
