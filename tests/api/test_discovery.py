"""GET /cds-services: what the sandbox and EHRs see first."""

from __future__ import annotations

import re
from typing import Any

from spasticity_cds.validation import validator

TOKEN = re.compile(r"\{\{(.*?)\}\}")
CDS_HOOKS_2_TOKENS = {
    "context.patientId", "context.userId", "context.encounterId",
    "userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId",
}  # fmt: skip


def _services(client: Any) -> list[dict[str, Any]]:
    response = client.get("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] in {"*", "https://sandbox.cds-hooks.org"}
    body = response.get_json()
    errors = [e.message for e in validator("cds-discovery.schema.json").iter_errors(body)]
    assert not errors, errors
    return body["services"]


def test_three_services_one_per_hook_with_distinct_ids(client: Any) -> None:
    services = _services(client)
    assert sorted(s["hook"] for s in services) == ["medication-prescribe", "order-select", "order-sign"]
    assert len({s["id"] for s in services}) == 3  # the sandbox overwrites duplicate ids
    for service in services:
        assert service["title"].strip() and service["description"].strip()
        assert service["prefetch"], f"{service['id']} has no prefetch templates"


def test_prefetch_templates_use_only_cds_hooks_2_tokens(client: Any) -> None:
    for service in _services(client):
        for key, template in service["prefetch"].items():
            tokens = set(TOKEN.findall(template))
            assert tokens <= CDS_HOOKS_2_TOKENS, f"{service['id']}.{key}: {tokens - CDS_HOOKS_2_TOKENS}"
            assert "{{" not in TOKEN.sub("", template), f"{service['id']}.{key}: unbalanced token"


def test_prefetch_covers_what_the_rules_read(client: Any) -> None:
    for service in _services(client):
        types = {template.split("?")[0].split("/")[0] for template in service["prefetch"].values()}
        assert {"Patient", "Condition", "MedicationRequest", "MedicationStatement", "Observation"} <= types


def test_condition_template_has_no_clinical_status_filter(client: Any) -> None:
    # A Condition with no clinicalStatus is active: filtering on it would drop what the rules count.
    for service in _services(client):
        conditions = [t for t in service["prefetch"].values() if t.startswith("Condition")]
        assert conditions, f"{service['id']} prefetches no Condition"
        for template in conditions:
            assert "clinical-status" not in template and "clinicalStatus" not in template, template


def test_discovery_is_the_same_json_for_every_caller(client: Any, knowledge: Any) -> None:
    assert client.get("/cds-services").get_json() == knowledge.discovery()
