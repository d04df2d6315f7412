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
