"""In-process cost of JWT authentication per call, stage by stage (issue 15).

    .venv/bin/python benchmarks/micro_jwt.py                    # RS384 and ES384, default iterations
    .venv/bin/python benchmarks/micro_jwt.py --algorithms ES384 --iterations 3000 --json
    .venv/bin/python benchmarks/micro_jwt.py --profile RS384    # pyinstrument profile of verify()

What a JWT-on call adds to a JWT-off one is `JwtVerifier.verify`: the token's header and issuer,
the key of its kid, the signature and claims (PyJWT), the audience, and the claim of its `jti` in
the shared store (one atomic statement on the database). This measures, with a key pair generated
for the run, the real `JwtVerifier` and the real `Store` on a SQLite file (as a worker has them):

- verify:      the whole of `verify()`, median CPU and wall time per call, each with a fresh token;
- stages:      the same work split up (header, issuer, key, signature + claims, audience, jti claim),
               median CPU time of each, so a change can be traced to the stage it pays in;
- claim_jti:   the store's statement alone (CPU and wall: wall includes the SQLite commit).

CPU time (`time.thread_time`) as in micro.py: the machine is shared, wall time counts waiting.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

from spasticity_cds import auth  # noqa: E402
from spasticity_cds.config import Config  # noqa: E402
from spasticity_cds.store import Store  # noqa: E402

ISSUER = "https://ehr.bench.example/fhir"
BASE_URL = "https://cds.bench.example"
ENDPOINT = "/cds-services/spasticity-order-sign"
ALGORITHMS = ("RS384", "ES384")


def _private_key(alg: str) -> Any:
    if alg.startswith("ES"):
        curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
        return ec.generate_private_key(curve)
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(keys: dict[str, Any]) -> dict[str, Any]:
    out = []
    for alg, private in keys.items():
        jwk = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(private.public_key()))
        jwk.update({"kid": f"bench-{alg.lower()}", "alg": alg, "use": "sig"})
        out.append(jwk)
    return {"keys": out}


def _tokens(alg: str, private: Any, n: int) -> Iterator[str]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": BASE_URL + ENDPOINT, "iat": now, "exp": now + 600}
    headers = {"kid": f"bench-{alg.lower()}", "typ": "JWT"}
    for _ in range(n):
        claims["jti"] = str(uuid.uuid4())
        yield jwt.encode(claims, private, algorithm=alg, headers=headers)


def _median_us(fn: Callable[[str], Any], tokens: list[str], clock: Callable[[], float]) -> float:
    times = []
    for token in tokens:
        started = clock()
        fn(token)
        times.append(clock() - started)
    return statistics.median(times) * 1e6


def _stages(verifier: auth.JwtVerifier, store: Store) -> dict[str, Callable[[str], Any]]:
    """`verify()` cut at its seams; each stage repeats the cheap steps before it only where needed."""

    def header(token: str) -> Any:  # the unverified parse and the header checks
        head, _claims = auth._unverified_parts(token)
        auth._check_header(head, verifier.algorithms)
        return head

    def issuer(token: str) -> Any:
        return verifier._issuer_of(auth._unverified_parts(token)[1])

    heads = {}

    def key(token: str) -> Any:
        segment = token.partition(".")[0]  # one algorithm's tokens share their header segment
        if segment not in heads:
            heads[segment] = auth._unverified_parts(token)[0]
        head = heads[segment]
        return auth._key_for_algorithm(verifier.issuers[ISSUER].keys.signing_key(head["kid"]), head["alg"])

    prepared: dict[str, Any] = {}

    def signature_and_claims(token: str) -> Any:
        head = heads.get(token.partition(".")[0]) or auth._unverified_parts(token)[0]
        if head["alg"] not in prepared:
            prepared[head["alg"]] = key(token)
        return verifier._decode(token, prepared[head["alg"]], head, ISSUER)

    def audience(_token: str) -> Any:
        return verifier._check_audience(BASE_URL + ENDPOINT, ENDPOINT)

    expires = datetime.now(UTC) + timedelta(minutes=10)

    def claim(_token: str) -> Any:
        return store.claim_jti(uuid.uuid4().hex, expires)

    return {
        "header": header,
        "issuer": issuer,
        "key": key,
        "signature+claims": signature_and_claims,
        "audience": audience,
        "claim_jti": claim,
    }


def bench(algorithms: list[str], iterations: int, data_dir: str) -> dict[str, Any]:
    keys = {alg: _private_key(alg) for alg in algorithms}
    jwks = Path(data_dir) / "bench-jwks.json"
    jwks.write_text(json.dumps(_jwks(keys)), encoding="utf-8")
    config = Config(
        auth="jwt",
        trusted_issuers={ISSUER: str(jwks)},
        base_url=BASE_URL,
        jwt_algorithms=tuple(algorithms),
        data_dir=data_dir,
    )
    verifier = auth.JwtVerifier(config)
    store = Store(f"sqlite:///{data_dir}/bench.sqlite3")
    results: dict[str, Any] = {"iterations": iterations, "algorithms": {}}
    try:
        for alg, private in keys.items():
            warm = list(_tokens(alg, private, 50))
            for token in warm:
                verifier.verify(f"Bearer {token}", path=ENDPOINT, store=store)
            row: dict[str, Any] = {}
            for name, clock in (("cpu", time.thread_time), ("wall", time.perf_counter)):
                tokens = [f"Bearer {t}" for t in _tokens(alg, private, iterations)]
                row[f"verify_{name}_us"] = _median_us(
                    lambda t: verifier.verify(t, path=ENDPOINT, store=store), tokens, clock
                )
            row["stages_cpu_us"] = {}
            tokens = list(_tokens(alg, private, iterations))
            if hasattr(auth, "_unverified_parts"):  # the stages of this version of verify()
                for name, fn in _stages(verifier, store).items():
                    row["stages_cpu_us"][name] = _median_us(fn, tokens, time.thread_time)
            claim = _stages(verifier, store)["claim_jti"]
            row["claim_jti_cpu_us"] = _median_us(claim, tokens, time.thread_time)
            row["claim_jti_wall_us"] = _median_us(claim, tokens, time.perf_counter)
            results["algorithms"][alg] = row
    finally:
        store.close()
    return results


def profile(alg: str, iterations: int, data_dir: str) -> str:
    from pyinstrument import Profiler

    private = _private_key(alg)
    jwks = Path(data_dir) / "bench-jwks.json"
    jwks.write_text(json.dumps(_jwks({alg: private})), encoding="utf-8")
    config = Config(
        auth="jwt",
        trusted_issuers={ISSUER: str(jwks)},
        base_url=BASE_URL,
        jwt_algorithms=(alg,),
        data_dir=data_dir,
    )
    verifier = auth.JwtVerifier(config)
    store = Store(f"sqlite:///{data_dir}/bench.sqlite3")
    tokens = [f"Bearer {t}" for t in _tokens(alg, private, iterations)]
    verifier.verify(tokens.pop(), path=ENDPOINT, store=store)
    profiler = Profiler(interval=0.00005)
    try:
        with profiler:
            for token in tokens:
                verifier.verify(token, path=ENDPOINT, store=store)
    finally:
        store.close()
    return str(profiler.output_text(unicode=False, color=False, show_all=False))


def format_report(result: dict[str, Any]) -> str:
    lines = [f"JWT verify, in-process (median µs per call, {result['iterations']} fresh tokens)"]
    for alg, row in result["algorithms"].items():
        stages = ", ".join(f"{k} {v:.1f}" for k, v in row["stages_cpu_us"].items())
        lines.append(
            f"{alg}: verify {row['verify_cpu_us']:.1f} CPU / {row['verify_wall_us']:.1f} wall; "
            f"stages (CPU) {stages or '-'}; claim_jti {row['claim_jti_cpu_us']:.1f} CPU / "
            f"{row['claim_jti_wall_us']:.1f} wall"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--profile", metavar="ALG", help="pyinstrument profile of verify() with this algorithm"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cds-micro-jwt-") as data_dir:
        if args.profile:
            print(profile(args.profile, args.iterations, data_dir))
            return 0
        result = bench([a for a in args.algorithms.split(",") if a], args.iterations, data_dir)
    print(json.dumps(result, indent=1) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
