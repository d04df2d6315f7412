"""gunicorn settings for every deployment: container image, compose, Kubernetes, `spasticity-cds serve`.

Load it with `gunicorn -c python:spasticity_cds.gunicorn_conf spasticity_cds.wsgi:app`; the image's
`/app/gunicorn.conf.py` (docker/gunicorn.conf.py) only re-exports this module, so there is one
source of truth. Every setting is read from the environment when the module is loaded, through
`service.config.ServerConfig`: the one declaration of each variable, its default and its bounds
(README "Configuration" lists them), so a bad value stops gunicorn with a message naming it.

Request limits: a header field may be 16 KiB plus its name (`limit_request_field_size`), so a JWT
of up to 16 KiB is read and judged by the application (401 JSON with CORS beyond 16 KiB of
token); a header line longer than that is refused by gunicorn itself with its own 431 page (no
JSON, no CORS: the request never reaches the application). Behind nginx (docker/nginx.conf) such a
request gets a JSON 431 with CORS from nginx instead.

Slow clients: gunicorn hands an accepted connection to a worker thread at once, so a client that
trickles its headers or body holds that thread. `BoundedThreadWorker` gives every client socket a
read timeout (`CDS_CLIENT_TIMEOUT`), so a silent client is dropped after that long; a client that
keeps trickling a byte at a time can still hold a thread for up to `CDS_WORKER_TIMEOUT`-independent
minutes. That is the limit of serving directly (`spasticity-cds serve`): in production put a
buffering proxy in front (docker/compose.yaml's nginx; an ingress controller on Kubernetes), which
reads the whole request before it reaches gunicorn.

`spasticity-cds serve` makes a temporary PROMETHEUS_MULTIPROC_DIR per run when none is set, and
`on_exit` removes it, so /metrics adds up every worker outside the image too.

Worker count: CPU-bound rule evaluation wants about 2 x CPUs + 1 processes; the cap of 8 exists
because each worker holds its own database connection pool, and two replicas on a large host
without CPU limits would otherwise exhaust PostgreSQL's default 100 connections.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger as _GunicornLogger
from gunicorn.glogging import SafeAtoms as _SafeAtoms

from .config import ServerConfig

MAX_DEFAULT_WORKERS = 8


def cpu_count(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: the smaller of its CPU affinity and its cgroup CPU quota.

    `os.cpu_count()` reports the host's CPUs, which in a container limited to 1 CPU on a 64-core
    node would start 129 workers fighting over one CPU.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_cpu_quota(root: Path) -> float | None:
    """CPU quota in CPUs from cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`; None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def default_workers(cpus: int) -> int:
    return min(2 * cpus + 1, MAX_DEFAULT_WORKERS)


class JsonAtoms(_SafeAtoms):
    """gunicorn's atoms with every string JSON-escaped, so the JSON `access_log_format` stays valid
    whatever a client puts in its path or user agent (gunicorn itself only escapes quotes)."""

    def __init__(self, atoms: dict[str, Any]) -> None:
        super().__init__({})
        for key, value in atoms.items():
            self[key] = json.dumps(value, ensure_ascii=True)[1:-1] if isinstance(value, str) else value


class JsonLogger(_GunicornLogger):
    """gunicorn's logger with JSON lines: access lines from `access_log_format`, error lines
    (worker starts, timeouts) through the application's JSON formatter."""

    atoms_wrapper_class = JsonAtoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        from .observability import JsonFormatter

        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        status = str(atoms.get("s", ""))
        sent = atoms.get("B")
        atoms["time"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        atoms["status"] = int(status) if status.isdigit() else "null"
        atoms["bytes"] = sent if isinstance(sent, int) else "null"
        atoms["pid"] = os.getpid()
        return atoms


# --- settings gunicorn reads -------------------------------------------------------------------

_server = ServerConfig.from_env()
bind = [f"{_server.host}:{_server.port}"]
workers = _server.workers or default_workers(cpu_count())
worker_class = "spasticity_cds.gunicorn_conf.BoundedThreadWorker"
client_timeout = _server.client_timeout
# A 16 KiB token plus "Authorization: Bearer " fits; see the module docstring.
limit_request_field_size = 16 * 1024 + 256
threads = _server.threads
timeout = _server.worker_timeout
graceful_timeout = _server.graceful_timeout
keepalive = _server.keepalive
# The heartbeat file of each worker lives in memory: a disk-backed /tmp (or a slow overlay
# filesystem) can stall it long enough for the master to kill healthy workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Workers load the knowledge base themselves: a database engine created before fork would be
# shared between processes.
preload_app = False

loglevel = _server.log_level.lower()
errorlog = "-"
# The application writes one JSON line per request (service.observability, with the service id and
# the rules fired); gunicorn's access line would log every request a second time, so it is off
# unless asked for (CDS_ACCESS_LOG=- or a file), e.g. to see requests the application never got.
accesslog = _server.access_log_target
logger_class = JsonLogger
# One JSON object per line. Only the path (%(U)s, PATH_INFO) is logged, never the request line or
# query string, and no request header values: an Authorization header never reaches the log.
access_log_format = (
    '{"time":"%(time)s","level":"INFO","logger":"gunicorn.access",'
    '"request_id":"%({x-request-id}o)s","remote_addr":"%(h)s","method":"%(m)s","path":"%(U)s",'
    '"protocol":"%(H)s","status":%(status)s,"bytes":%(bytes)s,"duration_ms":%(M)s,'
    '"user_agent":"%(a)s","pid":%(pid)s}'
)
proc_name = "spasticity-cds"
# gunicorn >= 25.1 opens a control socket under $HOME by default: nothing here uses `gunicornc`,
# the image's home is not writable, and a process-control socket is surface we do not need.
# (Older gunicorn ignores the unknown name.)
control_socket_disable = True


# --- worker ------------------------------------------------------------------------------------


def _bounded_worker_class() -> type:
    import socket

    from gunicorn.workers import gthread

    class _TimedSocket(socket.socket):
        """A client socket whose "blocking" mode is blocking with a timeout: gunicorn switches a
        connection back to blocking before every request it reads, so the timeout applies to
        every read, keep-alive requests included."""

        def setblocking(self, flag: bool) -> None:
            if flag:
                self.settimeout(float(client_timeout))
            else:
                super().setblocking(False)

    class _TimedConn(gthread.TConn):  # type: ignore[misc]
        def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any) -> None:
            timed = _TimedSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
            super().__init__(cfg, timed, client, server)

    class BoundedThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
        """gunicorn's gthread worker whose client sockets time out (see the module docstring)."""

        def accept(self, listener: Any) -> None:
            original = gthread.TConn
            gthread.TConn = _TimedConn  # accept() builds its connection from this module name
            try:
                super().accept(listener)
            finally:
                gthread.TConn = original

    return BoundedThreadWorker


# --- server hooks ------------------------------------------------------------------------------


def on_starting(server: Any) -> None:
    """Master, before any worker: create the metrics directory and empty it.

    Files left by a previous run (a restarted container keeps its emptyDir) would otherwise be
    added to the new counters.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def worker_exit(server: Any, worker: Any) -> None:
    """Worker, as it exits gracefully: write what the background writer still holds (issued cards,
    JWT ids), bounded by a few seconds so a dead database cannot hold up a restart. `atexit` does
    the same for other servers; this hook runs first, while the worker's threads still exist."""
    from .writer import flush_all

    flush_all()


def child_exit(server: Any, worker: Any) -> None:
    """Master, after a worker exited: let prometheus-client drop that worker's live-gauge files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Master, on shutdown: remove the metrics directory if `spasticity-cds serve` created it for
    this run (a directory given by the deployment is left alone)."""
    from .metrics import SERVE_METRICS_DIR_ENV

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and directory == os.environ.get(SERVE_METRICS_DIR_ENV):
        shutil.rmtree(directory, ignore_errors=True)


BoundedThreadWorker = _bounded_worker_class()

__all__ = [  # gunicorn settings only (docker/gunicorn.conf.py star-imports them)
    "limit_request_field_size",
    "access_log_format",
    "accesslog",
    "bind",
    "child_exit",
    "control_socket_disable",
    "errorlog",
    "graceful_timeout",
    "keepalive",
    "logger_class",
    "loglevel",
    "on_exit",
    "on_starting",
    "preload_app",
    "proc_name",
    "threads",
    "timeout",
    "worker_class",
    "worker_tmp_dir",
    "worker_exit",
    "workers",
]
