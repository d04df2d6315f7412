"""`make bench`: the service and the bare Flask floor under production gunicorn settings, loaded by wrk.

    .venv/bin/python benchmarks/run.py                  # full run: kinds a-d x 1/8/32 connections x 3
    .venv/bin/python benchmarks/run.py --quick          # smoke: kind a, 1 run of 1 s, 1 connection
    .venv/bin/python benchmarks/run.py --memory         # worker RSS over 100,000 requests of kind b
    .venv/bin/python benchmarks/run.py --results x --json out.json   # markdown table + raw JSON

Both apps run as `gunicorn -c python:spasticity_cds.gunicorn_conf <app>` (the production settings: gthread
workers, 2 x CPUs + 1 of them, 4 threads, one JSON access line per request) on free loopback ports;
the service with a temporary CDS_DATA_DIR (SQLite), auth off and a PROMETHEUS_MULTIPROC_DIR, as the
image runs it. For every kind, connection count and run, the floor and then the service are loaded
in turn with the same body, so both see the same machine (wrk shares the cores); the table shows
medians. For kind b at 8 connections a third app, the service with JWT auth on (a generated
issuer key, RS384 and ES384), joins every round with a fresh token per request, and so does the
plain service loaded by that same token-sending client (JWT on / off compares like with like:
the client's per-request Lua is wrk's cost on the shared cores, not the service's). The targets of
issue 15 are printed PASS / FAIL at the end, every ratio from this one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from micro import KINDS, REQUESTS  # noqa: E402

PYTHON = sys.executable
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(%(path)s, "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d,\\"p99_us\\":%%d," ..
    "\\"errors\\":%%d,\\"non2xx\\":%%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


# JWT on vs off is judged with both services loaded by the same client script (below): wrk building
# each request in Lua, with its own token, costs the shared cores ~11% of kind b's rate by itself
# (measured on the auth-off service, static body vs token script: 0.89), which is the client's
# cost, not the service's. The row key of that JWT-off run:
SAME_CLIENT = "jwt-off-token-client"

# One fresh bearer token per request (the service refuses a replayed jti): each wrk thread takes
# every n-th line of the token file, starting at its own index.
JWT_LUA = """
wrk.method = "POST"
local f = assert(io.open(%(path)s, "rb"))
local body = f:read("*a")
f:close()
local tokens, next_thread = {}, 0
local counter, stride, offset = 0, 1, 0

function setup(thread)
  thread:set("first_token", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  offset = first_token or 0
  stride = %(threads)d
  for line in io.lines(%(tokens)s) do tokens[#tokens + 1] = line end
end

request = function()
  local token = tokens[offset + 1 + counter * stride]
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json"}
  if token then headers["Authorization"] = "Bearer " .. token end
  return wrk.format(nil, nil, headers, body)
end
""" + LUA.split("f:close()", 1)[1]


# ------------------------------------------------------------------------------------------ wrk
def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing the Debian package (apt-get install -y wrk)", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=True)
            subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=True)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(
        "benchmarks need wrk (the Debian/Ubuntu package `wrk`). Install it with\n"
        "    sudo apt-get install -y wrk\n"
        "(run.py installs it itself only when running as root on a system with apt-get)."
    )


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    non2xx: int
    # CPU the server's processes (master and workers, every thread) used per request during the
    # run, in ms; None when not measured. Unlike req/s it hardly depends on how much of the shared
    # cores wrk took, so it judges a change to the service with less noise.
    cpu_ms: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    wrk: str, url: str, script: Path, connections: int, seconds: float, server: Server | None = None
) -> WrkResult:
    """One wrk run; with `server`, also the server's CPU per request over the run."""
    threads = wrk_threads(connections)
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    cpu_before = server.cpu_seconds() if server is not None else None
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    cpu_after = server.cpu_seconds() if server is not None else None
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-2000:]}{out.stderr[-2000:]}")
    data = json.loads(line[len("WRKJSON ") :])
    cpu_ms = None
    if cpu_before is not None and cpu_after is not None and data["requests"]:
        cpu_ms = (cpu_after - cpu_before) * 1000 / data["requests"]
    return WrkResult(
        data["requests"],
        data["duration_us"] / 1e6,
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
        data["errors"],
        data["non2xx"],
        cpu_ms,
    )


