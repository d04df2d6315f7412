"""openapi.yaml: served at /openapi.json, a valid OpenAPI 3.1 document, complete (every route of
the app is described), and consistent with the JSON Schemas in schemas/ that the service validates
with: its components are those schemas, and they accept the golden files and the sandbox's
captured requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from flask import Flask
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.api.helpers import REPO, SANDBOX

DOCUMENT = yaml.safe_load((REPO / "openapi.yaml").read_text(encoding="utf-8"))
SCHEMAS = REPO / "schemas"
COMPONENT_OF_FILE = {
    "cds-discovery.schema.json": "CdsDiscovery",
    "cds-request.schema.json": "CdsServiceRequest",
    "contexts/order-select.schema.json": "OrderSelectContext",
    "contexts/order-sign.schema.json": "OrderSignContext",
    "contexts/medication-prescribe.schema.json": "MedicationPrescribeContext",
    "cds-response.schema.json": "CdsResponse",
    "feedback.schema.json": "Feedback",
}
GOLDEN = REPO / "tests" / "golden"
GOLDEN_REQUESTS = sorted(GOLDEN.glob("*/*.request.json"))
GOLDEN_RESPONSES = sorted(GOLDEN.glob("*/*.response.json"))
SANDBOX_REQUESTS = sorted(SANDBOX.glob("*.json"))


def component_validator(name: str) -> Draft202012Validator:
    """A validator for one component schema, resolving `#/components/...` in the document."""
    registry: Registry = Registry().with_resource("urn:openapi", Resource(DOCUMENT, DRAFT202012))
    schema = {"$ref": f"urn:openapi#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors_of(name: str, document: Any) -> list[str]:
    return [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in component_validator(name).iter_errors(document)
    ]


def test_served_document_is_the_yaml_as_json(client: Any) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.1")


def test_schemathesis_loads_it_with_every_operation(app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert {"GET /cds-services", "POST /cds-services/{id}", "POST /cds-services/{id}/feedback",
            "OPTIONS /cds-services", "OPTIONS /cds-services/{id}", "OPTIONS /cds-services/{id}/feedback",
            "GET /health", "GET /ready", "GET /version", "GET /metrics"} <= labels  # fmt: skip


def test_every_route_of_the_app_is_described(app: Flask) -> None:
    described = {
        (path, method.upper())
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method != "parameters"
    }
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/_contract"):
            continue
        path = rule.rule.replace("<service_id>", "{id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in described, f"{method} {path} is not in openapi.yaml"


def test_service_ids_are_those_of_services_yaml(knowledge: Any) -> None:
    enum = DOCUMENT["components"]["parameters"]["ServiceId"]["schema"]["enum"]
    assert sorted(enum) == sorted(knowledge.services)


def test_every_schema_in_the_document_is_valid_draft_2020_12() -> None:
    for schema in DOCUMENT["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises SchemaError naming the problem


@pytest.mark.parametrize(("filename", "component"), COMPONENT_OF_FILE.items())
def test_components_are_the_schemas_the_service_validates_with(filename: str, component: str) -> None:
    expected = json.loads((SCHEMAS / filename).read_text(encoding="utf-8"))
    expected.pop("$schema", None)
    expected.pop("$id", None)
    prefix = f"#/components/schemas/{component}/$defs/"

    def local(node: Any) -> Any:  # the component's refs point into itself; the file's into its $defs
        if isinstance(node, dict):
            return {k: v.replace(prefix, "#/$defs/") if k == "$ref" else local(v) for k, v in node.items()}
        if isinstance(node, list):
            return [local(v) for v in node]
        return node

    assert local(DOCUMENT["components"]["schemas"][component]) == expected


@pytest.mark.parametrize("path", SANDBOX_REQUESTS, ids=lambda p: p.name)
def test_sandbox_requests_fit_the_request_schema(path: Path) -> None:
    assert not errors_of("HookRequest", json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.skipif(not GOLDEN_REQUESTS, reason="no golden cases recorded yet")
def test_golden_requests_fit_the_request_schema() -> None:
    failures = {p.name: errors_of("HookRequest", json.loads(p.read_text("utf-8"))) for p in GOLDEN_REQUESTS}
    assert not {name: errs for name, errs in failures.items() if errs}


@pytest.mark.skipif(not GOLDEN_RESPONSES, reason="no golden cases recorded yet")
def test_golden_responses_fit_the_response_schema() -> None:
    failures = {p.name: errors_of("CdsResponse", json.loads(p.read_text("utf-8"))) for p in GOLDEN_RESPONSES}
    assert not {name: errs for name, errs in failures.items() if errs}


def test_request_body_examples_fit_and_the_service_answers_them(client: Any) -> None:
    operation = DOCUMENT["paths"]["/cds-services/{id}"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    answered = {}
    for name, example in examples.items():
        body = example["value"]
        assert not errors_of("HookRequest", body), name
        response = client.post(f"/cds-services/spasticity-{body['hook']}", json=body)
        assert response.status_code == 200, (name, response.get_data(as_text=True))
        assert not errors_of("CdsResponse", response.get_json()), name
        answered[name] = len(response.get_json()["cards"])
    assert answered["sandboxFirstCall"] == 0 and answered["amlodipineOrderSign"] == 0
    assert answered["diazepamInAlsOrderSign"] >= 2


def test_the_request_schema_rejects_what_the_service_rejects() -> None:
    body = json.loads((SANDBOX / "order-select-baclofen-lioresal.json").read_text("utf-8"))
    del body["context"]["selections"]
    assert errors_of("HookRequest", body)
    assert errors_of("HookRequest", {"hook": "order-sign", "context": {}})
    assert errors_of("OperationOutcome", {"resourceType": "Patient"})


def test_error_answers_fit_the_operation_outcome_schema(client: Any) -> None:
    for response in (
        client.post("/cds-services/nope", json={}),
        client.post("/cds-services/spasticity-order-sign", data="x", content_type="text/plain"),
        client.post("/cds-services/spasticity-order-sign", json={"hook": "order-sign"}),
        client.get("/cds-services/spasticity-order-sign"),
    ):
        assert response.status_code >= 400
        assert not errors_of("OperationOutcome", response.get_json())
