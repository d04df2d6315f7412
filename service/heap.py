"""Garbage-collector settings for a serving process: what start-up built is frozen, and collections
are rarer.

A hook request with a large prefetch allocates hundreds of thousands of small objects (the parsed
JSON). With CPython's defaults a collection runs every 700 net allocations, and every full
collection walks everything start-up built (the knowledge base, fhir.resources' model classes,
Flask) as well as the body: on a 10,000-resource prefetch that doubled the cost per resource.
`gc.freeze()` moves the start-up heap out of the collector's sight for good, and the thresholds
let a request finish its parse before the young generations are looked at. Reference counting
still frees everything acyclic at once; only cyclic garbage waits a little longer.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# (generation 0, 1, 2): 50,000 net allocations before a young collection (CPython: 700), and 10
# collections of each generation before the next older one is examined (CPython: 10, 10).
THRESHOLDS = (50_000, 10, 10)


def settle_after_start_up() -> None:
    """Collect once, freeze what survived (it lives as long as the process) and raise thresholds.

    Call it in each serving process after the app is built (`service.wsgi` does), never in tests'
    processes, where the frozen heap would include whatever the test session holds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


_pause_lock = threading.Lock()
_pause_held = False


@contextmanager
def collection_paused() -> Iterator[None]:
    """No automatic collection while the block runs: a hook call's parse and evaluation.

    Parsing a large body allocates a tree of containers with no cycle in it, all alive until the
    call ends; each young collection meanwhile walks what the parse built so far, and every tenth
    walks the older survivors again, so the collector's share of a call grew with the body (a
    10,000-resource prefetch: ~45 ms of its ~290, none at 1,000 resources). Paused, that tree is
    freed by reference counting when the call returns and the collector never sees it.

    Collections are postponed, never skipped: one block at a time holds the pause (a call running
    beside it is not paused once the holder finishes), and a block does not take it when a
    collection is already due (generation 0 over its threshold), so the collector runs during
    that call as it would have. Cyclic garbage thus waits at most one call longer. Blocks that
    find the collector disabled by someone else leave it so.
    """
    global _pause_held
    with _pause_lock:
        take = not _pause_held and gc.isenabled() and gc.get_count()[0] < gc.get_threshold()[0]
        if take:
            _pause_held = True
            gc.disable()
    try:
        yield
    finally:
        if take:
            with _pause_lock:
                gc.enable()
                _pause_held = False
