"""docker/k8s manifests: schema-valid offline (kubernetes-validate's bundled schemas) and carrying
the probes, limits and security settings a hospital cluster's admission policies expect."""

from __future__ import annotations

import copy
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kv

from spasticity_cds.config import Config

from .conftest import DOCKER

K8S = DOCKER / "k8s"
# The oldest Kubernetes minor still commonly in support and the newest the validator ships.
VERSIONS = ("1.30.0", kv.latest_version())
GUNICORN_VARIABLES = {
    "CDS_WORKERS",
    "CDS_THREADS",
    "CDS_WORKER_TIMEOUT",
    "CDS_GRACEFUL_TIMEOUT",
    "CDS_KEEPALIVE",
}
CONFIG_VARIABLES = {f"CDS_{f.name.upper()}" for f in fields(Config)}


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [doc for _, doc in _documents() if doc["kind"] == kind]
    return doc


def _resources() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path, doc in _documents() if doc["kind"] != "Kustomization"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly(version: str) -> None:
    for path, doc in _resources():
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{path.name}: {'.'.join(map(str, exc.path))}: {exc.message}")


def test_validation_can_fail() -> None:
    """A misspelt field and a wrong type are rejected, so the test above is not vacuous."""
    deployment = copy.deepcopy(_one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(_one("Deployment"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, VERSIONS[-1], strict=True)


def test_the_expected_kinds_are_there() -> None:
    kinds = sorted(doc["kind"] for _, doc in _resources())
    assert kinds == sorted(
        ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret", "Service"]
    )


def test_kustomization_lists_every_manifest() -> None:
    kustomization = _one("Kustomization")
    assert set(kustomization["resources"]) == {path.name for path, _ in _resources()}


def _container() -> dict[str, Any]:
    (container,) = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def test_deployment_replicas_and_probes() -> None:
    deployment = _one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    container = _container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ("http", 8080)
        assert container[probe]["timeoutSeconds"] <= container[probe]["periodSeconds"]


def test_deployment_resources() -> None:
    resources = _container()["resources"]
    for kind in ("cpu", "memory"):
        assert resources["requests"][kind] and resources["limits"][kind]


def test_deployment_security_context() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    image_uid = int(re.search(r"^ARG APP_UID=(\d+)$", dockerfile, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    context = _container()["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "add" not in context["capabilities"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"


def test_writable_paths_are_empty_dirs() -> None:
    """Read-only root: /tmp and the prometheus directory (the image's) must be emptyDir mounts."""
    pod = _one("Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in _container()["volumeMounts"]}
    dockerfile = (DOCKER / "Dockerfile").read_text()
    prometheus_dir = re.search(r"PROMETHEUS_MULTIPROC_DIR=(\S+)", dockerfile).group(1)  # type: ignore[union-attr]
    env = {e["name"]: e["value"] for e in _container().get("env", [])}
    assert env.get("PROMETHEUS_MULTIPROC_DIR", prometheus_dir) == prometheus_dir
    for path in ("/tmp", prometheus_dir):
        assert "emptyDir" in mounts[path], path


def test_configuration_comes_from_the_configmap_and_secret() -> None:
    env_from = _container()["envFrom"]
    config_map, secret = _one("ConfigMap"), _one("Secret")
    assert {"configMapRef": {"name": config_map["metadata"]["name"]}} in env_from
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in env_from
    unknown = set(config_map["data"]) - CONFIG_VARIABLES - GUNICORN_VARIABLES
    assert not unknown, f"not settings of the service: {unknown}"
    assert "CDS_DATABASE_URL" not in config_map["data"]


def test_secret_holds_a_clearly_marked_postgresql_placeholder() -> None:
    secret = _one("Secret")
    assert set(secret["stringData"]) == {"CDS_DATABASE_URL", "CDS_REPEAT_SECRET"}
    assert "REPLACE" in secret["stringData"]["CDS_REPEAT_SECRET"]
    url = secret["stringData"]["CDS_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://")
    assert "REPLACE" in url
    assert "PLACEHOLDER" in (K8S / "secret.yaml").read_text()


def test_service_hpa_and_pdb_point_at_the_deployment() -> None:
    deployment = _one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = _one("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = _one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] >= 2
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    pdb = _one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_shutdown_fits_the_grace_period() -> None:
    """preStop sleep + gunicorn's graceful timeout must end before Kubernetes sends SIGKILL."""
    pod = _one("Deployment")["spec"]["template"]["spec"]
    sleep = int(_container()["lifecycle"]["preStop"]["exec"]["command"][-1])
    graceful = int(_one("ConfigMap")["data"]["CDS_GRACEFUL_TIMEOUT"])
    assert sleep + graceful < pod["terminationGracePeriodSeconds"]
