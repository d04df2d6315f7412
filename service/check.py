"""`spasticity-cds check URL`: a conformance check of a running instance, for go-live and CI.

It calls the instance the way an EHR does and validates every answer against `schemas/`:

1. discovery (`GET /cds-services`): 200, cds-discovery.schema.json, the three service ids;
2. per rule, a sample request that must fire (a card whose `source.topic.code` is the rule id)
   and one that must stay silent (no such card): 200 and cds-response.schema.json;
3. a bad request (no `context`): 400 with a FHIR OperationOutcome whose diagnostics name `context`;
4. a CORS preflight: 2xx, Allow-Origin, Allow-Methods with POST, Allow-Headers with Authorization;
5. feedback on a card that step 2 received: 200.

The samples ship inside the package (`service/check_samples/samples.json`, built from the golden
cases by `python -m tests.contracts.check_samples --update`): they are the checker's data, not
knowledge (`cards/` is validated at start-up) nor schemas, and inside `service/` they are in every
wheel with no extra packaging. Each carries full prefetch and no `fhirServer`, so the instance
needs no FHIR server and nothing it answers depends on patient data it would fetch.

Authentication: `--token-file F` sends `Authorization: Bearer <contents of F>` on every call (for
a static token, e.g. a gateway's). With `CDS_AUTH=jwt` every call needs a fresh JWT (its `jti` is
single-use and `aud` is the URL called): use `--token-command CMD`, run once per call with the
URL called as its last argument, whose standard output is the token.

Exit status: 0 when every check passes, 1 when any fails, 2 on a usage error.
"""

from __future__ import annotations

import functools
import json
import shlex
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import requests

from .validation import validator

SAMPLES = Path(__file__).resolve().parent / "check_samples" / "samples.json"
SERVICES = ("spasticity-order-select", "spasticity-order-sign", "spasticity-medication-prescribe")
ORIGIN = "https://ehr.example.org"
TIMEOUT = 10.0


@dataclass
class Result:
    name: str
    ok: bool
    detail: str = ""


