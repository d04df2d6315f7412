"""Run the service under real gunicorn for integration tests: N worker processes on a free port.

Why: what a deployment runs is gunicorn with several worker processes sharing one database, and
properties like "500 concurrent feedback posts are all stored" or "a replayed JWT is refused by
every worker" only show up across processes. The Flask test client cannot show them.

    from tests.support.gunicorn import running_gunicorn

    with running_gunicorn(workers=2, env={"CDS_DATABASE_URL": url}) as server:
        requests.post(server.url + "/cds-services/order-sign/feedback", json=...)

The server's combined log is kept in a temp file and included in the error when it fails to start;
`server.log_text()` returns it for assertions or diagnostics.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from .postgres import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_APP = "spasticity_cds.wsgi:app"


class GunicornFailed(RuntimeError):
    """gunicorn exited or did not answer in time; the message carries the end of its log."""


class GunicornServer:
    """A running gunicorn master and its workers, started by `start_gunicorn`."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """Graceful stop (SIGTERM to the master, which stops its workers), then SIGKILL if stuck."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # The master runs in its own session: this group holds only processes we started.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log_path.unlink(missing_ok=True)


def start_gunicorn(
    *,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    app: str = DEFAULT_APP,
    ready_path: str = "/cds-services",
    startup_timeout: float = 60.0,
    extra_args: tuple[str, ...] = (),
) -> GunicornServer:
    """Start gunicorn for `app` and return once it answers HTTP on `ready_path` (any status).

    `env` is added to this process's environment (CDS_* settings); the repository root is put on
    PYTHONPATH so the checkout, not some installed copy, is what runs.
    """
    port = free_port()
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), child_env.get("PYTHONPATH")]))
    child_env.update(env or {})
    log_file = tempfile.NamedTemporaryFile(prefix="cds-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    log_path = Path(log_file.name)
    argv = [
        sys.executable, "-m", "gunicorn",
        "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}",
        "--chdir", str(REPO_ROOT),
        "--timeout", "60",
        "--graceful-timeout", "10",
        "--backlog", "2048",
        "--error-logfile", "-",
        *_no_control_socket(),
        *extra_args,
        app,
    ]  # fmt: skip
    with log_file:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            env=child_env, cwd=REPO_ROOT, start_new_session=True,
        )  # fmt: skip
    server = GunicornServer(process, port, log_path)
    try:
        _wait_until_answering(server, ready_path, startup_timeout)
    except BaseException:
        log = server.log_text()
        server.stop()
        raise GunicornFailed(f"gunicorn for {app} did not start:\n{log[-4000:]}") from None
    return server


def _no_control_socket() -> list[str]:
    """Newer gunicorn opens a control socket at a fixed path in $HOME; parallel test servers would
    fight over it, and tests should not write there."""
    from gunicorn.config import Config

    return ["--no-control-socket"] if "control_socket_disable" in Config().settings else []


def _wait_until_answering(server: GunicornServer, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with requests.Session() as session:
        while time.monotonic() < deadline:
            if not server.alive():
                raise GunicornFailed(f"gunicorn exited with status {server.process.returncode}")
            try:
                session.get(server.url + path, timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.1)
    raise GunicornFailed(f"no answer on {server.url}{path} within {timeout:.0f} s")


@contextmanager
def running_gunicorn(**kwargs: object) -> Iterator[GunicornServer]:
    """`start_gunicorn(**kwargs)` for the duration of the block, always stopped afterwards."""
    server = start_gunicorn(**kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
