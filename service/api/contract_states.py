"""Provider states for contract tests: `POST /_contract/state` and a tiny read-only FHIR server.

Registered only when `CDS_CONTRACT_STATES=1` (see `service.api.register_blueprints`); a default run
answers 404 on every path below. Nothing here is needed in production.

Pact's verifier calls `POST /_contract/state` with ``{"state": ..., "params": {...}, "action":
"setup" | "teardown"}`` before each interaction that names a provider state. The state's
resources (named fixtures below, or ``params.resources``) are written to a JSON file in
`CDS_DATA_DIR`, so every gunicorn worker sees them, and are served under `/_contract/fhir/` as a
FHIR read-only endpoint (``Patient/<id>`` reads; ``<Type>?patient=`` searches answered with
searchset Bundles, filtered on ``status`` and ``code`` when given). The answer to the state call is
``{"fhirServer": "<this instance>/_contract/fhir"}``: a pact request marks its ``fhirServer`` with
a ProviderState generator (``${fhirServer}``), so the verifier replays the consumer's request with
the service's own FHIR endpoint in place of the EHR's, and no external server is needed.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..errors import BadRequest, NotFound
from ..runtime import current

bp = Blueprint("contract_states", __name__, url_prefix="/_contract")

FHIR_PATH = "/_contract/fhir"
_STATE_FILE = "contract-state.json"


@lru_cache(maxsize=1)
def _states() -> dict[str, Any]:
    """Named states and their fixture resources, from spasticity_cds/check_samples/contract-states.json."""
    path = Path(__file__).resolve().parent.parent / "check_samples" / "contract-states.json"
    return dict(json.loads(path.read_text(encoding="utf-8"))["states"])


def _state_resources(state: str, patient_id: str | None) -> list[dict[str, Any]]:
    spec = _states()[state]
    text = json.dumps(spec["resources"]).replace("{{patientId}}", patient_id or spec["patientId"])
    return list(json.loads(text))


# -- state file (shared by every worker) -------------------------------------------------------------


def _state_path() -> Path:
    return Path(current().config.data_dir) / _STATE_FILE


def _write_resources(resources: list[dict[str, Any]]) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".contract-state-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"resources": resources}, handle)
    os.replace(tmp, path)


def _read_resources() -> list[dict[str, Any]]:
    try:
        return list(json.loads(_state_path().read_text(encoding="utf-8"))["resources"])
    except FileNotFoundError:
        return []


# -- state change --------------------------------------------------------------------------------------


@bp.post("/state")
def change_state() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        body = dict(request.args)
    state = body.get("state")
    params = body.get("params") or {}
    if not isinstance(params, Mapping):
        raise BadRequest("params must be an object", field="params")
    if body.get("action", "setup") == "teardown" or not state:
        _write_resources([])
        return jsonify({})
    if isinstance(params.get("resources"), list):
        resources = copy.deepcopy(params["resources"])
    elif state in _states():
        resources = _state_resources(state, params.get("patientId"))
    else:
        raise BadRequest(f"state: unknown provider state {state!r}", field="state")
    _write_resources(resources)
    return jsonify({"fhirServer": request.host_url.rstrip("/") + FHIR_PATH})


# -- read-only FHIR ------------------------------------------------------------------------------------


def _fhir(body: Mapping[str, Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/fhir+json"
    return response


@bp.get("/fhir/<resource_type>/<resource_id>")
def read(resource_type: str, resource_id: str) -> Response:
    for resource in _read_resources():
        if resource.get("resourceType") == resource_type and resource.get("id") == resource_id:
            return _fhir(resource)
    raise NotFound(f"{resource_type}/{resource_id} is not known")


@bp.get("/fhir/<resource_type>")
def search(resource_type: str) -> Response:
    patient = request.args.get("patient", "")
    statuses = _split(request.args.get("status"))
    codes = _split(request.args.get("code"))
    matches = [
        r
        for r in _read_resources()
        if r.get("resourceType") == resource_type
        and (not patient or _patient_of(r) in {patient, f"Patient/{patient}"})
        and (not statuses or r.get("status") in statuses)
        and (not codes or _codes_of(r) & codes)
    ]
    base = request.host_url.rstrip("/") + FHIR_PATH
    return _fhir(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "entry": [
                {
                    "fullUrl": f"{base}/{r['resourceType']}/{r.get('id', '')}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in matches
            ],
        }
    )


def _split(value: str | None) -> set[str]:
    return {part for part in (value or "").split(",") if part}


def _patient_of(resource: Mapping[str, Any]) -> str:
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            return str(ref["reference"])
    return ""


def _codes_of(resource: Mapping[str, Any]) -> set[str]:
    """`code` and `system|code` of every coding of the resource's `code`."""
    concept = resource.get("code")
    codings: Iterable[Any] = concept.get("coding", []) if isinstance(concept, Mapping) else []
    found: set[str] = set()
    for coding in codings:
        if isinstance(coding, Mapping) and coding.get("code"):
            found.add(str(coding["code"]))
            found.add(f"{coding.get('system', '')}|{coding['code']}")
    return found
