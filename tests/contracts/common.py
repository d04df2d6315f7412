"""What the consumer tests share: names, where pacts go, request fixtures, and matchers.

Matchers are for what varies between calls (uuids, timestamps, prose, the EHR's FHIR base URL);
exact values are what the contract promises (rule ids, indicators, resource types, status codes,
service ids). A request's `fhirServer` is marked with a ProviderState generator when the
interaction needs FHIR data: the provider's state endpoint answers `{"fhirServer": ...}` and the
verifier puts that URL into the replayed request (see service/api/contract_states.py).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pact import generate, match

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PACT_DIR = HERE / "pacts"
SANDBOX_FIXTURES = REPO / "tests" / "fixtures" / "sandbox"
REQUESTS = HERE / "requests"

PROVIDER = "spasticity-cds"
RULE_SYSTEM = "http://spasticity-cds.org/fhir/CodeSystem/cds-rule"
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def sandbox_request(name: str) -> dict[str, Any]:
    return load(SANDBOX_FIXTURES / name)


def exactly(value: str) -> Any:
    """An exact string even inside an `each_like` (whose type matching cascades to children)."""
    import re

    return match.regex(value, regex=f"^{re.escape(value)}$")


def hook_request(body: dict[str, Any], *, fhir_from_state: bool = False) -> dict[str, Any]:
    """`body` with matchers on what varies: hookInstance (a uuid) and, when the interaction reads
    FHIR data, fhirServer (taken from the provider state at verification)."""
    result: dict[str, Any] = copy.deepcopy(body)
    result["hookInstance"] = match.uuid(body["hookInstance"])
    if fhir_from_state:
        result["fhirServer"] = match.type(
            body["fhirServer"], generator=generate.provider_state("${fhirServer}")
        )
    return result


def feedback_request(body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = copy.deepcopy(body)
    for item in result["feedback"]:
        item["card"] = match.uuid(item["card"])
        item["outcomeTimestamp"] = match.regex(item["outcomeTimestamp"], regex=RFC3339)
        for accepted in item.get("acceptedSuggestions", []):
            accepted["id"] = match.uuid(accepted["id"])
    return result


NO_CARDS = {"cards": []}


def operation_outcome(field: str, example: str) -> dict[str, Any]:
    """A 400 body: an OperationOutcome whose diagnostics name `field`."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": match.regex(example, regex=rf"^.*\b{field}\b.*$"),
            }
        ],
    }
