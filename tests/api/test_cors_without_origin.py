"""Requests without an Origin get exactly flask-cors's headers, from the precomputed fast path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import spasticity_cds
from spasticity_cds import create_app
from spasticity_cds.config import Config

REPO = Path(__file__).resolve().parents[2]
BODY = (REPO / "benchmarks" / "requests" / "b-diazepam-als-baclofen-order-sign.json").read_bytes()
CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Vary")
CALLS: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("GET", "/cds-services", {}, None),
    ("POST", "/cds-services/spasticity-order-sign", {"Content-Type": "application/json"}, BODY),
    ("POST", "/cds-services/spasticity-order-sign", {"Content-Type": "application/json"}, b"{"),
    ("POST", "/cds-services/spasticity-order-sign", {"Content-Type": "text/plain"}, b"{}"),
    ("POST", "/cds-services/nope", {"Content-Type": "application/json"}, b"{}"),
    ("GET", "/nowhere", {}, None),
    ("GET", "/cds-services", {"Origin": "https://sandbox.cds-hooks.org"}, None),
    ("OPTIONS", "/cds-services/spasticity-order-sign",
     {"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST"}, None),
]  # fmt: skip


def _headers(app: Any) -> list[tuple[int, dict[str, str]]]:
    client = app.test_client()
    seen = []
    for method, path, headers, data in CALLS:
        response = client.open(path, method=method, headers=headers, data=data)
        seen.append((response.status_code, {h: response.headers.get(h, "") for h in CORS_HEADERS}))
    return seen


@pytest.mark.parametrize("origins", ["*", "https://sandbox.cds-hooks.org"])
def test_headers_equal_flask_cors_own(origins: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = create_app(Config(data_dir=str(tmp_path / "fast"), cors_origins=origins, log_level="WARNING"))
    with monkeypatch.context() as patch:
        patch.setattr(spasticity_cds, "_skip_cors_work_without_origin", lambda app: None)
        plain = create_app(
            Config(data_dir=str(tmp_path / "plain"), cors_origins=origins, log_level="WARNING")
        )
    names = [f.__qualname__ for f in fast.after_request_funcs[None]]
    assert any(name.startswith("_skip_cors_work_without_origin") for name in names)
    fast_headers, plain_headers = _headers(fast), _headers(plain)
    assert fast_headers == plain_headers, json.dumps([fast_headers, plain_headers], indent=1)
    assert fast_headers[0][1]["Access-Control-Allow-Origin"] in {"*", origins}
