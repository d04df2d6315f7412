"""A throwaway real PostgreSQL server for tests: initdb + pg_ctl in a temp dir on a free loopback port.

Why a real server and not a mock or SQLite pretending: the store relies on PostgreSQL's own
`ON CONFLICT`, advisory locks and concurrency, which only the real thing exercises. The server
runs as the `postgres` system user when the tests run as root (initdb refuses root), listens on
127.0.0.1 only, trusts local connections, and is deleted on stop.

Use it from a test module or conftest::

    from tests.support.postgres import postgres_server  # session-scoped fixture

    def test_x(postgres_server):
        url = postgres_server.create_database("x")   # postgresql+psycopg://... of a fresh database

Tests skip with a clear message when the PostgreSQL server binaries are not installed
(Debian: `apt-get install postgresql`; `.ci/run` does it).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SKIP_MESSAGE = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found; install the Debian package "
    "'postgresql' (.ci/run does) to run the PostgreSQL tests"
)
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (binaries or a non-root user missing)."""


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl live: $PG_BINDIR, the newest /usr/lib/postgresql/*/bin, or PATH."""
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(re.sub(r"\D", "", Path(p).parent.name) or 0),
        reverse=True,
    )
    candidates += [Path(p) for p in versions]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One running postgres process owned by the test session."""

    def __init__(self, bindir: Path, base_dir: Path, port: int, user: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "socket"
        self.log_file = base_dir / "postgres.log"
        self.port = port
        self._user = user
        self._running = False

    # -- public ------------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database (dropping one of that name first) and return its URL."""
        import psycopg

        if not _SAFE_NAME.match(name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (immediate mode: the data is thrown away) and delete its directory."""
        if self._running:
            stop = ["pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30", "stop"]
            self._run(stop, check=False)
            self._running = False
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server but keep its data (an outage): `resume()` starts it again on the same port.

        Fast mode: open connections are terminated, as when a database host goes away."""
        if self._running:
            self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"])
            self._running = False

    def resume(self) -> None:
        """Start a halted server again (same data, same port)."""
        if not self._running:
            self._pg_ctl_start()
            self._running = True

    # -- start -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._run(
            [
                "initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            ]
        )  # fmt: skip
        self._pg_ctl_start()
        self._running = True

    def _pg_ctl_start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=200",
                # Durability is pointless for a throwaway server; speed is not.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        self._run(
            [
                "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
                "-w", "-t", "60", "-o", options, "start",
            ]
        )  # fmt: skip

    def _run(self, argv: list[str], *, check: bool = True) -> None:
        argv = [str(self.bindir / argv[0]), *argv[1:]]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        user = self._user
        if user is not None:
            env["HOME"] = user.pw_dir
        with tempfile.TemporaryFile() as output:
            result = subprocess.run(  # noqa: S603 - fixed binaries, no shell
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                env=env, cwd=self.base_dir, timeout=120, check=False,
                user=user.pw_uid if user else None,
                group=user.pw_gid if user else None,
                extra_groups=[] if user else None,
            )  # fmt: skip
            output.seek(0)
            text = output.read().decode("utf-8", "replace")
        if check and result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            name = Path(argv[0]).name
            raise PostgresUnavailable(f"{name} failed ({result.returncode}): {text[-2000:]}\n{log}")


def start_postgres(attempts: int = 3) -> PostgresServer:
    """Start a server or raise PostgresUnavailable (callers decide whether that means skip)."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(SKIP_MESSAGE)
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(os.environ.get("PG_TEST_USER", "postgres"))
        except KeyError:
            raise PostgresUnavailable(
                "running as root and no 'postgres' user exists (initdb refuses root); "
                "create one or set PG_TEST_USER to a non-root user"
            ) from None
    last_error: Exception | None = None
    for _ in range(attempts):  # the free port may be taken between choosing and binding it
        base_dir = Path(tempfile.mkdtemp(prefix="cds-pg-"))
        (base_dir / "socket").mkdir()
        if user is not None:
            for path in (base_dir, base_dir / "socket"):
                os.chown(path, user.pw_uid, user.pw_gid)
        server = PostgresServer(bindir, base_dir, free_port(), user)
        try:
            server.start()
        except PostgresUnavailable as exc:
            last_error = exc
            server.stop()
            time.sleep(0.2)
            continue
        atexit.register(server.stop)  # also cleans up when the session is interrupted
        return server
    raise PostgresUnavailable(f"PostgreSQL did not start: {last_error}")


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A server for the duration of the block; skips the test when PostgreSQL is not installed.

    A failure to start when the binaries are present is an error, not a skip: it means the
    PostgreSQL tests would silently stop running.
    """
    if find_bindir() is None:
        pytest.skip(SKIP_MESSAGE)
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Session-scoped PostgreSQL server; import this name into a test module or conftest."""
    with running_postgres() as server:
        yield server
