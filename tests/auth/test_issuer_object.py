"""A trusted issuer configured as an object: its JWKS, the jku values its tokens may carry (never
fetched), and the FHIR servers its tokens may make the service call. The string form still works."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from spasticity_cds.auth import JwtVerifier, Rejected
from spasticity_cds.config import Config
from spasticity_cds.prefetch import issuer_fhir_servers
from tests.auth.conftest import Keys
from tests.auth.tokens import ISSUER, SERVICE, build_app, call, claims_for, sign
from tests.support.jwks_server import JwksServer

OTHER_JKU = "https://keys.ehr.example.org/jwks.json"
FHIR = "https://ehr.example.org/fhir"


def object_config(make_config: Callable[..., Config], jwks: JwksServer, **entry: Any) -> Config:
    return make_config(trusted_issuers={ISSUER: {"jwks": jwks.url, **entry}})


def test_string_and_object_forms_verify_the_same_token(
    make_config: Callable[..., Config], jwks: JwksServer, keys: Keys, store: Any
) -> None:
    for config in (make_config(), object_config(make_config, jwks)):
        token = sign(keys.es384, claims_for(SERVICE))
        assert JwtVerifier(config).verify(f"Bearer {token}", path=SERVICE, store=store)["iss"] == ISSUER


@pytest.mark.parametrize(
    ("jku", "accepted"),
    [
        (None, True),
        ("configured", True),  # the configured JWKS URL itself
        (OTHER_JKU, True),  # listed in "jku"
        ("https://attacker.example.com/jwks.json", False),
        (42, False),
    ],
)
def test_jku_is_accepted_only_when_configured_and_never_fetched(
    make_config: Callable[..., Config], jwks: JwksServer, keys: Keys, store: Any, jku: Any, accepted: bool
) -> None:
    verifier = JwtVerifier(object_config(make_config, jwks, jku=[OTHER_JKU]))
    header = {} if jku is None else {"jku": jwks.url if jku == "configured" else jku}
    token = sign(keys.es384, claims_for(SERVICE), **header)
    if accepted:
        assert verifier.verify(f"Bearer {token}", path=SERVICE, store=store)
    else:
        with pytest.raises(Rejected, match="bad-jku"):
            verifier.verify(f"Bearer {token}", path=SERVICE, store=store)


@pytest.mark.parametrize(
    "entry",
    [{"jwks": ""}, {"jwks": "x", "fhirServers": "not a url"}, {"jwks": "x", "unknown": 1}, 42],
    ids=["empty-jwks", "bad-servers", "unknown-field", "not-an-object"],
)
def test_a_bad_issuer_object_fails_at_start_up(make_config: Callable[..., Config], entry: Any) -> None:
    with pytest.raises(ValueError, match="CDS_TRUSTED_ISSUERS"):
        JwtVerifier(make_config(trusted_issuers={ISSUER: entry}))


def test_the_issuers_fhir_servers_are_set_for_its_requests_only(
    make_config: Callable[..., Config], jwks: JwksServer, keys: Keys, store: Any
) -> None:
    app = build_app(object_config(make_config, jwks, fhirServers=[FHIR]), store)
    seen: list[Any] = []

    @app.after_request
    def _record(response: Any) -> Any:
        seen.append(issuer_fhir_servers.get())
        return response

    client = app.test_client()
    assert call(client, SERVICE, sign(keys.es384, claims_for(SERVICE))).status_code == 200
    assert client.get("/health").status_code == 200
    assert seen == [(FHIR,), None]


def test_start_up_warns_when_auth_is_on_without_a_fhir_server_allowlist(
    make_config: Callable[..., Config], jwks: JwksServer, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="spasticity_cds.auth"):
        build_app(make_config(), store)
    assert "no FHIR-server allowlist" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="spasticity_cds.auth"):
        build_app(make_config(fhir_servers=(FHIR,)), store)
        build_app(object_config(make_config, jwks, fhirServers=[FHIR]), store)
    assert "no FHIR-server allowlist" not in caplog.text
