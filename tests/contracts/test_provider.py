"""Provider verification: every pact in tests/contracts/pacts/ against the real service under gunicorn.

The service runs as deployed (gunicorn, two worker processes with threads, SQLite in a temp
CDS_DATA_DIR) plus CDS_CONTRACT_STATES=1, which adds `POST /_contract/state` and the read-only FHIR
endpoint `/_contract/fhir/` (service/api/contract_states.py). Pact's verifier calls the state
endpoint before (and, teardown, after) each interaction that names a state, and puts the returned
`fhirServer` into the replayed request, so "data on the FHIR server" cases need no external server.
The endpoint must not exist in a default run: see `test_state_endpoint_absent_by_default`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pact import Verifier

from tests.support.gunicorn import GunicornServer, running_gunicorn

from .common import PACT_DIR, PROVIDER

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    data_dir = tmp_path_factory.mktemp("contract-data")
    env = {"CDS_CONTRACT_STATES": "1", "CDS_DATA_DIR": str(data_dir), "CDS_ACCESS_LOG": "off"}
    with running_gunicorn(workers=2, env=env, extra_args=("--threads", "4")) as server:
        yield server


def test_pact_files_exist() -> None:
    names = sorted(p.name for p in PACT_DIR.glob("*.json"))
    assert names == ["cds-hooks-sandbox-spasticity-cds.json", "ehr-order-sign-spasticity-cds.json"]


def test_provider_honours_every_pact(contract_server: GunicornServer) -> None:
    verifier = (
        Verifier(PROVIDER, host="127.0.0.1")
        .add_transport(url=contract_server.url)
        .add_source(PACT_DIR)
        .state_handler(f"{contract_server.url}/_contract/state", teardown=True, body=True)
        .set_error_on_empty_pact(enabled=True)
    )
    try:
        verifier.verify()
    except Exception as exc:  # the verifier's own message lists the failed interactions
        pytest.fail(
            f"provider verification failed: {exc}\n{verifier.logs[-6000:]}\n"
            f"server log:\n{contract_server.log_text()[-3000:]}"
        )


def test_state_endpoint_serves_fixture_fhir(contract_server: GunicornServer) -> None:
    state = "the FHIR server has patient pat-als-2 with ALS, no medications and no labs"
    answer = requests.post(
        f"{contract_server.url}/_contract/state",
        json={"state": state, "params": {}, "action": "setup"},
        timeout=5,
    )
    assert answer.status_code == 200
    fhir = answer.json()["fhirServer"]
    assert fhir == f"{contract_server.url}/_contract/fhir"
    bundle = requests.get(f"{fhir}/Condition?patient=pat-als-2&_count=200", timeout=5).json()
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["code"]["coding"][0]["code"] == "86044005"
    meds = requests.get(f"{fhir}/MedicationRequest?patient=pat-als-2&status=active,on-hold", timeout=5).json()
    assert meds["total"] == 0
    assert requests.get(f"{fhir}/Patient/pat-als-2", timeout=5).json()["id"] == "pat-als-2"
    unknown = requests.post(
        f"{contract_server.url}/_contract/state", json={"state": "no such state"}, timeout=5
    )
    assert unknown.status_code == 400 and unknown.json()["resourceType"] == "OperationOutcome"
    requests.post(
        f"{contract_server.url}/_contract/state", json={"state": state, "action": "teardown"}, timeout=5
    )
    assert requests.get(f"{fhir}/Condition?patient=pat-als-2", timeout=5).json()["total"] == 0


@pytest.mark.parametrize("path", ["/_contract/state", "/_contract/fhir/Condition?patient=pat-als-1"])
def test_state_endpoint_absent_by_default(make_app: Any, path: str) -> None:
    client = make_app().test_client()
    response = client.post(path, json={"state": "x"}) if path.endswith("state") else client.get(path)
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_contract_states_setting_exposes_endpoint(make_app: Any, tmp_path: Path) -> None:
    client = make_app(contract_states=True).test_client()
    assert client.post("/_contract/state", json={"state": "the FHIR server is empty"}).status_code == 200
