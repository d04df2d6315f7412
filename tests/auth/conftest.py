"""Fixtures for JWT authentication tests: generated keys, a JWKS over HTTP, a store, an app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask

from spasticity_cds import auth
from spasticity_cds.config import Config
from spasticity_cds.store import Store
from tests.auth.tokens import BASE_URL, ISSUER, SigningKey, build_app
from tests.support.jwks_server import JwksServer


@dataclass(frozen=True)
class Keys:
    es384: SigningKey
    rs384: SigningKey
    es256: SigningKey


@pytest.fixture(scope="session")
def keys() -> Keys:
    """Generated once per run: RSA generation is the slow part of these tests."""
    return Keys(
        es384=SigningKey(ec.generate_private_key(ec.SECP384R1()), "es384-1", "ES384"),
        rs384=SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048), "rs384-1", "RS384"),
        es256=SigningKey(ec.generate_private_key(ec.SECP256R1()), "es256-1", "ES256"),
    )


@pytest.fixture
def jwks(keys: Keys) -> Iterator[JwksServer]:
    # The RSA key is published without `alg` (as many EHR key sets are), the EC key with it.
    with JwksServer([keys.es384.jwk(alg="ES384", use="sig"), keys.rs384.jwk(), keys.es256.jwk()]) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'auth.sqlite3'}")
    yield s
    s.close()


@pytest.fixture
def make_config(jwks: JwksServer, tmp_path: Path) -> Callable[..., Config]:
    """Config for JWT auth trusting ISSUER at the test JWKS server; keyword overrides on top."""

    def make(**overrides: Any) -> Config:
        values: dict[str, Any] = {
            "auth": "jwt",
            "trusted_issuers": {ISSUER: jwks.url},
            "base_url": BASE_URL,
            "data_dir": str(tmp_path),
        }
        values.update(overrides)
        return Config(**values)

    return make


@pytest.fixture
def app(make_config: Callable[..., Config], store: Store) -> Flask:
    return build_app(make_config(), store)


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def no_refresh_cooldown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let an unknown kid refetch the JWKS at once (the production cooldown is a few seconds)."""
    monkeypatch.setattr(auth, "JWKS_REFRESH_COOLDOWN", 0.0)
