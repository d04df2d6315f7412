"""Bounded HTTP GETs against an EHR's FHIR server: one pooled session, one deadline, no surprises.

A CDS service answers inside the clinician's workflow, so a slow, broken or hostile FHIR server must
cost at most the configured time and memory, never more:

* every attempt, redirect hop and socket read is limited by the time left on one `Deadline` shared by
  all queries of a hook request (not a per-query timeout that multiplies with pages and retries);
* bodies are streamed and abandoned as soon as they pass `max_response_bytes` (a `Content-Length`
  above the limit fails before a byte is read);
* redirects are followed by hand (so each hop gets the remaining time, a loop is caught at once),
  and only within the origin of the URL asked for: a redirect to another origin is never followed
  (the patient id in the URL would go there, and its answer would stand in for the EHR's), it is a
  `FetchError` and the key counts as not fetched;
* only idempotent GETs are retried, on connection errors and 502/503/504, a couple of times, without
  backoff and never past the deadline (`_DeadlineRetry`);
* cookies are refused: the session is shared by every patient and every token of this worker, so a
  cookie set for one request must never ride along with another;
* urllib3's own log lines are scrubbed (`_ScrubUrls`): they print request URLs, and a FHIR URL holds
  the patient id, which must not reach the logs even at DEBUG.

Failures are `FetchError`s whose `reason` is safe to show and log: it never carries a URL (which holds
patient ids), a token or a response body.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry

FHIR_JSON = "application/fhir+json"
_ACCEPT = f"{FHIR_JSON}, application/json;q=0.9"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
# Default port of each URL scheme, for "the same server" comparisons here and in service/auth.py.
DEFAULT_PORTS = {"http": 80, "https": 443}
# Below this much time left another attempt cannot succeed; give up rather than start it.
_MIN_ATTEMPT_SECONDS = 0.01

_FORMAT_SPEC = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[rsdif]")


class _ScrubUrls(logging.Filter):
    """Drop urllib3's DEBUG request lines and blank the arguments (URLs) of its warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            return False
        if isinstance(record.msg, str) and record.args:
            record.msg = _FORMAT_SPEC.sub("<redacted>", record.msg)
            record.args = ()
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _ScrubUrls) for f in _logger.filters):
        _logger.addFilter(_ScrubUrls())

# The deadline of the attempt running on this thread, read by `_DeadlineRetry` (urllib3 runs its
# retries on the calling thread, and the adapter's Retry object is shared by all of them).
_attempt = threading.local()


