"""docker/compose.yaml and docker/nginx.conf, checked statically."""

from __future__ import annotations

import re
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from spasticity_cds.config import Config
from tests.support.require import require_server

from .conftest import DOCKER, REPO

GUNICORN_VARIABLES = {
    "CDS_WORKERS",
    "CDS_THREADS",
    "CDS_WORKER_TIMEOUT",
    "CDS_GRACEFUL_TIMEOUT",
    "CDS_KEEPALIVE",
}
CONFIG_VARIABLES = {f"CDS_{f.name.upper()}" for f in fields(Config)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())  # type: ignore[no-any-return]


def _interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` / `${VAR:?message}` with every variable unset (`:?` -> `VAR`)."""
    return re.sub(
        r"\$\{(\w+)(?::([-?])([^}]*))?\}", lambda m: m.group(3) if m.group(2) == "-" else m.group(1), value
    )


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"cds", "proxy", "db"}


def test_cds_is_built_from_the_dockerfile_with_two_replicas(compose: dict[str, Any]) -> None:
    cds = compose["services"]["cds"]
    assert cds["deploy"]["replicas"] == 2
    context = (DOCKER / cds["build"]["context"]).resolve()
    assert context == REPO
    assert (context / cds["build"]["dockerfile"]).resolve() == DOCKER / "Dockerfile"
    assert "ports" not in cds and "container_name" not in cds  # replicas: only the proxy publishes
    assert cds["depends_on"]["db"]["condition"] == "service_healthy"


def test_cds_is_configured_only_through_environment(compose: dict[str, Any]) -> None:
    cds = compose["services"]["cds"]
    assert "env_file" not in cds and "volumes" not in cds and "configs" not in cds and "secrets" not in cds
    environment = cds["environment"]
    assert isinstance(environment, dict)
    unknown = set(environment) - CONFIG_VARIABLES - GUNICORN_VARIABLES
    assert not unknown, f"not settings of the service: {unknown}"
    assert {"CDS_DATABASE_URL", "CDS_AUTH", "CDS_BASE_URL", "CDS_TRUSTED_ISSUERS"} <= set(environment)


def test_database_url_points_at_db(compose: dict[str, Any]) -> None:
    raw = compose["services"]["cds"]["environment"]["CDS_DATABASE_URL"]
    url = urlsplit(_interpolate(raw))
    assert url.scheme == "postgresql+psycopg"
    assert url.hostname == "db" and url.port == 5432
    db_env = compose["services"]["db"]["environment"]
    assert url.username == db_env["POSTGRES_USER"] and url.path == "/" + db_env["POSTGRES_DB"]
    # the password is never written down: both sides require the same variable
    assert "${POSTGRES_PASSWORD:?" in raw and db_env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_db_is_postgres_16_with_a_named_volume_and_healthcheck(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:16")
    volume, target = db["volumes"][0].split(":")[:2]
    assert volume in compose["volumes"] and target == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_proxy_is_nginx_with_the_config_file(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    assert proxy["image"].startswith("nginx:")
    source, target = proxy["volumes"][0].split(":")[:2]
    assert (DOCKER / source).resolve() == DOCKER / "nginx.conf" and target == "/etc/nginx/nginx.conf"
    assert _interpolate(proxy["ports"][0]).endswith(":8080")
    assert proxy["depends_on"]["cds"]["condition"] == "service_healthy"


def test_cds_tmpfs_matches_the_image(compose: dict[str, Any]) -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    prometheus_dir = re.search(r"PROMETHEUS_MULTIPROC_DIR=(\S+)", dockerfile).group(1)  # type: ignore[union-attr]
    cds = compose["services"]["cds"]
    assert cds["read_only"] is True
    assert {"/tmp", prometheus_dir} <= set(cds["tmpfs"])


NGINX = DOCKER / "nginx.conf"


def test_nginx_balances_over_the_cds_service() -> None:
    text = NGINX.read_text()
    assert re.search(r"upstream cds \{[^}]*server cds:8080 resolve", text)
    assert "proxy_pass http://cds;" in text
    # bodies up to the service's own limit must reach it (nginx's default is 1 MiB)
    size = re.search(r"client_max_body_size (\d+)m;", text)
    assert size and int(size.group(1)) * 1024 * 1024 > Config().max_body_bytes
    assert "$request_uri" not in text and "$args" not in text and "$http_authorization" not in text


def test_nginx_config_syntax(tmp_path: Path) -> None:
    """`nginx -t` with the local nginx when there is one. The Debian nginx may predate `resolve`
    (1.27.3) and cannot resolve `cds` here, so that one server line is replaced by loopback."""
    nginx = str(require_server("nginx"))
    text = NGINX.read_text().replace("server cds:8080 resolve", "server 127.0.0.1:8080")
    text = text.replace("pid /var/run/nginx.pid;", f"pid {tmp_path}/nginx.pid;")
    (tmp_path / "nginx.conf").write_text(text)
    done = subprocess.run(
        [
            nginx,
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            str(tmp_path / "error.log"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