def wrk_threads(connections: int) -> int:
    return min(2, connections)


@dataclass
class JwtClient:
    """An EHR's signing key and the service's view of it: a JWKS file, issuer and audience."""

    alg: str
    private: Any
    kid: str
    issuer: str = "https://ehr.bench.example/fhir"
    base_url: str = "https://cds.bench.example"

    @classmethod
    def make(cls, alg: str) -> JwtClient:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        if alg == "ES384":
            return cls(alg, ec.generate_private_key(ec.SECP384R1()), "bench-es384")
        return cls(alg, rsa.generate_private_key(public_exponent=65537, key_size=2048), "bench-rs384")

    def jwk(self) -> dict[str, Any]:
        import jwt

        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    def tokens(self, path: Path, n: int, endpoint: str) -> Path:
        import uuid

        import jwt

        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.base_url + endpoint, "iat": now, "exp": now + 600}
        headers = {"kid": self.kid, "typ": "JWT"}
        with path.open("w", encoding="ascii") as out:
            for _ in range(n):
                claims["jti"] = str(uuid.uuid4())
                out.write(jwt.encode(claims, self.private, algorithm=self.alg, headers=headers) + "\n")
        return path


def jwt_script(directory: Path, kind: str, tokens: Path, connections: int) -> Path:
    body = REQUESTS / KINDS[kind][0]
    path = directory / f"post-{kind}-jwt.lua"
    values = {
        "path": json.dumps(str(body)),
        "tokens": json.dumps(str(tokens)),
        "threads": wrk_threads(connections),
    }
    path.write_text(JWT_LUA % values, encoding="utf-8")
    return path


