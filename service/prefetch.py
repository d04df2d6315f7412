"""Facts the rules need: prefetch first, then the EHR's FHIR server, in parallel under one deadline.

CDS Hooks 2.0 lets a client satisfy any subset of the prefetch templates, send `null` for "no data",
send an OperationOutcome (or leave the key out) when its own query failed, and page search results.
The service must cope with all of these, fetch whatever is missing itself with `fhirServer` and the
`fhirAuthorization` token, and answer 412 when a rule's data can be had neither way. This module
does exactly that for the keys the relevant rules need, and nothing else: keys no rule needs are
never fetched, so a hook that fires on every keystroke (order-select) costs no FHIR traffic when its
prefetch is complete.

`FhirFetcher.gather` returns plain resource dicts per key; turning them into records is the job of
`service.fhir`. The HTTP side (bounded reads, redirects, retries, the shared deadline) lives in
`service.fhirclient`.

Error messages and logs name the key and a reason only: never a URL (it holds patient ids), a token
or a response body. A 412 tells the client which key was not fetched, not why (the reason is
logged): "HTTP 404" versus "connection refused" would let a caller probe which hosts answer.

Where the service may call: `CDS_FHIR_SERVERS` (base-URL prefixes) and, with JWT auth, the
verified issuer's own `fhirServers` list (`issuer_fhir_servers`, set per request by `service.auth`)
both bound `fhirServer`; a server outside them is never contacted, and the request goes on as if it
had named none (prefetch only; 412 when a needed key is missing). Redirects never leave the origin
asked for (`service.fhirclient`).

One patient per request: a resource whose `subject` / `patient` reference names a patient other
than `context.patientId` (or another kind of subject, such as a Group) is dropped, from prefetch
and from the FHIR server alike, and counted (`cds_foreign_patient_resources_total`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import quote, unquote, urljoin, urlsplit

from .config import Config
from .errors import BadRequest, PreconditionFailed
from .fhir import resources_of
from .fhirclient import Deadline, FetchError, FhirHttpClient, is_http_url, origin_of
from .metrics import observe_blocked_fhir_server, observe_foreign_patient, observe_optional_missing

log = logging.getLogger(__name__)

FetchCallback = Callable[[str, float], None]
"""on_fetch(outcome, seconds): outcome is "ok", "error" or "timeout"; one call per fetched key."""

_TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_CONTEXT_FIELD = re.compile(r"context\.([A-Za-z_][A-Za-z0-9_]*)")
# CDS Hooks 2.0 user tokens -> the resource type context.userId must have for them to resolve.
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
_ERROR_SEVERITIES = frozenset({"error", "fatal"})
DEFAULT_MAX_WORKERS = 16

# The fhirServer prefixes the verified client's issuer allows for this request (None: no such list).
# Set by service.auth for every request; a ContextVar because request threads are reused.
issuer_fhir_servers: ContextVar[tuple[str, ...] | None] = ContextVar("issuer_fhir_servers", default=None)

_PATIENT_REF = re.compile(r"(?:^|/)Patient/([^/?#]+)")
_OTHER_REF = re.compile(r"^[A-Z][A-Za-z]+/[^/]+")


def _under(base: str, prefix: str) -> bool:
    """Whether URL `base` is `prefix` or below it: same scheme, host and port, path on a boundary."""
    if not is_http_url(prefix):
        return False
    if origin_of(base) != origin_of(prefix):
        return False
    parts = urlsplit(base)
    if parts.username is not None or parts.password is not None:
        return False
    path = unquote(parts.path).rstrip("/") + "/"
    wanted = unquote(urlsplit(prefix).path).rstrip("/") + "/"
    return path.startswith(wanted)


def fhir_server_allowed(base: str, configured: tuple[str, ...], issuer: tuple[str, ...] | None) -> bool:
    """`base` is allowed by every list that is set: `CDS_FHIR_SERVERS` (empty: not set) and the
    issuer's `fhirServers` (None: not set; an empty list allows nothing). No list at all: any."""
    if configured and not any(_under(base, prefix) for prefix in configured):
        return False
    return issuer is None or any(_under(base, prefix) for prefix in issuer)


