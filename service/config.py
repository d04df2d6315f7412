"""Settings: small embedded defaults, overridden by CDS_* environment variables.

The defaults run the service on a laptop with nothing else installed (SQLite in ./data, no auth,
no FHIR server needed). Every setting a deployment needs is an environment variable, so the same
image runs in a container, in compose and on Kubernetes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def _default_database_url(data_dir: str) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / 'spasticity-cds.sqlite3'}"


@dataclass(frozen=True)
class Config:
    """All runtime settings. Field name `x_y` is read from the variable `CDS_X_Y`."""

    data_dir: str = "data"
    database_url: str = ""  # empty: a SQLite file in data_dir
    auth: str = "off"  # off | jwt
    # iss -> JWKS URL or file, or {"jwks": URL or file, "jku": [URLs], "fhirServers": [prefixes]}
    trusted_issuers: Mapping[str, Any] = field(default_factory=dict)
    trust_sandbox: bool = False  # add the CDS Hooks sandbox's pinned public JWKS as an issuer
    base_url: str = "http://127.0.0.1:8080"  # public base URL, without /cds-services
    aud_aliases: tuple[str, ...] = ()  # other base URLs an EHR may put in `aud`
    jwt_algorithms: tuple[str, ...] = ("ES384", "RS384")
    jwt_leeway: int = 5  # seconds of clock skew allowed for iat / nbf / exp
    fhir_timeout: float = 3.0  # seconds for all FHIR fetching of one request
    fhir_max_pages: int = 5  # `next` links followed per query
    fhir_max_response_bytes: int = 10 * MiB
    max_body_bytes: int = 5 * MiB
    max_json_depth: int = 64
    max_draft_orders: int = 100
    max_prefetch_entries: int = 10000
    lab_lookback_days: int = 90
    record_queue_max: int = 10000  # issued-card rows buffered per process while the database is away
    cors_origins: str = "*"  # "*" or comma-separated origins
    cors_private_network: bool = False  # answer Private Network Access preflights
    fhir_servers: tuple[str, ...] = ()  # allowed fhirServer base-URL prefixes (empty: any)
    log_level: str = "INFO"
    contract_states: bool = False  # expose POST /_contract/state (contract tests only)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or _default_database_url(self.data_dir)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build settings from CDS_* variables; unknown variables are ignored."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"CDS_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, f.type, raw)
        values.update(overrides)
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> Config:
        return replace(self, **overrides)


def _parse(name: str, type_: Any, raw: str) -> Any:
    type_name = str(type_)
    try:
        if type_name.startswith("bool"):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
        if type_name.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if type_name.startswith("Mapping"):
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return value
    except ValueError as exc:
        raise ValueError(f"CDS_{name.upper()}: {exc}") from exc
    return raw