def lua_script(directory: Path, kind: str) -> Path:
    body = REQUESTS / KINDS[kind][0]
    path = directory / f"post-{kind}.lua"
    path.write_text(LUA % {"path": json.dumps(str(body))}, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ gunicorn
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server's master and workers so far (Linux /proc); None
        elsewhere. A worker that exits takes its CPU with it: compare runs without restarts."""
        total = 0.0
        for pid in [self.process.pid, *self.worker_pids()]:
            seconds = process_cpu_seconds(pid)
            if seconds is None:
                return None
            total += seconds
        return total


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (all its threads) from /proc/<pid>/stat; None if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: fields are counted after it.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def granian_workers(env: dict[str, str]) -> int:
    from spasticity_cds.gunicorn_conf import cpu_count, default_workers

    return int(env.get("CDS_WORKERS") or default_workers(cpu_count()))


@contextmanager
def gunicorn(
    name: str,
    app: str,
    env: dict[str, str],
    workdir: Path,
    ready_path: str = "/cds-services",
    server: str = "gunicorn",
) -> Iterator[Server]:
    """`app` served on a free loopback port by gunicorn with the production settings or, for the
    server comparison, by granian with as many workers and threads (its WSGI interface)."""
    port = free_port()
    log = workdir / f"{name}.log"
    child_env = dict(os.environ)
    for key in [k for k in child_env if k.startswith("CDS_")]:
        del child_env[key]
    child_env.update(env)
    child_env.update(
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
        }
    )
    argv = [PYTHON, "-m", "gunicorn", "-c", "python:spasticity_cds.gunicorn_conf", "--chdir", str(REPO), app]
    if server == "granian":
        metrics = env.get("PROMETHEUS_MULTIPROC_DIR")
        if metrics:  # gunicorn's on_starting creates it; granian has no such hook
            Path(metrics).mkdir(parents=True, exist_ok=True)
        argv = [
            PYTHON, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(granian_workers(env)), "--blocking-threads", env.get("CDS_THREADS", "4"),
            "--working-dir", str(REPO), app,
        ]  # fmt: skip
    with log.open("wb") as handle:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd=REPO,
            start_new_session=True,
        )
    served = Server(name, process, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                urllib.request.urlopen(served.base + ready_path, timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{name} did not answer:\n{tail}") from None
                time.sleep(0.2)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def service_env(workdir: Path, workers: int | None) -> dict[str, str]:
    metrics = workdir / "metrics"
    env = {
        "CDS_DATA_DIR": str(workdir / "data"),
        "CDS_AUTH": "off",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    if workers:
        env["CDS_WORKERS"] = str(workers)
    return env


def floor_env(workers: int | None) -> dict[str, str]:
    return {"CDS_WORKERS": str(workers)} if workers else {}


def post(base: str, kind: str) -> tuple[int, dict[str, Any]]:
    body = (REQUESTS / KINDS[kind][0]).read_bytes()
    req = urllib.request.Request(
        f"{base}/cds-services/{KINDS[kind][1]}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def check_service(base: str, kinds: list[str]) -> dict[str, int]:
    """Every kind answers 200; kind b must produce cards. Returns the number of cards per kind."""
    cards = {}
    for kind in kinds:
        status, body = post(base, kind)
        if status != 200:
            raise RuntimeError(f"kind {kind}: HTTP {status}: {json.dumps(body)[:500]}")
        cards[kind] = len(body.get("cards", []))
        if kind == "b" and not cards[kind]:
            raise RuntimeError("kind b produced no cards")
    return cards


# ------------------------------------------------------------------------------------------ load runs
def _summary(results: list[WrkResult]) -> dict[str, Any]:
    cpu = [r.cpu_ms for r in results if r.cpu_ms is not None]
    return {
        "rps": statistics.median(r.rps for r in results),
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "requests": sum(r.requests for r in results),
        "cpu_ms": statistics.median(cpu) if len(cpu) == len(results) and cpu else None,
    }


def jwt_env(workdir: Path, workers: int | None, clients: list[JwtClient]) -> dict[str, str]:
    jwks = workdir / "bench-jwks.json"
    jwks.write_text(json.dumps({"keys": [c.jwk() for c in clients]}), encoding="utf-8")
    env = service_env(workdir, workers)
    env.update(
        {
            "CDS_DATA_DIR": str(workdir / "data-jwt"),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics-jwt"),
            "CDS_AUTH": "jwt",
            "CDS_TRUSTED_ISSUERS": json.dumps({clients[0].issuer: str(jwks)}),
            "CDS_BASE_URL": clients[0].base_url,
            "CDS_JWT_ALGORITHMS": ",".join(c.alg for c in clients),
        }
    )
    return env


def jwt_run(
    wrk: str,
    server: Server | None,
    client: JwtClient,
    kind: str,
    conns: int,
    seconds: float,
    expected_rps: float,
    workdir: Path,
) -> WrkResult:
    """One wrk run against the JWT service with a fresh token for every request it can make."""
    assert server is not None
    endpoint = f"/cds-services/{KINDS[kind][1]}"
    n = int(max(expected_rps, 200) * seconds * 2 + 500)
    tokens = client.tokens(workdir / f"tokens-{client.alg}.txt", n, endpoint)
    script = jwt_script(workdir, kind, tokens, conns)
    return run_wrk(wrk, server.base + endpoint, script, conns, seconds, server)


def jwt_round(
    wrk: str,
    secured: Server | None,
    service: Server,
    clients: list[JwtClient],
    kind: str,
    conns: int,
    seconds: float,
    expected_rps: float,
    workdir: Path,
) -> dict[str, WrkResult]:
    """One wrk run of the JWT service per signing algorithm, then one of the service with JWT off
    loaded by the same token-sending client (it ignores the tokens): the baseline of the JWT target."""
    out: dict[str, WrkResult] = {}
    runs = [(f"jwt-{c.alg}", secured, c) for c in clients]
    runs += [(SAME_CLIENT, service, clients[0])] if clients else []
    for name, server, client in runs:
        result = jwt_run(wrk, server, client, kind, conns, seconds, expected_rps, workdir)
        if result.errors or result.non2xx:
            raise RuntimeError(f"{name} kind {kind} c={conns}: {result}")
        out[name] = result
    return out


def load_runs(args: argparse.Namespace, wrk: str, workdir: Path) -> dict[str, Any]:
    """Every (kind, connections): floor and service alternate, run after run; for the JWT kind and
    connection counts, a third app (the service with JWT auth on) joins each round, once per
    signing algorithm, with fresh tokens for every wrk run."""
    kinds = list(args.kinds)
    connections = [int(c) for c in args.connections.split(",")]
    jwt_conns = [int(c) for c in args.jwt_connections.split(",") if c] if args.jwt else []
    jwt_kind = "b" if "b" in kinds else None
    clients = (
        [JwtClient.make(alg) for alg in args.jwt_algorithms.split(",")] if jwt_conns and jwt_kind else []
    )
    scripts = {k: lua_script(workdir, k) for k in kinds}
    rows = []
    with ExitStack() as stack:
        floor = stack.enter_context(gunicorn("floor", "floor_app:app", floor_env(args.workers), workdir))
        service = stack.enter_context(
            gunicorn("service", "spasticity_cds.wsgi:app", service_env(workdir, args.workers), workdir)
        )
        secured = (
            stack.enter_context(
                gunicorn(
                    "service-jwt",
                    "spasticity_cds.wsgi:app",
                    jwt_env(workdir, args.workers, clients),
                    workdir,
                    ready_path="/health",
                )
            )
            if clients
            else None
        )
        other = None
        if args.granian:
            env = service_env(workdir, args.workers)
            env.update(
                {
                    "CDS_DATA_DIR": str(workdir / "data-granian"),
                    "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics-granian"),
                }
            )
            other = stack.enter_context(
                gunicorn("granian", "spasticity_cds.wsgi:app", env, workdir, server="granian")
            )
            check_service(other.base, kinds)
        apps = (floor, service, other) if other else (floor, service)
        cards = check_service(service.base, kinds)
        for kind in kinds:
            endpoint = f"/cds-services/{KINDS[kind][1]}"
            for conns in connections:
                with_jwt = clients if kind == jwt_kind and conns in jwt_conns else []
                samples: dict[str, list[WrkResult]] = {a.name: [] for a in apps}
                samples.update({f"jwt-{c.alg}": [] for c in with_jwt})
                if with_jwt:
                    samples[SAME_CLIENT] = []
                last_rps = 0.0

                for target in apps:  # warm-up: workers load lazily, first calls pay
                    warm = run_wrk(wrk, target.base + endpoint, scripts[kind], conns, 1)
                    last_rps = warm.rps if target is service else last_rps
                jwt_round(wrk, secured, service, with_jwt, kind, conns, 1, last_rps, workdir)
                for _ in range(args.runs):
                    for target in apps:
                        result = run_wrk(
                            wrk, target.base + endpoint, scripts[kind], conns, args.duration, target
                        )
                        if result.errors or result.non2xx:
                            raise RuntimeError(f"{target.name} kind {kind} c={conns}: {result}")
                        samples[target.name].append(result)
                        last_rps = result.rps if target is service else last_rps
                    for name, result in jwt_round(
                        wrk, secured, service, with_jwt, kind, conns, args.duration, last_rps, workdir
                    ).items():
                        samples[name].append(result)
                row: dict[str, Any] = {"kind": kind, "connections": conns, "cards": cards[kind]}
                for name, results in samples.items():
                    row[name] = _summary(results)
                row["ratio"] = row["service"]["rps"] / row["floor"]["rps"] if row["floor"]["rps"] else 0.0
                rows.append(row)
                print_row(row, with_jwt)
        workers = len(service.worker_pids())
    return {"rows": rows, "workers": workers, "duration": args.duration, "runs": args.runs}


def print_row(row: dict[str, Any], with_jwt: list[JwtClient]) -> None:
    """One (kind, connections) row, then a line for each other app that ran in its rounds."""
    print(format_row(row), flush=True)
    cpu = cpu_line(row)
    if cpu is not None:
        print(f"{'':<17} | {cpu}", flush=True)
    service, floor = row["service"]["rps"], row["floor"]["rps"]
    others: list[tuple[str, str]] = []
    if "granian" in row:
        rps = row["granian"]["rps"]
        others.append(("granian", f"granian: {rps / service:.2f} x gunicorn, {rps / floor:.2f} x floor"))
    if with_jwt:
        rps = row[SAME_CLIENT]["rps"]
        others.append((SAME_CLIENT, f"JWT off, token client: {rps / service:.2f} x static client"))
    for client in with_jwt:
        name, rps, off = f"jwt-{client.alg}", row[f"jwt-{client.alg}"]["rps"], row[SAME_CLIENT]["rps"]
        text = f"JWT on ({client.alg}): {rps / off:.2f} x JWT off "
        text += f"(same client; {rps / service:.2f} x static client)"
        others.append((name, text))
    for name, text in others:
        j = row[name]
        numbers = f"{j['rps']:>13.1f}{j['p50_ms']:>9.2f}{j['p99_ms']:>9.2f}"
        print(f"{'':<17} | {numbers} | {text}{_cpu_note(j)}", flush=True)


HEADER = (
    f"{'kind':<5}{'conns':>6}{'cards':>6} | {'service req/s':>13}{'p50 ms':>9}{'p99 ms':>9} | "
    f"{'floor req/s':>11}{'p50 ms':>9}{'p99 ms':>9} | {'ratio':>6}"
)


def format_row(row: dict[str, Any]) -> str:
    s, f = row["service"], row["floor"]
    return (
        f"{row['kind']:<5}{row['connections']:>6}{row['cards']:>6} | {s['rps']:>13.1f}{s['p50_ms']:>9.2f}"
        f"{s['p99_ms']:>9.2f} | {f['rps']:>11.1f}{f['p50_ms']:>9.2f}{f['p99_ms']:>9.2f} | "
        f"{row['ratio']:>6.2f}"
    )


def cpu_line(row: dict[str, Any]) -> str | None:
    """The server CPU per request of service and floor in one row, and their ratio (floor /
    service: the req/s ratio the service would have if the server alone used the cores); None
    when either was not measured."""
    s, f = row["service"].get("cpu_ms"), row["floor"].get("cpu_ms")
    if not s or not f:
        return None
    return f"server CPU per request: service {s:.3f} ms, floor {f:.3f} ms (floor / service {f / s:.2f})"


def _cpu_note(app: dict[str, Any]) -> str:
    return f"; server CPU {app['cpu_ms']:.3f} ms/req" if app.get("cpu_ms") else ""


def _cpu_cell(app: dict[str, Any], floor: dict[str, Any]) -> str:
    return (
        f"{app['cpu_ms']:.3f} / {floor['cpu_ms']:.3f}" if app.get("cpu_ms") and floor.get("cpu_ms") else "-"
    )


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| kind | conns | cards | service req/s | p50 ms | p99 ms | floor req/s | p50 ms | p99 ms | ratio "
        "| CPU ms/req service / floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s, f = r["service"], r["floor"]
        lines.append(
            f"| {r['kind']} | {r['connections']} | {r['cards']} | {s['rps']:.1f} | {s['p50_ms']:.2f} | "
            f"{s['p99_ms']:.2f} | {f['rps']:.1f} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | "
            f"{r['ratio']:.2f} | {_cpu_cell(s, f)} |"
        )
        for name in (k for k in r if k.startswith("jwt-")):
            j = r[name]
            label = "JWT off, token client" if name == SAME_CLIENT else f"JWT on ({name[4:]})"
            lines.append(
                f"| {r['kind']}, {label} | {r['connections']} | {r['cards']} | {j['rps']:.1f} | "
                f"{j['p50_ms']:.2f} | {j['p99_ms']:.2f} | {f['rps']:.1f} | {f['p50_ms']:.2f} | "
                f"{f['p99_ms']:.2f} | {j['rps'] / f['rps'] if f['rps'] else 0:.2f} | {_cpu_cell(j, f)} |"
            )
    return "\n".join(lines)


def targets(
    load: dict[str, Any] | None, micro: dict[str, Any] | None, memory: dict[str, Any] | None
) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each performance target (share of the floor's req/s, CPU per call,
    memory); met is None when not measured here."""
    out: list[tuple[str, str, bool | None]] = []
    rows = {(r["kind"], r["connections"]): r for r in (load or {}).get("rows", [])}
    for kind, what, floor_share in (("a", "irrelevant order", 0.8), ("b", "relevant order", 0.5)):
        r = rows.get((kind, 8))
        out.append(
            (
                f"{what} (kind {kind}) >= {floor_share} x floor req/s at 8 connections",
                f"{r['ratio']:.2f} x floor ({r['service']['rps']:.0f} / {r['floor']['rps']:.0f} req/s)"
                if r
                else "not run",
                r["ratio"] >= floor_share if r else None,
            )
        )
    r = rows.get(("b", 8))
    p99_share = r["service"]["p99_ms"] / r["service"]["p50_ms"] if r and r["service"]["p50_ms"] else None
    out.append(
        (
            "relevant order p99 <= 5 x p50 at 8 connections",
            f"p99 {r['service']['p99_ms']:.1f} ms = {p99_share:.1f} x p50 {r['service']['p50_ms']:.1f} ms"
            if r and p99_share is not None
            else "not run",
            p99_share <= 5 if p99_share is not None else None,
        )
    )
    r = rows.get(("d", 1))
    out.append(
        (
            "1,000-resource prefetch (kind d) p50 <= 12 ms at 1 connection",
            f"{r['service']['p50_ms']:.1f} ms (floor {r['floor']['p50_ms']:.1f} ms)" if r else "not run",
            r["service"]["p50_ms"] <= 12 if r else None,
        )
    )
    sc = (micro or {}).get("scaling")
    slopes = list((sc or {}).get("slope_us", {}).values())
    if len(slopes) >= 2 and slopes[0] > 0:
        growth = slopes[-1] / slopes[0]
        out.append(
            (
                "cost per extra resource flat (+-25%) from 100 to 10,000 resources",
                f"{slopes[0]:.1f} us (100-1,000) -> {slopes[-1]:.1f} us (1,000-10,000): x {growth:.2f}",
                0.75 <= growth <= 1.25,
            )
        )
    else:
        out.append(("cost per extra resource flat (+-25%) from 100 to 10,000 resources", "not run", None))
    b8 = rows.get(("b", 8))
    jwt_names = [k for k in (b8 or {}) if k.startswith("jwt-") and k != SAME_CLIENT]
    off = (b8 or {}).get(SAME_CLIENT)
    for name in jwt_names or ["jwt"]:
        j = (b8 or {}).get(name)
        share = j["rps"] / off["rps"] if j and off and off["rps"] else None
        alg = name.split("-", 1)[1] if "-" in name else ""
        out.append(
            (
                f"JWT on{f' ({alg})' if alg else ''} >= 0.9 x JWT off, relevant order at 8 connections "
                "(both loaded by the same token-sending client)",
                f"{share:.2f} x ({j['rps']:.0f} / {off['rps']:.0f} req/s; "
                f"{j['rps'] / b8['service']['rps']:.2f} x the static-body client's JWT off)"
                if share is not None and j and off and b8
                else "not run",
                share >= 0.9 if share is not None else None,
            )
        )
    fb = (micro or {}).get("fallback")
    out.append(
        (
            "FHIR fallback in one round trip: 5 keys missing at 50 ms each <= 70 ms",
            f"{fb['total_ms']:.1f} ms ({fb['queries_per_call']} queries)" if fb else "not run",
            fb["total_ms"] <= 70 if fb else None,
        )
    )
    out.append(
        (
            "worker RSS growth <= 10% over 100,000 requests of kind b (issue 5)",
            f"{memory['growth_pct']:+.1f}% over {memory['requests']} requests"
            if memory
            else "not run (benchmarks/run.py --memory)",
            memory["growth_pct"] <= 10 if memory else None,
        )
    )
    return out


# ------------------------------------------------------------------------------------------ memory
def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def memory_run(args: argparse.Namespace, wrk: str, workdir: Path) -> dict[str, Any]:
    """One worker (so every request lands in it) under kind b until `args.memory_requests` are served."""
    script = lua_script(workdir, "b")
    with gunicorn("service", "spasticity_cds.wsgi:app", service_env(workdir, 1), workdir) as service:
        check_service(service.base, ["b"])
        url = f"{service.base}/cds-services/{KINDS['b'][1]}"
        warm = run_wrk(wrk, url, script, 8, 5)  # past start-up caches, lazy imports, pools
        (pid,) = service.worker_pids()
        before = rss_kib(pid)
        served, samples = 0, [(0, before)]
        started = time.monotonic()
        while served < args.memory_requests:
            result = run_wrk(wrk, url, script, 8, 10)
            if result.errors or result.non2xx:
                raise RuntimeError(f"memory run: {result}")
            served += result.requests
            samples.append((served, rss_kib(pid)))
            print(f"  {served:>7} requests, worker RSS {samples[-1][1] / 1024:.1f} MiB", flush=True)
        if service.worker_pids() != [pid]:
            raise RuntimeError("the worker was replaced during the run: RSS growth is meaningless")
        after = rss_kib(pid)
    return {
        "requests": served,
        "warmup_requests": warm.requests,
        "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024,
        "growth_pct": (after - before) / before * 100,
        "seconds": time.monotonic() - started,
        "samples": samples,
    }


# ------------------------------------------------------------------------------------------ report
def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "service", "cards", "schemas"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "commit": commit + (" (+ uncommitted changes in service/)" if dirty else ""),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", default="abcd")
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=None, help="CDS_WORKERS (default: production's)")
    parser.add_argument("--micro-iterations", type=int, default=1000)
    parser.add_argument("--no-micro", action="store_true")
    parser.add_argument("--no-jwt", dest="jwt", action="store_false", help="skip the JWT-on service")
    parser.add_argument("--jwt-connections", default="8", help="connection counts of the JWT comparison")
    parser.add_argument("--jwt-algorithms", default="RS384,ES384", help="client signing algorithms")
    parser.add_argument(
        "--granian", action="store_true", help="also serve the service with granian (same workers, threads)"
    )
    parser.add_argument("--no-scaling", dest="scaling", action="store_false", help="skip 100..10,000")
    parser.add_argument("--quick", action="store_true", help="smoke test: kind a, 1 x 1 s at 1 connection")
    parser.add_argument("--memory", action="store_true", help="only the RSS run (kind b, one worker)")
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--json", metavar="FILE", help="write the raw results as JSON")
    parser.add_argument("--results", metavar="FILE", help="also print the table as markdown, for RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.kinds, args.connections, args.runs, args.duration = "a", "1", 1, 1
        args.micro_iterations, args.workers = 20, args.workers or 1
        args.jwt, args.scaling = False, False

    wrk = ensure_wrk()
    if args.granian and importlib.util.find_spec("granian") is None:
        sys.exit("--granian needs granian in this environment: uv pip install granian")
    info = machine()
    print(
        f"commit {info['commit']} | {info['nproc']} x {info['cpu']} | Python {info['python']} | "
        f"load {info['load']}",
        flush=True,
    )
    result: dict[str, Any] = {"machine": info}
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as tmp:
        workdir = Path(tmp)
        if args.memory:
            print(f"worker RSS over {args.memory_requests} requests of kind b (1 worker, 8 connections)")
            result["memory"] = memory_run(args, wrk, workdir)
            m = result["memory"]
            print(
                f"RSS {m['rss_before_mib']:.1f} MiB -> {m['rss_after_mib']:.1f} MiB "
                f"({m['growth_pct']:+.1f}%) over {m['requests']} requests in {m['seconds']:.0f} s"
            )
        else:
            print(
                f"wrk: {args.runs} run(s) x {args.duration:g} s per kind, connection count and app; "
                "medians\n" + HEADER,
                flush=True,
            )
            result["load"] = load_runs(args, wrk, workdir)
            if not args.no_micro:
                from micro import SCALING_SIZES, format_report, run

                from spasticity_cds.heap import settle_after_start_up

                settle_after_start_up()  # as a gunicorn worker does (service/wsgi.py)
                scaling = SCALING_SIZES if args.scaling else None
                result["micro"] = run(
                    args.micro_iterations, 0 if args.quick else 20, list(args.kinds), scaling
                )
                print("\n" + format_report(result["micro"]))
    print("\nPerformance targets:")
    for name, measured, met in targets(result.get("load"), result.get("micro"), result.get("memory")):
        flag = "-" if met is None else ("PASS" if met else "FAIL")
        print(f"  {flag:<6}{name}: {measured}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.results and "load" in result:
        print(f"\nmarkdown table for {args.results}:\n" + markdown_table(result["load"]["rows"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