class FetchError(Exception):
    """A GET that produced no usable FHIR JSON.

    `outcome` is "error", "timeout", or "cancelled" (the request it served had already failed).
    """

    def __init__(self, reason: str, *, outcome: str = "error", status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome
        self.status = status


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock by which all fetching for one hook request must be over."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + max(0.0, seconds))

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


class _DeadlineRetry(Retry):
    """urllib3 `Retry` that also stops once the calling thread's deadline has (almost) passed.

    urllib3 gives every retry the timeout of the first attempt, so without this a server that drops
    connections could keep a worker busy for (retries + 1) x the remaining time.
    """

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        # super() raises MaxRetryError when the counts run out
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        deadline: Deadline | None = getattr(_attempt, "deadline", None)
        if deadline is not None and deadline.remaining() < _MIN_ATTEMPT_SECONDS:
            raise MaxRetryError(_pool, url or "", error)  # type: ignore[arg-type]  # as urllib3 does
        return new


class _BearerAuth(requests.auth.AuthBase):
    """Bearer token as a requests auth object (so ~/.netrc can never replace it)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:  # never show the token in a repr or a traceback
        return "_BearerAuth(<redacted>)"


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with default ports filled in: what "the same server" means for a token."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def is_http_url(url: object) -> bool:
    """True for an absolute http(s) URL with a host."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)


class FhirHttpClient:
    """Thread-safe GETs of FHIR JSON over one pooled `requests.Session`."""

    def __init__(
        self,
        *,
        max_response_bytes: int,
        max_redirects: int = 3,
        pool_size: int = 16,
        retries: int = 2,
        user_agent: str = "spasticity-cds",
    ) -> None:
        self.max_response_bytes = max_response_bytes
        self.max_redirects = max_redirects
        retry = _DeadlineRetry(
            total=retries,
            connect=retries,
            read=1,  # a dropped keep-alive connection; a read timeout means the deadline is gone
            status=retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=frozenset({502, 503, 504}),
            backoff_factor=0,
            respect_retry_after_header=False,  # a Retry-After could sleep past the deadline
            raise_on_status=False,  # hand the last 5xx back: it becomes a failure with its status
            raise_on_redirect=False,
        )
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=retry)
        session = requests.Session()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"Accept": _ACCEPT, "User-Agent": user_agent})
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._session = session
        self._closed = False

    def get_json(
        self,
        url: str,
        *,
        token: str | None,
        token_origin: tuple[str, str, int | None] | None,
        deadline: Deadline,
        cancelled: threading.Event | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """GET `url` and return (status, JSON object), or raise `FetchError`.

        The token is sent only while the URL is on `token_origin`; a redirect to an origin other
        than `url`'s is not followed.
        """
        seen = {url}
        current = url
        start_origin = origin_of(url)
        for _hop in range(self.max_redirects + 1):
            auth = _BearerAuth(token) if token and origin_of(current) == token_origin else None
            response = self._get(current, auth=auth, deadline=deadline, cancelled=cancelled)
            try:
                if response.status_code in _REDIRECT_STATUSES and "Location" in response.headers:
                    target = urljoin(current, response.headers["Location"])
                    if not is_http_url(target):
                        raise FetchError("redirect to a non-http(s) URL", status=response.status_code)
                    if origin_of(target) != start_origin:
                        raise FetchError("redirect to another server", status=response.status_code)
                    if target in seen:
                        raise FetchError("redirect loop", status=response.status_code)
                    seen.add(target)
                    current = target
                    continue
                if not 200 <= response.status_code < 300:
                    raise FetchError(f"HTTP {response.status_code}", status=response.status_code)
                body = self._read_bounded(response, deadline, cancelled)
                status = response.status_code
            finally:
                response.close()
            return status, _parse_object(body, status)
        raise FetchError(f"more than {self.max_redirects} redirects")

    def _get(
        self,
        url: str,
        *,
        auth: _BearerAuth | None,
        deadline: Deadline,
        cancelled: threading.Event | None,
    ) -> requests.Response:
        _check(deadline, cancelled)
        remaining = max(deadline.remaining(), 0.001)
        _attempt.deadline = deadline
        try:
            return self._session.get(
                url,
                auth=auth,
                timeout=(remaining, remaining),  # (connect, read), each bounded by the deadline
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            if deadline.expired() or isinstance(exc, requests.Timeout):
                raise FetchError("timed out", outcome="timeout") from None
            raise FetchError(f"request failed ({type(exc).__name__})") from None
        finally:
            _attempt.deadline = None

    def _read_bounded(
        self, response: requests.Response, deadline: Deadline, cancelled: threading.Event | None
    ) -> bytes:
        """The decoded body, read chunk by chunk with the socket timeout shrinking to the deadline."""
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"response larger than {limit} bytes", status=response.status_code)
        raw = response.raw
        body = bytearray()
        while True:
            _check(deadline, cancelled)
            _shrink_socket_timeout(raw, deadline)
            try:
                chunk = raw.read1(_CHUNK, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if deadline.expired() or isinstance(exc, urllib3.exceptions.ReadTimeoutError):
                    raise FetchError("timed out reading the response", outcome="timeout") from None
                raise FetchError(f"response broken off ({type(exc).__name__})") from None
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                raise FetchError(f"response larger than {limit} bytes", status=response.status_code)

    def close(self) -> None:
        """Close pooled connections. Idempotent."""
        if not self._closed:
            self._closed = True
            self._session.close()


def _check(deadline: Deadline, cancelled: threading.Event | None) -> None:
    if deadline.expired():
        raise FetchError("timed out", outcome="timeout")
    if cancelled is not None and cancelled.is_set():
        raise FetchError("cancelled", outcome="cancelled")


def _shrink_socket_timeout(raw: Any, deadline: Deadline) -> None:
    """Make the next socket read wait at most until the deadline (urllib3 set it once, at the start)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(deadline.remaining(), 0.001))
        except OSError:
            pass  # already closed: the read that follows reports it


def _parse_object(body: bytes, status: int) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise FetchError("response is not JSON", status=status) from None
    if not isinstance(value, dict):
        raise FetchError("response is not a JSON object", status=status)
    return value
