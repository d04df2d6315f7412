"""Two replicas on one machine, for real: nginx -> two gunicorn instances -> one PostgreSQL.

This is the compose / Kubernetes topology shrunk onto loopback: a real PostgreSQL server, two
gunicorn instances of `spasticity_cds.wsgi:app` (two workers each) on different ports sharing it, and the
Debian nginx balancing round-robin between them. JWT auth is on (CDS_AUTH=jwt, a local JWKS file),
with CDS_BASE_URL the nginx address, so every token's `aud` is the URL the client called.

What it shows:

1. hook calls and feedback sent alternately through nginx are served by both replicas — nginx's
   access log records `$upstream_addr` per request id, and each replica's own gunicorn access log
   lists exactly the request ids nginx says it sent there;
2. feedback posted through one replica for cards the *other* replica issued is attributed to the
   card's rule (the report read after each post counts it as soon as the issuing replica's
   background writer has recorded the card, milliseconds later), in both directions, and the
   final `spasticity-cds report --json`, run with the other replica's settings, counts everything;
3. a token (`jti`) accepted by one replica is refused by the other, directly and through nginx,
   while a fresh token is accepted by both: the seen-jti store is the shared database.

Skipped with a clear message only when PostgreSQL or nginx is not installed (`.ci/run` installs
both). Figures are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from spasticity_cds.store import Store
from tests.support.gunicorn import REPO_ROOT, GunicornServer, start_gunicorn
from tests.support.jwks_server import public_jwk
from tests.support.nginx import NginxServer, running_nginx
from tests.support.postgres import free_port, running_postgres
from tests.support.require import require_server

ISSUER = "https://ehr.replicas.example.org"
KID = "replicas-es384"
HOOK_REQUEST = REPO_ROOT / "docs" / "examples" / "order-sign-diazepam-als.json"
ROUNDS = 6  # hook calls; each issues two cards and is followed by one feedback post per card
WORKERS = 2  # per replica
ACCESS_FORMAT = "%({x-request-id}i)s %(m)s %(U)s %(s)s %(p)s"


class Client:
    """An EHR: signs one fresh ES384 token per call (unique jti) with `aud` = the URL called."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, base_url: str) -> None:
        self.key = key
        self.base_url = base_url  # what the replicas have as CDS_BASE_URL: the nginx address
        self.session = requests.Session()

    def token(self, path: str) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": self.base_url + path, "iat": now, "exp": now + 300,
                  "jti": str(uuid.uuid4())}  # fmt: skip
        return jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})

    def call(
        self, method: str, path: str, *, to: str | None = None, token: str | None = None, body: Any = None
    ) -> tuple[str, requests.Response]:
        """Send one request (to nginx unless `to` names a replica); returns its request id and answer."""
        request_id = f"rq-{uuid.uuid4()}"
        headers = {"Authorization": f"Bearer {token or self.token(path)}", "X-Request-ID": request_id}
        response = self.session.request(method, (to or self.base_url) + path, json=body, headers=headers,
                                         timeout=30)  # fmt: skip
        return request_id, response


def hook_body() -> dict[str, Any]:
    body = copy.deepcopy(json.loads(HOOK_REQUEST.read_text()))
    body["hookInstance"] = str(uuid.uuid4())
    return body


