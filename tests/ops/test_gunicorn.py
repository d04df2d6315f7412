"""The gunicorn configuration: its values, its hooks, its JSON access line, and a real gunicorn."""

from __future__ import annotations

import importlib
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config as GunicornConfig

from spasticity_cds import gunicorn_conf

from .conftest import DOCKER, REPO

TOKEN = "eyJhbGciOiJSUzM4NCJ9.dG9rZW4tYm9keQ.c2ln"


def _load(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name in ("HOST", "PORT", "CDS_WORKERS", "CDS_THREADS", "CDS_ACCESS_LOG", "CDS_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(gunicorn_conf)


@pytest.fixture(autouse=True)
def _reload_defaults(monkeypatch: pytest.MonkeyPatch) -> Any:
    yield
    monkeypatch.undo()
    importlib.reload(gunicorn_conf)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _load(monkeypatch)
    assert conf.bind == ["0.0.0.0:8080"]
    assert conf.workers == conf.default_workers(conf.cpu_count())
    assert 3 <= conf.workers <= conf.MAX_DEFAULT_WORKERS
    assert conf.timeout > conf.graceful_timeout > 0
    assert conf.accesslog is None  # the application logs each request; gunicorn's line is opt-in
    assert conf.worker_tmp_dir == "/dev/shm"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _load(
        monkeypatch,
        HOST="127.0.0.1",
        PORT="9090",
        CDS_WORKERS="5",
        CDS_ACCESS_LOG="-",
        CDS_LOG_LEVEL="WARNING",
    )
    assert conf.bind == ["127.0.0.1:9090"]
    assert conf.workers == 5
    assert conf.accesslog == "-"
    assert conf.loglevel == "warning"


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_bad_worker_counts_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ValueError, match="CDS_WORKERS"):
        _load(monkeypatch, CDS_WORKERS=value)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000", None), ("100000 100000", 1), ("150000 100000", 2), ("50000 100000", 1)],
)
def test_cpu_count_honours_the_cgroup_quota(tmp_path: Path, cpu_max: str, expected: int | None) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    available = len(os.sched_getaffinity(0))
    assert gunicorn_conf.cpu_count(tmp_path) == (available if expected is None else min(expected, available))


def test_cpu_count_honours_cgroup_v1(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert gunicorn_conf.cpu_count(tmp_path) == 1
    assert gunicorn_conf.cpu_count(tmp_path / "missing") == len(os.sched_getaffinity(0))


def test_default_workers_formula_and_cap() -> None:
    assert [gunicorn_conf.default_workers(n) for n in (1, 2, 3, 64)] == [3, 5, 7, 8]


def test_docker_config_file_is_valid_for_gunicorn() -> None:
    """Every name the image's config file defines is a gunicorn setting and passes its validator."""
    values = {
        k: v for k, v in runpy.run_path(str(DOCKER / "gunicorn.conf.py")).items() if not k.startswith("_")
    }
    cfg = GunicornConfig()
    newer = {"control_socket_disable"}  # gunicorn >= 25.1; older versions ignore it
    for name in gunicorn_conf.__all__:
        if name in newer and name not in cfg.settings:
            continue
        assert name in cfg.settings, f"{name} is not a gunicorn setting"
        cfg.set(name, values[name])
    assert set(gunicorn_conf.__all__) <= set(values)
    assert cfg.worker_class_str == "spasticity_cds.gunicorn_conf.BoundedThreadWorker"
    from gunicorn.workers.gthread import ThreadWorker

    assert issubclass(cfg.worker_class, ThreadWorker)  # gthread, with client sockets that time out
    assert callable(cfg.worker_exit)  # flushes the background writer
    assert cfg.logger_class is gunicorn_conf.JsonLogger
    assert callable(cfg.child_exit) and callable(cfg.on_starting)


def _access_line(tmp_path: Path, environ: dict[str, Any], headers: list[tuple[str, str]]) -> dict[str, Any]:
    cfg = GunicornConfig()
    log_file = tmp_path / "access.log"
    for name in ("access_log_format", "logger_class"):
        cfg.set(name, getattr(gunicorn_conf, name))
    cfg.set("accesslog", str(log_file))
    logger = gunicorn_conf.JsonLogger(cfg)
    response = SimpleNamespace(
        status="200 OK", sent=1234, headers=[("Content-Type", "application/json"), ("X-Request-ID", "rid-1")]
    )
    request = SimpleNamespace(headers=headers)
    logger.access(response, request, environ, timedelta(milliseconds=42))
    for handler in logger.access_log.handlers:
        handler.flush()
    (line,) = log_file.read_text().splitlines()
    return json.loads(line)


def test_access_line_is_json_without_query_or_headers(tmp_path: Path) -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/cds-services/x?access_token=leak",
        "PATH_INFO": '/cds-services/we"ird\\path\n',
        "QUERY_STRING": "access_token=leak",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_USER_AGENT": 'agent "quoted" \x01',
    }
    line = _access_line(tmp_path, environ, [("Authorization", f"Bearer {TOKEN}"), ("User-Agent", "x")])
    assert line["logger"] == "gunicorn.access"
    assert line["method"] == "POST"
    assert line["path"] == '/cds-services/we"ird\\path\n'
    assert line["status"] == 200 and line["bytes"] == 1234 and line["duration_ms"] == 42
    assert line["request_id"] == "rid-1"
    assert line["user_agent"] == 'agent "quoted" \x01'
    text = json.dumps(line)
    assert "leak" not in text and TOKEN not in text


