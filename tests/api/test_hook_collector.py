"""A hook call runs with the garbage collector paused (service/heap.py) and gives it back after,
whether it answers with cards or with an error."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest

from spasticity_cds.api import hooks
from tests.api.helpers import AMLODIPINE, hook_request, order, url_for


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether the collector was enabled while the rules' data were read, per call."""
    states: list[bool] = []
    real_find = hooks.find

    def find(*args: Any, **kwargs: Any) -> Any:
        states.append(gc.isenabled())
        return real_find(*args, **kwargs)

    monkeypatch.setattr(hooks, "find", find)
    was = gc.isenabled()
    gc.enable()
    yield states
    if not was:
        gc.disable()


def test_the_call_is_paused_and_the_collector_enabled_after(client: Any, seen: list[bool]) -> None:
    body = hook_request("order-sign", [order("R4", AMLODIPINE)], prefetch={})
    response = client.post(url_for("order-sign"), data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert seen == [False]
    assert gc.isenabled()


def test_a_refused_call_gives_the_collector_back(client: Any, seen: list[bool]) -> None:
    response = client.post(url_for("order-sign"), data=b'{"hook": [[[', content_type="application/json")
    assert response.status_code == 400
    body = hook_request("order-sign", [order("R4", AMLODIPINE)], prefetch={"conditions": {"resourceType": 7}})
    response = client.post(url_for("order-sign"), data=json.dumps(body), content_type="application/json")
    assert response.status_code in {400, 200}
    assert gc.isenabled()
