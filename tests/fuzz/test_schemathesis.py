"""Schemathesis against the real Flask app: every operation of openapi.yaml, in process.

For each operation, schemathesis generates requests from the OpenAPI document (positive: bodies,
path ids and headers that fit it; negative, for operations that take input: data that breaks it)
and sends them through the whole stack. Checks on every response: no 5xx, the status is
documented, the content type is the documented one, and the body conforms to its documented
schema (OperationOutcome for errors, the CDS response for cards).

Bounded and deterministic: hypothesis `derandomize=True`, no example database, MAX_EXAMPLES per
operation and mode. (schemathesis's own pytest loader, `from_fixture`, is not used: its lazy
collection reads `Function._nodeid`, which pytest 9 no longer has; `as_strategy` plus `@given` is
the documented alternative for non-schemathesis tests.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
import yaml
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from spasticity_cds.paths import data_path

MAX_EXAMPLES = 40
SERVICE_OF_HOOK = {
    "order-select": "spasticity-order-select",
    "order-sign": "spasticity-order-sign",
    "medication-prescribe": "spasticity-medication-prescribe",
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _operations() -> list[tuple[str, GenerationMode]]:
    """(label, mode) pairs; negative mode only where there is input to break."""
    document = yaml.safe_load(data_path("openapi.yaml").read_text(encoding="utf-8"))
    labels = [
        (f"{method.upper()} {path}", bool(operation.get("requestBody") or item.get("parameters")))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "delete", "options", "patch"}
        and path != "/openapi.json"  # the document itself: schemathesis does not test it
    ]
    pairs = [(label, GenerationMode.POSITIVE) for label, _ in labels]
    pairs += [(label, GenerationMode.NEGATIVE) for label, takes_input in labels if takes_input]
    return pairs


OPERATIONS = _operations()


def _takes_input(label: str) -> bool:
    return (label, GenerationMode.NEGATIVE) in OPERATIONS


def _call_the_service_of_the_hook(case: Any) -> None:
    """A valid request names its hook, and each service answers one hook: send a generated body
    for a known hook to that hook's service (a mismatch is a plain 400, tested in tests/api), so
    the positive cases get past the hook check into the pipeline."""
    hook = case.body.get("hook") if isinstance(case.body, dict) else None
    if hook in SERVICE_OF_HOOK:
        case.path_parameters = {**(case.path_parameters or {}), "id": SERVICE_OF_HOOK[hook]}


@pytest.mark.parametrize(("label", "mode"), OPERATIONS, ids=[f"{m.value}:{label}" for label, m in OPERATIONS])
def test_operation_conforms_to_openapi(
    label: str, mode: GenerationMode, make_app: Callable[..., Flask]
) -> None:
    # A short FHIR timeout bounds the generated cases whose fhirServer points nowhere.
    app = make_app(fhir_timeout=0.5, log_level="WARNING")
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == label)
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        # The documented examples (sandbox first call, amlodipine, diazepam in ALS) reach the rules,
        # and every generated case may start from one of them.
        strategy = st.one_of(strategy, *operation.get_strategies_from_examples())
    statuses: Counter[int] = Counter()

    @SETTINGS
    @given(case=strategy)
    def run(case: Any) -> None:
        if mode is GenerationMode.POSITIVE and label == "POST /cds-services/{id}":
            _call_the_service_of_the_hook(case)
        response = case.call_and_validate(checks=CHECKS)
        statuses[response.status_code] += 1

    run()
    print(
        f"\n{mode.value} {label}: {sum(statuses.values())} calls, statuses {dict(sorted(statuses.items()))}"
    )
    # An operation without input has one possible request; one with input must see many.
    least = 10 if label.startswith("POST") else 3 if _takes_input(label) else 1
    assert sum(statuses.values()) >= least, f"{label}: hardly exercised: {dict(statuses)}"
    assert all(status < 500 for status in statuses)