class Checker:
    """Runs the checks against `base_url` (without `/cds-services`) and collects `Result`s."""

    def __init__(
        self,
        base_url: str,
        *,
        token: Callable[[str], str | None] = lambda url: None,
        session: requests.Session | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.base = base_url.rstrip("/")
        if self.base.endswith("/cds-services"):
            self.base = self.base[: -len("/cds-services")]
        self.token = token
        self.session = session or requests.Session()
        self.timeout = timeout
        self.results: list[Result] = []
        self.fired: list[tuple[str, dict[str, Any]]] = []  # (service id, card) for feedback

    # -- plumbing ----------------------------------------------------------------------------------

    def _headers(self, url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", **(extra or {})}
        token = self.token(url)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _call(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        url = self.base + path
        if method == "OPTIONS":  # a browser preflight carries no credentials
            return self.session.options(url, headers=dict(headers or {}), timeout=self.timeout)
        return self.session.request(
            method, url, json=body, headers=self._headers(url, headers), timeout=self.timeout
        )

    def record(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append(Result(name, ok, detail))
        return ok

    def _json(self, response: requests.Response) -> tuple[Any, str]:
        try:
            return response.json(), ""
        except ValueError:
            return None, f"body is not JSON ({response.headers.get('Content-Type', 'no Content-Type')})"

    @staticmethod
    def _schema_errors(name: str, document: Any) -> str:
        errors = sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
        if not errors:
            return ""
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{name}: {where}: {first.message[:160]}{more}"

    def _guard(self, name: str, step: Callable[[], bool]) -> bool:
        try:
            return step()
        except requests.RequestException as exc:
            return self.record(name, False, f"no answer: {type(exc).__name__}: {str(exc)[:160]}")

    # -- checks --------------------------------------------------------------------------------------

    def run(self, samples: Iterable[Mapping[str, Any]]) -> list[Result]:
        self._guard("discovery", self.check_discovery)
        for sample in samples:
            name = f"{sample['service']}: {sample['rule']} {sample['expect']}"
            self._guard(name, functools.partial(self.check_sample, name, sample))
        self._guard("bad request -> 400 OperationOutcome", self.check_bad_request)
        self._guard("CORS preflight", self.check_preflight)
        self._guard("feedback -> 200", self.check_feedback)
        return self.results

    def check_discovery(self) -> bool:
        response = self._call("GET", "/cds-services")
        if response.status_code != 200:
            return self.record("discovery", False, f"status {response.status_code}, expected 200")
        body, problem = self._json(response)
        problem = problem or self._schema_errors("cds-discovery.schema.json", body)
        if problem:
            return self.record("discovery", False, problem)
        ids = {s.get("id") for s in body["services"]}
        missing = [sid for sid in SERVICES if sid not in ids]
        if missing:
            return self.record("discovery", False, "missing services: " + ", ".join(missing))
        return self.record("discovery", True, f"{len(body['services'])} services")

    def check_sample(self, name: str, sample: Mapping[str, Any]) -> bool:
        response = self._call(
            "POST",
            f"/cds-services/{sample['service']}",
            sample["request"],
            {"Content-Type": "application/json"},
        )
        if response.status_code != 200:
            return self.record(name, False, f"status {response.status_code}, expected 200")
        body, problem = self._json(response)
        problem = problem or self._schema_errors("cds-response.schema.json", body)
        if problem:
            return self.record(name, False, problem)
        rule = sample["rule"]
        cards = [c for c in body["cards"] if c.get("source", {}).get("topic", {}).get("code") == rule]
        if sample["expect"] == "fires":
            if len(cards) != 1:
                got = [c.get("source", {}).get("topic", {}).get("code") for c in body["cards"]]
                return self.record(name, False, f"expected one {rule} card, got {got}")
            self.fired.append((sample["service"], cards[0]))
            return self.record(name, True, f"{cards[0]['indicator']} card")
        if cards:
            return self.record(name, False, f"expected no {rule} card, got {len(cards)}")
        return self.record(name, True, f"silent ({len(body['cards'])} other cards)")

    def check_bad_request(self) -> bool:
        name = "bad request -> 400 OperationOutcome"
        body = {"hook": "order-sign", "hookInstance": "00000000-0000-4000-8000-00000000c4ec"}
        response = self._call(
            "POST", "/cds-services/spasticity-order-sign", body, {"Content-Type": "application/json"}
        )
        if response.status_code != 400:
            return self.record(name, False, f"status {response.status_code}, expected 400")
        outcome, problem = self._json(response)
        if problem:
            return self.record(name, False, problem)
        issues = outcome.get("issue") if isinstance(outcome, dict) else None
        if outcome.get("resourceType") != "OperationOutcome" or not isinstance(issues, list) or not issues:
            return self.record(name, False, "body is not an OperationOutcome with issues")
        diagnostics = str(issues[0].get("diagnostics", ""))
        if "context" not in diagnostics:
            return self.record(name, False, f"diagnostics do not name 'context': {diagnostics[:100]!r}")
        return self.record(name, True, diagnostics[:60])

    def check_preflight(self) -> bool:
        name = "CORS preflight"
        response = self._call(
            "OPTIONS",
            "/cds-services/spasticity-order-sign",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        if not 200 <= response.status_code < 300:
            return self.record(name, False, f"status {response.status_code}, expected 2xx")
        h = response.headers
        problems = []
        if h.get("Access-Control-Allow-Origin") not in {"*", ORIGIN}:
            problems.append(f"Allow-Origin {h.get('Access-Control-Allow-Origin')!r}")
        if "POST" not in h.get("Access-Control-Allow-Methods", "").upper():
            problems.append(f"Allow-Methods {h.get('Access-Control-Allow-Methods')!r} lacks POST")
        allowed = h.get("Access-Control-Allow-Headers", "").lower()
        if "*" not in allowed and not {"authorization", "content-type"} <= {
            part.strip() for part in allowed.split(",")
        }:
            problems.append(f"Allow-Headers {h.get('Access-Control-Allow-Headers')!r}")
        if problems:
            return self.record(name, False, "; ".join(problems))
        return self.record(name, True, "Allow-Origin, Allow-Methods, Allow-Headers")

    def check_feedback(self) -> bool:
        name = "feedback -> 200"
        if not self.fired:
            return self.record(name, False, "no card was received to give feedback on")
        service, card = self.fired[0]
        item: dict[str, Any] = {
            "card": card.get("uuid", ""),
            "outcomeTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        suggestions = [s for s in card.get("suggestions", []) if s.get("uuid")]
        if suggestions:
            item.update(outcome="accepted", acceptedSuggestions=[{"id": suggestions[0]["uuid"]}])
        else:
            item.update(outcome="overridden", overrideReason={"userComment": "spasticity-cds check"})
        body = {"feedback": [item]}
        problem = self._schema_errors("feedback.schema.json", body)
        if problem:
            return self.record(name, False, f"the card cannot be given feedback: {problem}")
        response = self._call(
            "POST", f"/cds-services/{service}/feedback", body, {"Content-Type": "application/json"}
        )
        if response.status_code != 200:
            return self.record(name, False, f"status {response.status_code}, expected 200")
        return self.record(name, True, f"{item['outcome']} on a {card['source']['topic']['code']} card")


# -- entry point ---------------------------------------------------------------------------------------


def load_samples(path: Path = SAMPLES) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8"))["samples"])


def token_source(token_file: str | None, token_command: str | None) -> Callable[[str], str | None]:
    if token_command:
        argv = shlex.split(token_command)

        def from_command(url: str) -> str:
            done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=30, check=True)  # noqa: S603
            return done.stdout.strip()

        return from_command
    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip()
        return lambda url: token
    return lambda url: None


def print_table(results: list[Result], out: TextIO) -> None:
    width = max(len(r.name) for r in results) if results else 10
    out.write(f"{'check':<{width}}  result  detail\n{'-' * width}  ------  ------\n")
    for r in results:
        out.write(f"{r.name:<{width}}  {'PASS' if r.ok else 'FAIL':<6}  {r.detail}\n")
    failed = sum(not r.ok for r in results)
    out.write(f"\n{len(results) - failed} passed, {failed} failed\n")


def run_check(
    url: str, *, token_file: str | None, token_command: str | None, out: TextIO, timeout: float = TIMEOUT
) -> int:
    try:
        token = token_source(token_file, token_command)
    except OSError as exc:
        out.write(f"error: cannot read token file: {exc.strerror}\n")
        return 2
    with requests.Session() as session:
        checker = Checker(url, token=token, session=session, timeout=timeout)
        try:
            results = checker.run(load_samples())
        except subprocess.SubprocessError as exc:
            out.write(f"error: token command failed: {exc}\n")
            return 2
    print_table(results, out)
    return 0 if results and all(r.ok for r in results) else 1
