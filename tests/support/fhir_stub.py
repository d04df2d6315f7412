"""A real HTTP FHIR server stub on 127.0.0.1 for tests: no mocks of `requests`, real sockets.

    with FhirStub() as fhir:
        fhir.route("/Patient/p1", StubResponse(body={"resourceType": "Patient", "id": "p1"}))
        fhir.route("/Condition", searchset([...]))                  # any query on that path
        fhir.route("/Observation?patient=p1", StubResponse(status=500))   # only that exact query
        fhir.pages("/MedicationRequest", [[r1, r2], [r3]])            # page 1 at the path, next links
        ... fhir.base_url ... fhir.requests ... fhir.bytes_sent ...

Routes match the exact path+query first, then the path alone; anything else gets `default`
(404 OperationOutcome unless told otherwise). A route may also be a callable taking the
`RecordedRequest` and returning a `StubResponse`, for servers whose answer depends on the call.

A `StubResponse` can be delayed, hang until the stub stops (a server that accepts and never
answers), trickle its body, send garbage or a generated body of any size (streamed, so a 1 GiB
body costs no memory), omit Content-Length, or redirect. Every request is recorded with its
headers; `bytes_sent` per request shows how much of a big body a client actually read.

The context manager binds port 0, serves from a thread (ThreadingHTTPServer), and on exit releases
hanging handlers, shuts down client connections still open and joins every thread, so tests leave
no sockets or threads behind.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FHIR_JSON = "application/fhir+json"
MiB = 1024 * 1024
_CHUNK = 64 * 1024


@dataclass
class StubResponse:
    """What the stub answers to one request."""

    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes sent as they are; None -> empty
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = FHIR_JSON
    delay: float = 0.0  # seconds to wait before answering
    hang: bool = False  # read the request, then never answer (until the stub stops)
    body_size: int | None = None  # generate a JSON-ish body of this many bytes instead of `body`
    content_length: bool = True  # False: no Content-Length, body ends when the connection closes
    trickle: float = 0.0  # seconds to wait between chunks of the body
    chunk_size: int = _CHUNK

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


Route = StubResponse | Callable[["RecordedRequest"], StubResponse]


@dataclass
class RecordedRequest:
    """One request as the stub saw it."""

    method: str
    target: str  # raw request target, e.g. /Condition?patient=p1
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    received_at: float  # time.monotonic()
    bytes_sent: int = 0  # response body bytes written before the client went away
    completed: bool = False  # the whole response was written
    aborted: bool = False  # the client closed the connection while the body was being written

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def outcome(message: str, *, severity: str = "error", code: str = "processing") -> dict[str, Any]:
    """An OperationOutcome with one issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message}],
    }


def searchset(
    resources: Sequence[Mapping[str, Any]], *, next_url: str | None = None, total: int | None = None
) -> StubResponse:
    """A 200 searchset Bundle of `resources` with an optional `next` link."""
    return StubResponse(body=searchset_body(resources, next_url=next_url, total=total))


def searchset_body(
    resources: Sequence[Mapping[str, Any]], *, next_url: str | None = None, total: int | None = None
) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    if next_url is not None:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    if resources:
        bundle["entry"] = [
            {"fullUrl": f"urn:uuid:{r.get('id', i)}", "resource": dict(r), "search": {"mode": "match"}}
            for i, r in enumerate(resources)
        ]
    return bundle


def redirect(location: str, status: int = 302) -> StubResponse:
    return StubResponse(status=status, headers={"Location": location})


class FhirStub:
    """A threaded HTTP server on 127.0.0.1:<free port> answering from configured routes."""

    def __init__(self, default: StubResponse | None = None) -> None:
        self.default = default or StubResponse(status=404, body=outcome("not found", code="not-found"))
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------------------

    def route(self, target: str, response: Route) -> None:
        """Answer `target` (a path, or a path with an exact query) with `response`."""
        with self._lock:
            self._routes[target] = response

    def pages(
        self, path: str, pages: Sequence[Sequence[Mapping[str, Any]]], *, relative: bool = False
    ) -> None:
        """Serve `pages` as one paged search: page 1 at `path` (any query), page n at
        `path?_page=n`, each with a `next` link to the following one (absolute unless `relative`)."""
        for number, resources in enumerate(pages, start=1):
            next_url = None
            if number < len(pages):
                next_target = f"{path}?_page={number + 1}"
                next_url = next_target if relative else self.url(next_target)
            target = path if number == 1 else f"{path}?_page={number}"
            self.route(target, searchset(resources, next_url=next_url))

    def url(self, target: str) -> str:
        return self.base_url + "/" + target.lstrip("/")

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FhirStub is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- observations --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FhirStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = False
        server.block_on_close = True  # server_close() joins the handler threads
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # releases hanging and trickling handlers
        server.shutdown()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # keep-alive connections a client left open
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()

    def __enter__(self) -> FhirStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler -------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _response_for(self, request: RecordedRequest) -> StubResponse:
        with self._lock:
            route = self._routes.get(request.target) or self._routes.get(request.path)
        if route is None:
            return self.default
        return route(request) if callable(route) else route

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class _Handler(BaseHTTPRequestHandler):
    owner: FhirStub
    protocol_version = "HTTP/1.1"  # keep-alive, like a real FHIR server
    timeout = 10  # an idle client connection cannot hold a handler thread for ever
    # Headers and body go out in separate writes; with Nagle on, a reused connection would wait for
    # the client's delayed ACK (~40 ms) and make every latency measurement lie.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base
        pass  # keep test output clean

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method="GET",
            target=self.path,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            received_at=time.monotonic(),
        )
        self.owner._record(request)
        response = self.owner._response_for(request)
        if response.hang:
            self.owner._stopping.wait()
            self.close_connection = True
            return
        if response.delay and self.owner._stopping.wait(response.delay):
            self.close_connection = True
            return
        try:
            self._send(request, response)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            request.aborted = True  # the client stopped reading: what size-limit tests look for
            self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.send_error(405)

    def _send(self, request: RecordedRequest, response: StubResponse) -> None:
        self.send_response(response.status)
        size = response.body_size
        payload = b"" if size is not None else response.payload()
        length = size if size is not None else len(payload)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.content_length:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunks = _generated(size, response.chunk_size) if size is not None else _split(payload, response)
        for chunk in chunks:
            if self.owner._stopping.is_set():
                self.close_connection = True
                return
            self.wfile.write(chunk)
            self.wfile.flush()
            request.bytes_sent += len(chunk)
            if response.trickle and self.owner._stopping.wait(response.trickle):
                self.close_connection = True
                return
        request.completed = True


def _split(payload: bytes, response: StubResponse) -> Iterator[bytes]:
    step = response.chunk_size
    for start in range(0, len(payload), step):
        yield payload[start : start + step]


def _generated(size: int, chunk_size: int) -> Iterator[bytes]:
    """`size` bytes of a syntactically plausible (if never-ending) searchset, streamed."""
    head = (
        b'{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Basic","text":"'
    )
    tail = b'"}}]}'
    if size < len(head) + len(tail):
        yield (b" " * size)
        return
    yield head
    filler = size - len(head) - len(tail)
    block = b"x" * chunk_size
    while filler > 0:
        piece = block[: min(chunk_size, filler)]
        filler -= len(piece)
        yield piece
    yield tail
