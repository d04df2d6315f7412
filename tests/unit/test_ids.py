"""service/ids.py: buffered random UUIDs are valid version-4 UUIDs, unique across threads and forks."""

from __future__ import annotations

import multiprocessing
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

from spasticity_cds.ids import new_uuid


def test_values_are_canonical_version_4_uuids() -> None:
    for _ in range(600):  # more than one buffer
        value = new_uuid()
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_threads_never_get_the_same_value() -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(lambda _: [new_uuid() for _ in range(2_000)], range(8)))
    values = [v for batch in batches for v in batch]
    assert len(set(values)) == len(values) == 16_000


def _child(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([new_uuid() for _ in range(50)])


def test_a_forked_worker_does_not_reuse_the_parents_buffer() -> None:
    new_uuid()  # the parent holds a partly used buffer
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue,))
    process.start()
    child = queue.get(timeout=30)
    process.join(timeout=30)
    parent = [new_uuid() for _ in range(50)]
    assert not set(child) & set(parent)
    assert os.getpid() != process.pid
