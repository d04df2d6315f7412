"""CDS_CORS_ORIGINS is a comma-separated list; Private Network Access only when asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from spasticity_cds.config import Config

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "Authorization, Content-Type",
    "Access-Control-Request-Private-Network": "true",
}


def preflight(app: Flask, origin: str) -> Any:
    return app.test_client().options("/cds-services", headers={"Origin": origin, **PREFLIGHT})


def test_a_comma_separated_list_allows_each_origin_and_no_other(make_app: Callable[..., Flask]) -> None:
    app = make_app(cors_origins="https://ehr.example.org, https://sandbox.cds-hooks.org")
    for origin in ("https://ehr.example.org", "https://sandbox.cds-hooks.org"):
        response = app.test_client().get("/cds-services", headers={"Origin": origin})
        assert response.headers.get("Access-Control-Allow-Origin") == origin
        assert preflight(app, origin).headers.get("Access-Control-Allow-Origin") == origin
    other = app.test_client().get("/cds-services", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_the_list_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_CORS_ORIGINS", "https://a.example.org,https://b.example.org")
    monkeypatch.setenv("CDS_CORS_PRIVATE_NETWORK", "1")
    config = Config.from_env()
    assert config.cors_private_network is True
    from spasticity_cds import cors_origin_list

    assert cors_origin_list(config.cors_origins) == ["https://a.example.org", "https://b.example.org"]
    assert cors_origin_list("*") == "*"


def test_private_network_access_is_off_by_default(make_app: Callable[..., Flask]) -> None:
    response = preflight(make_app(), "https://any.example.org")
    assert response.headers.get("Access-Control-Allow-Origin")
    assert response.headers.get("Access-Control-Allow-Private-Network", "false") == "false"


def test_private_network_access_when_enabled(make_app: Callable[..., Flask]) -> None:
    response = preflight(make_app(cors_private_network=True), "https://any.example.org")
    assert response.headers.get("Access-Control-Allow-Private-Network") == "true"