def _foreign(resource: Mapping[str, Any], patient_id: str, own: str | None = None) -> bool:
    """Whether `resource` is about another patient than `patient_id` (a Patient with another id,
    or a subject / patient reference to another Patient or to a non-Patient subject).

    `own` is `_own_reference(patient_id)`: a reference written exactly so needs no parsing (on a
    long record nearly every resource points at its patient that way)."""
    if resource.get("resourceType") == "Patient":
        ident = resource.get("id")
        return isinstance(ident, str) and ident != patient_id
    for key in ("subject", "patient"):
        ref = resource.get(key)
        reference = ref.get("reference") if isinstance(ref, Mapping) else None
        if own is not None and reference == own:
            return False
        if not isinstance(reference, str) or not reference.strip():
            continue
        reference = reference.strip()
        found = _PATIENT_REF.search(reference)
        if found:
            return unquote(found.group(1)) != patient_id
        if _OTHER_REF.match(reference):
            return True  # e.g. Group/...: not this one patient
    return False


def _own_reference(patient_id: str) -> str | None:
    """ "Patient/<patient_id>" when that exact text can only mean this patient (`_foreign` would
    read it so: no character the reference pattern stops at or unquotes, no outer spaces)."""
    if patient_id != patient_id.strip() or any(c in patient_id for c in "/?#%"):
        return None
    return f"Patient/{patient_id}"


def _own_resources(resources: list[dict[str, Any]], patient_id: str) -> list[dict[str, Any]]:
    """The resources not `_foreign` to `patient_id`, in order.

    The usual resource (not a Patient, `subject` written exactly "Patient/<patientId>") is kept
    without a call: `_foreign` would say the same after reading that first reference."""
    own = _own_reference(patient_id)
    if own is None:
        return [r for r in resources if not _foreign(r, patient_id)]
    kept: list[dict[str, Any]] = []
    for resource in resources:
        subject = resource.get("subject")
        if (
            type(subject) is dict
            and subject.get("reference") == own
            and resource.get("resourceType") != "Patient"
        ) or not _foreign(resource, patient_id, own):
            kept.append(resource)
    return kept


class UnresolvableToken(ValueError):
    """A `{{...}}` token the request's context cannot fill; the template cannot be run."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """Fill the CDS Hooks 2.0 prefetch tokens of `template` from a hook context, URL-encoded.

    Only root-level primitive context fields (`{{context.patientId}}`) and the four `user*Id` tokens
    derived from `context.userId` exist in 2.0; anything else (`{{context.medication.id}}`, FHIRPath
    from the 3.0 ballot) raises `UnresolvableToken`, like a field the hook did not send.
    """

    def substitute(match: re.Match[str]) -> str:
        value = _token_value(match.group(1), context)
        if value is None:
            raise UnresolvableToken(match.group(1))
        return quote(value, safe="")

    return _TOKEN.sub(substitute, template)


def _token_value(token: str, context: Mapping[str, Any]) -> str | None:
    field_match = _CONTEXT_FIELD.fullmatch(token)
    if field_match:
        return _primitive(context.get(field_match.group(1)))
    wanted_type = _USER_TOKENS.get(token)
    if wanted_type is not None:
        user = context.get("userId")
        if isinstance(user, str):
            parts = [p for p in user.strip().split("/") if p]
            if len(parts) >= 2 and parts[-2] == wanted_type:
                return parts[-1]
    return None


def _primitive(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


@dataclass(frozen=True)
class _Given:
    """What a client put under a prefetch key: its resources and, if paged, the next page."""

    resources: list[dict[str, Any]]
    next_url: str | None = None


def _is_resource(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and isinstance(value.get("resourceType"), str)


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url.strip():
                return url.strip()
    return None


def interpret_given(value: Any) -> _Given | None:
    """A prefetch value -> its resources (and next page), or None when it means "not given".

    `service.fhir.resources_of` does the reading (lenient about wrappers): `null` is "no data"; an
    OperationOutcome, or a Bundle of nothing but OperationOutcomes, reports the client's own failure
    and must be fetched; a Bundle gives its entries' resources. A paged searchset also yields the
    URL of its next page. Raises ValueError for a value that is not FHIR at all.
    """
    resources = resources_of(value)  # the usual searchset in one loop (fhir/bundles.py)
    if resources is None:
        return None
    next_url = (
        _next_link(value) if isinstance(value, dict) and value.get("resourceType") == "Bundle" else None
    )
    return _Given(resources, next_url)


def _searchset_page(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Resources and next link of one fetched search page; `FetchError` when it is not one."""
    if body.get("resourceType") != "Bundle":
        raise FetchError(f"expected a Bundle, got {_type_name(body)}")
    if body.get("type", "searchset") != "searchset":
        raise FetchError("expected a searchset Bundle")
    entries = body.get("entry", [])
    if not isinstance(entries, list):
        raise FetchError("Bundle.entry is not a list")
    resources: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not _is_resource(resource):
            raise FetchError(f"searchset entry {index} is not a resource")
        if resource["resourceType"] == "OperationOutcome":
            # search.mode "outcome": warnings are fine, an error means the search did not run.
            if _outcome_is_error(resource):
                raise FetchError("search returned an error OperationOutcome")
            continue
        resources.append(resource)
    return resources, _next_link(body)


