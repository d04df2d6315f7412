"""fhir.resources' job: every FHIR resource the service emits in a suggestion is valid for the FHIR
version of the draft it answers (R4 against the R4B models, STU3 against the STU3 models; DSTU2
has no models in fhir.resources and is checked by the schemas only).

Checked over every golden response rather than on each hook call: the resources come from a few
builders (service/suggestions.py) whose shapes the golden cases cover, so a failing model here is
a builder defect, found before release, at no cost to the hot path (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from spasticity_cds.fhir import fhir_version_of, resources_of

GOLDEN = Path(__file__).parent
PACKAGES = {"R4": "fhir.resources.R4B", "STU3": "fhir.resources.STU3"}


def _draft_version(request: dict[str, Any]) -> str:
    context = request["context"]
    drafts = resources_of(context.get("draftOrders") or context.get("medications")) or []
    return fhir_version_of(drafts[0]) if drafts else "R4"


def _emitted() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for response_path in sorted(GOLDEN.glob("*/*.response.json")):
        response = json.loads(response_path.read_text())
        request_path = response_path.with_name(response_path.name.replace(".response.", ".request."))
        version = _draft_version(json.loads(request_path.read_text()))
        for card in response["cards"]:
            for suggestion in card.get("suggestions", []):
                for action in suggestion.get("actions", []):
                    if "resource" in action:
                        case = f"{response_path.parent.name}/{response_path.name[:-14]}"
                        out.append((case, version, action["resource"]))
    return out


EMITTED = _emitted()


def test_golden_responses_emit_resources_in_every_version() -> None:
    assert {version for _, version, _ in EMITTED} >= {"R4", "STU3", "DSTU2"}


@pytest.mark.parametrize(
    ("case", "version", "resource"),
    [e for e in EMITTED if e[1] in PACKAGES],
    ids=[f"{e[0]}-{e[2]['resourceType']}" for e in EMITTED if e[1] in PACKAGES],
)
def test_emitted_resource_is_valid_for_the_drafts_fhir_version(
    case: str, version: str, resource: dict[str, Any]
) -> None:
    kind = resource["resourceType"]
    module = importlib.import_module(f"{PACKAGES[version]}.{kind.lower()}")
    model = getattr(module, kind)
    model.model_validate(resource)  # raises with the offending field when invalid