def test_on_starting_empties_the_metrics_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "sub").mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    gunicorn_conf.on_starting(None)
    assert directory.is_dir() and list(directory.iterdir()) == []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "new" / "dir"))
    gunicorn_conf.on_starting(None)
    assert (tmp_path / "new" / "dir").is_dir()


def test_child_exit_marks_the_worker_dead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client import multiprocess

    calls: list[int] = []
    monkeypatch.setattr(multiprocess, "mark_process_dead", lambda pid, path=None: calls.append(pid))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    gunicorn_conf.child_exit(None, SimpleNamespace(pid=4242))
    assert calls == []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    gunicorn_conf.child_exit(None, SimpleNamespace(pid=4242))
    assert calls == [4242]


def _all_gone(pids: set[int]) -> bool:
    """True when none of `pids` runs any more (gunicorn's workers are its children, not ours)."""
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(
    url: str, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


@pytest.mark.slow
def test_real_gunicorn_with_the_image_config(tmp_path: Path) -> None:
    """gunicorn started as the image starts it: workers, merged metrics, JSON logs, no token."""
    port = _free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from the last run")
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CDS_WORKERS": "2",
        "CDS_THREADS": "2",
        "CDS_ACCESS_LOG": "-",  # gunicorn's own line too: it must stay JSON and token-free
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PYTHONPATH": str(REPO),
    }
    out, err = (tmp_path / "stdout").open("w+"), (tmp_path / "stderr").open("w+")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(DOCKER / "gunicorn.conf.py"),
            "--pythonpath",
            str(Path(__file__).parent),
            "fakeapp:build_app()",
        ],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=err,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert _get(f"{base}/health")[0] == 200
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    err.seek(0)
                    pytest.fail(f"gunicorn did not start:\n{err.read()}")
                time.sleep(0.1)
        assert not (metrics_dir / "counter_999999.db").exists()

        request_ids: list[str] = []

        def call_hooks(n: int) -> None:
            for _ in range(n):
                status, headers, _ = _get(
                    f"{base}/cds-services/spasticity-order-select?token=leak",
                    headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                    data=json.dumps({"hookInstance": f"hook-{len(request_ids)}"}).encode(),
                )
                assert status == 200
                request_ids.append(headers["X-Request-ID"])

        def serving_pids() -> set[int]:
            return {json.loads(line)["pid"] for line in Path(out.name).read_text().splitlines() if line}

        # Half of the calls, then SIGHUP: gunicorn replaces every worker. The second half is
        # answered by other processes, so the count below can only be right if the metrics of
        # all workers, dead and alive, are merged.
        call_hooks(10)
        first = serving_pids()
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not _all_gone(first):
            assert time.monotonic() < deadline, "old workers did not stop after SIGHUP"
            time.sleep(0.1)
        call_hooks(10)
        assert serving_pids() - first, "the second half was not answered by new workers"

        _, _, body = _get(f"{base}/metrics")
        text = body.decode()
        expected = (
            'cds_http_requests_total{endpoint="/cds-services/<service_id>",'
            'service="spasticity-order-select",status="200"} 20.0'
        )
        assert expected in text  # the sum over all workers, whichever answered the scrape
        assert _get(f"{base}/ready")[0] == 200
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0

    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
    out.close()
    err.close()
    for text in (stdout, stderr):
        assert TOKEN not in text and "leak" not in text

    gunicorn_lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    hook_lines = [line for line in gunicorn_lines if line["path"] == "/cds-services/spasticity-order-select"]
    # two workers write to one stream: lines may interleave out of request order
    assert sorted(line["request_id"] for line in hook_lines) == sorted(request_ids)
    assert all(line["status"] == 200 and line["method"] == "POST" for line in hook_lines)

    app_lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert all(line.keys() >= {"time", "level", "logger", "message"} for line in app_lines)
    access = [line for line in app_lines if line["logger"] == "spasticity_cds.access" and line["service"]]
    assert sorted(line["request_id"] for line in access) == sorted(request_ids)
    assert {line["hookInstance"] for line in access} == {f"hook-{i}" for i in range(20)}
    assert any(line["logger"] == "gunicorn.error" for line in app_lines)
    problems = [line for line in app_lines if line["level"] not in ("DEBUG", "INFO")]
    assert not problems, problems
    # every stderr line is JSON: gunicorn's own messages use the application's formatter
    assert all(line.startswith("{") for line in stderr.splitlines() if line.strip())