def _outcome_is_error(outcome: Mapping[str, Any]) -> bool:
    issues = outcome.get("issue")
    if not isinstance(issues, list):
        return True
    return any(isinstance(i, dict) and i.get("severity") in _ERROR_SEVERITIES for i in issues)


def _type_name(body: Mapping[str, Any]) -> str:
    name = body.get("resourceType")
    return name if isinstance(name, str) and name.isalnum() and len(name) <= 64 else "no resource"


def _read_type(path: str) -> str | None:
    """`Patient/123` -> "Patient" (a read returns that resource); None for searches and operations."""
    if "?" in path:
        return None
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0][:1].isupper() and parts[0].isalnum() and not parts[1].startswith("$"):
        return parts[0]
    return None


@dataclass
class _Job:
    """One key to fetch: a query from its template, or the remaining pages of a given Bundle."""

    key: str
    url: str
    read_type: str | None = None  # set for an instance read; a search otherwise
    resources: list[dict[str, Any]] = field(default_factory=list)  # already given (paged prefetch)
    is_next_page: bool = False


@dataclass(frozen=True)
class _Server:
    base: str
    origin: tuple[str, str, int | None]
    token: str | None


class FhirFetcher:
    """Gathers the resources the relevant rules need for one hook request; shared by all requests.

    Thread-safe: the pool, the session and the callback are shared, everything about one request
    (its deadline, its cancellation) lives in `gather`'s frame.
    """

    def __init__(
        self,
        config: Config,
        *,
        on_fetch: FetchCallback | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_redirects: int = 3,
    ) -> None:
        """`max_workers` bounds the parallel FHIR queries of this worker process; size it for the
        number of prefetch templates times the requests served at once."""
        self.config = config
        self._on_fetch = on_fetch
        self._client = FhirHttpClient(
            max_response_bytes=config.fhir_max_response_bytes,
            max_redirects=max_redirects,
            pool_size=max_workers,
        )
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fhir-fetch")
        self._closed = False
        self._close_lock = threading.Lock()

    def gather(
        self,
        *,
        templates: Mapping[str, str],
        needed: Collection[str],
        request: Mapping[str, Any],
        optional: Collection[str] = (),
    ) -> dict[str, list[dict[str, Any]]]:
        """For each key in `needed`: the prefetched resources if given, else fetched from
        request["fhirServer"] (bearer token from request["fhirAuthorization"]), all keys in parallel,
        under one deadline of config.fhir_timeout seconds. Raises `PreconditionFailed` (412) naming
        the key when it can be neither — except for the keys in `optional`, which are then left out
        (logged and counted): a 412 silences every card of the order, and the rules reading optional
        data can judge without it."""
        deadline = Deadline.after(self.config.fhir_timeout)
        context = request.get("context")
        context = context if isinstance(context, Mapping) else {}
        prefetch = request.get("prefetch")
        prefetch = prefetch if isinstance(prefetch, Mapping) else {}

        result: dict[str, list[dict[str, Any]]] = {}
        jobs: list[_Job] = []
        server: _Server | None = None
        for key in sorted(set(needed)):
            given = _given(prefetch, key)
            if given is not None and given.next_url is None:
                result[key] = given.resources
                continue
            try:
                server = server or self._server(request, key, paged=given is not None)
            except PreconditionFailed:
                if key not in optional:
                    raise
                self._without(key, "not given and no FHIR server to fetch it from")
                continue
            if server is None:  # paged prefetch and nowhere to get the rest: use what was given
                assert given is not None
                log.warning("prefetch key %s is paged but the request has no fhirServer", key)
                result[key] = given.resources
                continue
            jobs.append(self._job(key, given, templates, context, server))
        fetched: set[str] = set()
        if jobs:
            assert server is not None
            result.update(self._run(jobs, server, deadline, frozenset(optional)))
            fetched = {job.key for job in jobs}
        patient_id = context.get("patientId")
        if isinstance(patient_id, str) and patient_id:
            for key, resources in result.items():
                kept = _own_resources(resources, patient_id)
                if len(kept) != len(resources):
                    origin = "fhir-server" if key in fetched else "prefetch"
                    observe_foreign_patient(origin, len(resources) - len(kept))
                    log.warning(
                        "prefetch key %s: %d resource(s) of another patient ignored",
                        key,
                        len(resources) - len(kept),
                    )
                    result[key] = kept
        return result

    @staticmethod
    def _without(key: str, reason: str) -> None:
        """An optional key the request goes on without (its rules judge without that data)."""
        observe_optional_missing(key)
        log.warning("optional prefetch key %s left out: %s", key, reason)

    def fetch_by_ids(
        self, resource_type: str, ids: Collection[str], *, request: Mapping[str, Any], seconds: float
    ) -> list[dict[str, Any]]:
        """The resources `resource_type/<id>` for `ids`, in ONE search (`Type?_id=a,b,c`) on
        request["fhirServer"], within `seconds` (what is left of the request's deadline).

        Used for the Medications that active orders point at but that neither the prefetch nor its
        `_include` carried. Best effort by design: no server, no time left or a failed search gives
        [] (those orders then stay unrecognised, as they would without the fallback) and is logged
        by type and reason only.
        """
        wanted = sorted({i for i in ids if i and re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", i)})
        base = request.get("fhirServer")
        if not wanted or seconds <= 0 or not isinstance(base, str) or not is_http_url(base):
            return []
        try:
            token = _bearer_token(request)
        except PreconditionFailed:
            return []
        server = _Server(base.rstrip("/") + "/", origin_of(base), token)
        url = f"{server.base}{resource_type}?_id={quote(','.join(wanted), safe=',')}&_count={len(wanted)}"
        job = _Job(f"{resource_type}-by-id", url)
        started = time.monotonic()
        try:
            resources = self._pages(job, server, Deadline.after(seconds), threading.Event())
        except FetchError as exc:
            log.warning("%s by id: not fetched (%s)", resource_type, exc.outcome)
            self._report(exc.outcome, time.monotonic() - started)
            return []
        self._report("ok", time.monotonic() - started)
        return [r for r in resources if r.get("resourceType") == resource_type and r.get("id") in wanted]

    def _server(self, request: Mapping[str, Any], key: str, *, paged: bool) -> _Server | None:
        base = request.get("fhirServer")
        if (
            base is not None
            and is_http_url(base)
            and not fhir_server_allowed(base, tuple(self.config.fhir_servers), issuer_fhir_servers.get())
        ):
            # Never contacted: the request goes on as if it had named no server.
            observe_blocked_fhir_server()
            log.warning("fhirServer outside the allowlist: not contacted")
            base = None
        if base is None and paged:
            return None
        if base is None:
            raise PreconditionFailed(
                f"prefetch key '{key}' was not given and the request has no fhirServer to fetch it from",
                field=f"prefetch.{key}",
            )
        if not is_http_url(base):
            raise PreconditionFailed("fhirServer is not an http(s) URL", field="fhirServer")
        return _Server(base.rstrip("/") + "/", origin_of(base), _bearer_token(request))

    def _job(
        self,
        key: str,
        given: _Given | None,
        templates: Mapping[str, str],
        context: Mapping[str, Any],
        server: _Server,
    ) -> _Job:
        if given is not None:
            assert given.next_url is not None
            return _Job(key, urljoin(server.base, given.next_url), None, list(given.resources), True)
        template = templates.get(key)
        if not isinstance(template, str) or not template.strip():
            raise PreconditionFailed(
                f"prefetch key '{key}' was not given and the service has no query for it",
                field=f"prefetch.{key}",
            )
        try:
            path = render_template(template.strip(), context).lstrip("/")
        except UnresolvableToken as exc:
            raise PreconditionFailed(
                f"prefetch key '{key}' was not given and its query needs {{{{{exc.token}}}}}, "
                "which the request context does not provide",
                field=f"prefetch.{key}",
            ) from None
        return _Job(key, server.base + path, _read_type(path))

    def _run(
        self, jobs: list[_Job], server: _Server, deadline: Deadline, optional: frozenset[str] = frozenset()
    ) -> dict[str, list[dict[str, Any]]]:
        cancelled = threading.Event()
        futures: dict[Future[list[dict[str, Any]]], str] = {
            self._pool.submit(self._fetch, job, server, deadline, cancelled): job.key for job in jobs
        }
        results: dict[str, list[dict[str, Any]]] = {}
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(
                    pending, timeout=max(deadline.remaining(), 0.0), return_when=FIRST_EXCEPTION
                )
                if not done:
                    break  # the deadline passed
                for future in sorted(done, key=futures.__getitem__):
                    key, error = futures[future], future.exception()
                    if error is None:
                        results[key] = future.result()
                    elif not isinstance(error, FetchError):
                        raise error  # a bug, not the server's fault: let it be a 500
                    elif key in optional:
                        self._without(key, error.reason)
                    else:
                        log.info("prefetch key %s not fetched: %s", key, error.reason)
                        raise PreconditionFailed(
                            f"prefetch key '{key}' could not be fetched from the FHIR server",
                            field=f"prefetch.{key}",
                            detail=error.reason,
                        )
            late = sorted(futures[f] for f in pending)
            for key in [k for k in late if k in optional]:
                self._without(key, "timed out")
            required = [k for k in late if k not in optional]
            if required:
                keys = ", ".join(f"'{k}'" for k in required)
                log.info("prefetch key %s not fetched: timed out", keys)
                raise PreconditionFailed(
                    f"prefetch key {keys} could not be fetched from the FHIR server",
                    detail=f"timed out after {self.config.fhir_timeout:g} s",
                )
            return results
        finally:
            cancelled.set()  # no-op when all are done; otherwise stops the rest at their next read
            for future in futures:
                future.cancel()

    def _fetch(
        self, job: _Job, server: _Server, deadline: Deadline, cancelled: threading.Event
    ) -> list[dict[str, Any]]:
        """Run one key's query and follow its `next` links; report the outcome to `on_fetch`."""
        started = time.monotonic()
        try:
            resources = self._pages(job, server, deadline, cancelled)
        except FetchError as exc:
            if exc.outcome != "cancelled":  # stopped because another key failed: nobody's metric
                self._report(exc.outcome, time.monotonic() - started)
            raise
        self._report("ok", time.monotonic() - started)
        return resources

    def _pages(
        self, job: _Job, server: _Server, deadline: Deadline, cancelled: threading.Event
    ) -> list[dict[str, Any]]:
        resources = list(job.resources)
        url = job.url
        # A given Bundle was page 1, so its next link already counts as one followed.
        followed = 1 if job.is_next_page else 0
        while True:
            if origin_of(url) != server.origin:
                raise FetchError("next link points outside the FHIR server")
            body = self._get(job.key, url, server, deadline, cancelled)
            if job.read_type is not None:
                if body.get("resourceType") != job.read_type:
                    raise FetchError(f"expected {job.read_type}, got {_type_name(body)}")
                return [body]
            page, next_url = _searchset_page(body)
            resources.extend(page)
            if next_url is None:
                return resources
            if followed >= self.config.fhir_max_pages:
                log.warning(
                    "prefetch key %s: more than %d pages, using the first ones",
                    job.key,
                    self.config.fhir_max_pages + 1,
                )
                return resources
            url = urljoin(url, next_url)
            followed += 1

    def _get(
        self, key: str, url: str, server: _Server, deadline: Deadline, cancelled: threading.Event
    ) -> dict[str, Any]:
        started = time.monotonic()
        try:
            status, body = self._client.get_json(
                url, token=server.token, token_origin=server.origin, deadline=deadline, cancelled=cancelled
            )
        except FetchError as exc:
            log.debug(
                "fhir fetch key=%s status=%s outcome=%s latency_ms=%.1f",
                key,
                exc.status if exc.status is not None else "-",
                exc.outcome,
                (time.monotonic() - started) * 1000,
            )
            raise
        log.debug(
            "fhir fetch key=%s status=%s latency_ms=%.1f", key, status, (time.monotonic() - started) * 1000
        )
        return body

    def _report(self, outcome: str, seconds: float) -> None:
        if self._on_fetch is None:
            return
        try:
            self._on_fetch(outcome, seconds)
        except Exception:  # metrics must never break a hook call
            log.warning("on_fetch callback failed", exc_info=True)

    def close(self) -> None:
        """Stop the worker threads (after their current read, bounded by the deadline) and close
        the pooled connections. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def __enter__(self) -> FhirFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _given(prefetch: Mapping[str, Any], key: str) -> _Given | None:
    if key not in prefetch:
        return None
    try:
        return interpret_given(prefetch[key])
    except ValueError as exc:  # structure only: the message names paths, never values
        raise BadRequest(f"prefetch key '{key}' is not FHIR: {exc}", field=f"prefetch.{key}") from None


def _bearer_token(request: Mapping[str, Any]) -> str | None:
    """The access token of `fhirAuthorization`, if any. Only Bearer tokens can be presented."""
    auth = request.get("fhirAuthorization")
    if not isinstance(auth, Mapping):
        return None
    token = auth.get("access_token")
    if not isinstance(token, str) or not token:
        return None
    token_type = auth.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise PreconditionFailed(
            "fhirAuthorization.token_type must be Bearer", field="fhirAuthorization.token_type"
        )
    return token