def feedback_for(card: dict[str, Any]) -> dict[str, Any]:
    """Benzodiazepine warnings are accepted (their suggestion taken), the others overridden."""
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if card["source"]["topic"]["code"] == "benzodiazepine-spasticity":
        item = {"card": card["uuid"], "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}  # fmt: skip
    else:
        reason = card["overrideReasons"][0]
        coding = {"system": reason["system"], "code": reason["code"]}
        item = {"card": card["uuid"], "outcome": "overridden", "overrideReason": {"reason": coding}}
    return {"feedback": [{**item, "outcomeTimestamp": at}]}


def rule_counts(store: Store) -> dict[str, tuple[int, int, int]]:
    return {
        rule: (c["issued"], c["accepted"], c["overridden"]) for rule, c in store.report()["rules"].items()
    }


def eventually(
    read: Callable[[], dict[str, Any]], wanted: Iterable[str], timeout: float = 5.0
) -> dict[str, Any]:
    """`read()` once it has every key in `wanted`: a server logs a request just after answering it."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if set(wanted) <= set(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def served_by(proxy: NginxServer, replicas: dict[str, GunicornServer], *wanted: str) -> dict[str, str]:
    """request id -> replica name, from nginx's access log ($upstream_addr, no retries allowed)."""
    names = {f"127.0.0.1:{server.port}": name for name, server in replicas.items()}

    def read() -> dict[str, str]:
        routed: dict[str, str] = {}
        for entry in proxy.access_entries():
            assert entry["upstream"] in names, f"request not served by exactly one replica: {entry}"
            routed[entry["request_id"]] = names[entry["upstream"]]
        return routed

    return eventually(read, wanted)


def gunicorn_access(path: Path, *wanted: str) -> dict[str, tuple[str, str, int]]:
    """request id -> (path, status, worker pid) from one replica's gunicorn access log (our requests)."""

    def read() -> dict[str, tuple[str, str, int]]:
        seen = {}
        for line in path.read_text().splitlines():
            request_id, _method, url_path, status, pid = line.split()
            if request_id.startswith("rq-"):  # not the readiness probe
                seen[request_id] = (url_path, status, int(pid.strip("<>")))
        return seen

    return eventually(read, wanted)


def report_cli(database_url: str, data_dir: Path) -> dict[str, Any]:
    """`spasticity-cds report --json` as a separate process with a replica's database settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(CDS_DATABASE_URL=database_url, CDS_DATA_DIR=str(data_dir),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])))  # fmt: skip
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-m", "spasticity_cds.cli", "report", "--json"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[tuple[str, dict[str, GunicornServer], NginxServer, Client]]:
    """PostgreSQL, replicas A and B behind nginx, and a client whose key the replicas trust."""
    require_server("nginx")
    key = ec.generate_private_key(ec.SECP384R1())
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(key, KID, alg="ES384", use="sig")]}))
    with ExitStack() as stack:
        started = time.monotonic()
        postgres = stack.enter_context(running_postgres())
        database_url = postgres.create_database("replicas")
        Store(database_url).close()  # the schema, made once before two replicas race to make it
        # nginx's port must be known before the replicas start (it is their CDS_BASE_URL), and the
        # replicas' ports before nginx starts: reserve nginx's first, point it at them afterwards.
        nginx_port = free_port()
        base_url = f"http://127.0.0.1:{nginx_port}"
        env = {
            "CDS_DATABASE_URL": database_url,
            "CDS_AUTH": "jwt",
            "CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: str(jwks)}),
            "CDS_BASE_URL": base_url,
        }

        def replica(name: str) -> GunicornServer:
            access = ("--access-logfile", str(tmp_path / f"access-{name}.log"),
                      "--access-logformat", ACCESS_FORMAT)  # fmt: skip
            own_env = {**env, "CDS_DATA_DIR": str(tmp_path / f"data-{name}")}
            return start_gunicorn(workers=WORKERS, env=own_env, ready_path="/ready", extra_args=access)

        # Both at once (a replica takes seconds to load its knowledge); each is stopped at the end,
        # including when the other failed to start.
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {name: pool.submit(replica, name) for name in ("A", "B")}
        for future in futures.values():
            if future.exception() is None:
                stack.callback(future.result().stop)
        replicas = {name: future.result() for name, future in futures.items()}
        proxy = stack.enter_context(running_nginx([s.port for s in replicas.values()], port=nginx_port))
        print(f"\n[replicas] PostgreSQL, 2 x gunicorn ({WORKERS} workers), nginx up in "
              f"{time.monotonic() - started:.1f} s")  # fmt: skip
        client = Client(key, proxy.url)
        try:
            yield database_url, replicas, proxy, client
        finally:
            client.session.close()
            for name, server in replicas.items():  # kept for the failure report of a broken run
                (tmp_path / f"gunicorn-{name}.log").write_text(server.log_text())


@pytest.mark.slow
def test_two_replicas_behind_nginx_share_feedback_and_seen_jtis(
    topology: tuple[str, dict[str, GunicornServer], NginxServer, Client], tmp_path: Path
) -> None:
    database_url, replicas, proxy, client = topology
    started = time.monotonic()
    _, discovery = client.call("GET", "/cds-services")
    assert discovery.status_code == 200, discovery.text
    service_id = next(s["id"] for s in discovery.json()["services"] if s["hook"] == "order-sign")
    service_path = f"/cds-services/{service_id}"
    feedback_path = f"{service_path}/feedback"

    # -- 1. hook calls and feedback alternately through nginx --------------------------------------
    issued_via: dict[str, str] = {}  # card uuid -> request id of the hook call that issued it
    posted: list[tuple[str, str, str]] = []  # (feedback request id, card uuid, rule id)
    cross: list[tuple[str, str, str]] = []  # (card uuid, issuing replica, replica the feedback went to)
    with Store(database_url) as store:
        for _ in range(ROUNDS):
            hook_id, answer = client.call("POST", service_path, body=hook_body())
            assert answer.status_code == 200, answer.text
            cards = answer.json()["cards"]
            assert len(cards) == 2, cards
            for card in cards:
                issued_via[card["uuid"]] = hook_id
            for card in cards:
                rule = card["source"]["topic"]["code"]
                before = rule_counts(store).get(rule, (0, 0, 0))
                fb_id, answer = client.call("POST", feedback_path, body=feedback_for(card))
                assert answer.status_code == 200, answer.text
                posted.append((fb_id, card["uuid"], rule))
                routed = served_by(proxy, replicas, hook_id, fb_id)
                cross.append((card["uuid"], routed[hook_id], routed[fb_id]))
                # Read back from the database every replica shares: counted for its rule as soon as
                # the issuing replica's background writer has recorded the card (milliseconds).
                deadline = time.monotonic() + 5
                while True:
                    after = rule_counts(store).get(rule, (0, 0, 0))
                    grew = (after[1] - before[1], after[2] - before[2])
                    if grew != (0, 0) or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                assert grew in {(1, 0), (0, 1)}, (
                    f"feedback posted through replica {routed[fb_id]} on a {rule} card issued by "
                    f"replica {routed[hook_id]} is not in the report: {before} -> {after}"
                )
    through_nginx = time.monotonic() - started

    # -- both replicas served: nginx's $upstream_addr, confirmed by each replica's own access log ---
    routed = served_by(proxy, replicas)
    per_replica = {name: sorted(rid for rid, who in routed.items() if who == name) for name in replicas}
    assert all(per_replica.values()), f"one replica served nothing: {per_replica}"
    pids = {}
    for name in replicas:
        own = gunicorn_access(tmp_path / f"access-{name}.log", *per_replica[name])
        assert sorted(own) == per_replica[name], f"replica {name}'s log disagrees with nginx's"
        pids[name] = {pid for _p, _s, pid in own.values()}
    assert not pids["A"] & pids["B"]  # two separate sets of processes, not one server twice

    # -- feedback through one replica for cards the other issued, both ways ------------------------
    directions = {(issuer, poster) for _card, issuer, poster in cross if issuer != poster}
    assert directions == {("A", "B"), ("B", "A")}, f"cross-replica feedback not seen both ways: {cross}"

    # -- the report, read as a separate process with replica B's settings, counts everything -------
    report = report_cli(database_url, tmp_path / "data-B")
    assert report["unattributed_feedback"] == 0
    rules = report["rules"]
    assert set(rules) == {"benzodiazepine-spasticity", "cns-depressant-combination"}
    assert (rules["benzodiazepine-spasticity"]["issued"], rules["benzodiazepine-spasticity"]["accepted"]) == (
        ROUNDS,
        ROUNDS,
    )
    assert rules["benzodiazepine-spasticity"]["acceptance_rate"] == 1.0
    cns = rules["cns-depressant-combination"]
    assert (cns["issued"], cns["accepted"], cns["overridden"]) == (ROUNDS, 0, ROUNDS)
    assert [r["count"] for r in cns["top_override_reasons"]] == [ROUNDS]
    with Store(database_url) as store:
        rows = {row["card_uuid"]: row for row in store.feedback_items()}
    assert set(rows) == set(issued_via)
    # The rule is stored with the feedback when the card was already recorded; a card whose
    # issuing replica had not yet written it is attributed by the report's join (counted above).
    assert all(rows[card]["rule_id"] in (rule, None) for _fb, card, rule in posted)

    # -- 3. a jti used on one replica is refused by the other ---------------------------------------
    replayed = 0
    for first, second in (("A", "B"), ("B", "A")):
        token = client.token(service_path)
        _, answer = client.call("POST", service_path, to=replicas[first].url, token=token, body=hook_body())
        assert answer.status_code == 200, f"replica {first} refused a fresh token: {answer.text}"
        _, answer = client.call("POST", service_path, to=replicas[second].url, token=token, body=hook_body())
        assert answer.status_code == 401, f"replica {second} accepted a jti replica {first} had seen"
        assert answer.json()["resourceType"] == "OperationOutcome"
        replayed += 1
        # The refusal is the jti and nothing else: a fresh token is accepted by that same replica.
        _, answer = client.call("POST", service_path, to=replicas[second].url, body=hook_body())
        assert answer.status_code == 200, answer.text

    # Through nginx: round-robin sends the replay to the other replica, which refuses it.
    token = client.token(service_path)
    first_id, first = client.call("POST", service_path, token=token, body=hook_body())
    second_id, second = client.call("POST", service_path, token=token, body=hook_body())
    routed = served_by(proxy, replicas, first_id, second_id)
    assert routed[first_id] != routed[second_id], "nginx sent both calls to one replica"
    assert (first.status_code, second.status_code) == (200, 401), (first.text, second.text)
    replayed += 1
    for server in replicas.values():
        assert "replayed-jti" in server.log_text()  # the logged refusal category (never the token)
    elapsed = time.monotonic() - started

    print(
        f"[replicas] {ROUNDS} hook calls + {len(posted)} feedback posts through nginx "
        f"in {through_nginx:.2f} s; "
        f"served A={len(per_replica['A'])} B={len(per_replica['B'])} requests "
        f"(worker pids A={sorted(pids['A'])} B={sorted(pids['B'])}); "
        f"cross-replica feedback {sum(i != p for _c, i, p in cross)}/{len(cross)}; "
        f"{replayed} replays refused by the other replica; test body {elapsed:.2f} s"
    )
