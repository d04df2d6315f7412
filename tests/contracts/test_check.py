"""`spasticity-cds check URL`: passes against the real service under gunicorn (as `make run` serves
it), fails clearly against a broken instance, and its samples do not depend on today's date."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from spasticity_cds import create_app
from spasticity_cds.check import SERVICES, load_samples
from spasticity_cds.cli import main
from spasticity_cds.config import Config
from tests.support.gunicorn import GunicornServer, running_gunicorn


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    """The service with default settings (no CDS_CONTRACT_STATES), like `make run`."""
    env = {"CDS_DATA_DIR": str(tmp_path_factory.mktemp("check-data")), "CDS_ACCESS_LOG": "off"}
    with running_gunicorn(workers=2, env=env, ready_path="/ready") as server:
        yield server


def _table(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


@pytest.mark.slow
def test_check_passes_against_the_service(default_server: GunicornServer, capsys: Any) -> None:
    status = main(["check", default_server.url])
    out = _table(capsys)
    assert status == 0, out
    assert "FAIL" not in out
    assert f"{2 * 21 + 4} passed, 0 failed" in out  # 9 seed rules + 12 of the second set
    for rule in (
        "benzodiazepine-spasticity",
        "dantrolene-hepatic-disease",
        "intrathecal-baclofen-consideration",
    ):
        assert f"{rule} fires" in out and f"{rule} silent" in out


@pytest.mark.slow
def test_default_run_has_no_contract_state_endpoint(default_server: GunicornServer) -> None:
    assert (
        requests.post(f"{default_server.url}/_contract/state", json={"state": "x"}, timeout=5).status_code
        == 404
    )
    assert requests.get(f"{default_server.url}/_contract/fhir/Patient/p", timeout=5).status_code == 404


# -- a broken instance ---------------------------------------------------------------------------------


class _Broken(BaseHTTPRequestHandler):
    """Answers like a careless service: discovery without descriptions, cards without indicators,
    500 with HTML for a bad request, no CORS, 204 for feedback. Records Authorization headers."""

    seen_auth: list[str | None] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self.seen_auth.append(self.headers.get("Authorization"))
        self._send(200, {"services": [{"id": sid, "hook": "order-sign"} for sid in SERVICES]})

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._send(200, b"", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        self.seen_auth.append(self.headers.get("Authorization"))
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith("/feedback"):
            self._send(204, b"")
        elif "context" not in body:
            self._send(500, b"<html>oops</html>", "text/html")
        else:
            self._send(200, {"cards": [{"summary": "x", "source": {"label": "y"}}]})


@pytest.fixture
def broken_url() -> Iterator[str]:
    _Broken.seen_auth = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_check_fails_clearly_against_a_broken_instance(broken_url: str, tmp_path: Path, capsys: Any) -> None:
    token = tmp_path / "token"
    token.write_text("static-token\n")
    status = main(["check", broken_url, "--token-file", str(token)])
    out = _table(capsys)
    assert status == 1, out
    lines = {line.split("  ")[0].strip(): line for line in out.splitlines()}
    assert "FAIL" in lines["discovery"] and "description" in lines["discovery"]
    assert "FAIL" in lines["spasticity-order-sign: benzodiazepine-spasticity fires"]
    assert "cds-response.schema.json" in lines["spasticity-order-sign: benzodiazepine-spasticity fires"]
    assert "status 500, expected 400" in lines["bad request -> 400 OperationOutcome"]
    assert "Allow-Origin" in lines["CORS preflight"]
    assert "FAIL" in lines["feedback -> 200"]
    assert out.rstrip().endswith("0 passed, 46 failed")
    assert set(_Broken.seen_auth) == {"Bearer static-token"}


def test_token_command_gives_a_fresh_token_per_call(broken_url: str, capsys: Any) -> None:
    command = f"{sys.executable} -c \"import sys, uuid; print(uuid.uuid4().hex + ' ' + sys.argv[1])\""
    assert main(["check", broken_url, "--token-command", command]) == 1
    capsys.readouterr()
    tokens = [t for t in _Broken.seen_auth if t]
    assert len(tokens) == len(_Broken.seen_auth) > 10
    assert len(set(tokens)) == len(tokens), "one token per call"
    assert tokens[0].endswith(f"{broken_url}/cds-services"), "the URL called is the last argument"


def test_check_catches_a_corrupted_response_from_the_real_app(tmp_path: Path, capsys: Any) -> None:
    """The real app behind a middleware that turns every `indicator` into 'hard-stop' (pre-1.0)."""
    app = create_app(Config(data_dir=str(tmp_path / "data")))
    inner = app.wsgi_app

    def corrupt(environ: Any, start_response: Any) -> Any:
        body = b"".join(
            inner(
                environ,
                lambda s, h, e=None: start_response(
                    s, [(k, v) for k, v in h if k.lower() != "content-length"]
                ),
            )
        )
        return [body.replace(b'"indicator":"warning"', b'"indicator":"hard-stop"')]

    app.wsgi_app = corrupt  # type: ignore[method-assign]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status = main(["check", f"http://127.0.0.1:{server.server_port}"])
    finally:
        server.shutdown()
        thread.join()
    out = _table(capsys)
    assert status == 1
    failed = [line for line in out.splitlines() if "  FAIL  " in line]
    assert failed and all("indicator" in line and "hard-stop" in line for line in failed), out
    assert "spasticity-order-sign: dantrolene-hepatic-disease fires" in out  # critical: unaffected, passes


# -- the samples ---------------------------------------------------------------------------------------


def test_samples_cover_every_rule_both_ways(knowledge: Any) -> None:
    samples = load_samples()
    pairs = {(s["rule"], s["expect"]) for s in samples}
    assert pairs == {(rule["id"], e) for rule in knowledge.rules for e in ("fires", "silent")}
    for sample in samples:
        request = sample["request"]
        assert "fhirServer" not in request, "samples must not need a FHIR server"
        assert sample["service"] in SERVICES


@pytest.mark.parametrize("days_ahead", [0, 400])
def test_samples_do_not_depend_on_the_date(tmp_path: Path, days_ahead: int) -> None:
    now = datetime.now(UTC) + timedelta(days=days_ahead)
    client = create_app(Config(data_dir=str(tmp_path / "data")), clock=lambda: now).test_client()
    for sample in load_samples():
        response = client.post(f"/cds-services/{sample['service']}", json=sample["request"])
        assert response.status_code == 200, response.get_data(as_text=True)
        topics = [c["source"]["topic"]["code"] for c in response.get_json()["cards"]]
        assert (sample["rule"] in topics) == (sample["expect"] == "fires"), (sample["golden"], topics)
