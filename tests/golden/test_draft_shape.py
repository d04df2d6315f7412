"""A `draftOrders` that is some other resource is a client error that names the field (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _request() -> dict[str, Any]:
    path = HERE / "benzodiazepine-spasticity" / "fires-r4-sign-diazepam-brain-damage-traumatic.request.json"
    return json.loads(path.read_text())


def test_a_patient_in_place_of_draft_orders_is_a_400_naming_the_field(client: Any) -> None:
    body = _request()
    body["context"]["draftOrders"] = {"resourceType": "Patient", "id": "pat-1"}
    response = client.post("/cds-services/spasticity-order-sign", json=body)
    assert response.status_code == 400
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "context.draftOrders" in json.dumps(outcome) and "Patient" in json.dumps(outcome)


def test_a_single_order_in_place_of_a_bundle_is_still_read(client: Any) -> None:
    body = _request()
    body["context"]["draftOrders"] = body["context"]["draftOrders"]["entry"][0]["resource"]
    response = client.post("/cds-services/spasticity-order-sign", json=body)
    assert response.status_code == 200
    topics = [c["source"]["topic"]["code"] for c in response.get_json()["cards"]]
    assert "benzodiazepine-spasticity" in topics
