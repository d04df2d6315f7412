"""Tokens and a test app for the JWT authentication tests.

`build_app` is a minimal Flask app wired exactly like `create_app` wires auth: the real runtime
object, the real `service.store.Store` (its `claim_jti` on a SQLite file), the real error
handlers, `init_auth`, and flask-cors with create_app's options, plus one trivial view per CDS
endpoint. It exists because create_app cannot build yet (knowledge and the API blueprints are
still being written); once it can, `build_app` should become `create_app(config)`.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from flask import Flask, jsonify

from spasticity_cds import auth, configure_cors
from spasticity_cds.config import Config
from spasticity_cds.errors import register_error_handlers
from spasticity_cds.runtime import Runtime
from tests.support.jwks_server import public_jwk

ISSUER = "https://ehr.example.org/fhir"
BASE_URL = "https://cds.example.org"
DISCOVERY = "/cds-services"
SERVICE = "/cds-services/spasticity-order-select"
FEEDBACK = "/cds-services/spasticity-order-select/feedback"


@dataclass
class SigningKey:
    """A generated private key and how tokens signed with it are labelled."""

    private: Any
    kid: str
    alg: str

    def jwk(self, **extra: Any) -> dict[str, Any]:
        return public_jwk(self.private, self.kid, **extra)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(path: str, **overrides: Any) -> dict[str, Any]:
    """Claims a conforming client sends for a call to `path`; overrides replace or (None) remove."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": BASE_URL + path,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign(key: SigningKey, claims: dict[str, Any], **header: Any) -> str:
    """A JWT signed by `key`; header overrides replace fields (None removes `typ`)."""
    headers: dict[str, Any] = {"kid": key.kid, "typ": "JWT"}
    headers.update(header)
    alg = headers.pop("alg", key.alg)
    return jwt.encode(claims, key.private, algorithm=alg, headers=headers)


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS built by hand, for tokens no library will produce (alg none, HS256 confusion)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


def build_app(config: Config, store: Any) -> Flask:
    """A Flask app with auth wired as create_app wires it, and one trivial view per CDS endpoint."""
    app = Flask("auth-test")
    app.extensions["cds"] = Runtime(
        config=config,
        knowledge=None,
        store=store,
        fetcher=None,
        uuid_factory=lambda: str(uuid.uuid4()),
        clock=lambda: datetime.now(UTC),
    )
    register_error_handlers(app)
    auth.init_auth(app)

    @app.get("/cds-services")
    def discovery() -> Any:
        return jsonify(services=[])

    @app.post("/cds-services/<service_id>")
    def service_call(service_id: str) -> Any:
        return jsonify(cards=[])

    @app.post("/cds-services/<service_id>/feedback")
    def feedback(service_id: str) -> Any:
        return jsonify(stored=0)

    @app.get("/health")
    def health() -> Any:
        return jsonify(status="ok")

    configure_cors(app, config.cors_origins)
    return app


def call(client: Any, path: str, token: str | None = None, **headers: str) -> Any:
    """GET discovery or POST a service / feedback endpoint, with the token as a Bearer header."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if path == DISCOVERY:
        return client.get(path, headers=headers)
    return client.post(path, json={}, headers=headers)
