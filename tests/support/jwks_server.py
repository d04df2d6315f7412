"""A JWKS endpoint over real HTTP for tests: 127.0.0.1, an OS-chosen port, keys swappable at runtime.

Tests of JWT authentication must exercise the same path production does — PyJWKClient fetching
a key set over HTTP, caching it, and refetching when a token names an unknown `kid` — so the keys
are served by a real server rather than patched in. `set_keys` swaps the published set (key
rotation); `requests` counts fetches so caching can be asserted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def public_jwk(private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict:
    """The public JWK of a generated private key, with its kid (and e.g. alg, use) set."""
    public = private_key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    jwk["kid"] = kid
    jwk.update(extra)
    return jwk


class JwksServer:
    """Serves `{"keys": [...]}` at `/jwks.json`; use as a context manager or call start/stop."""

    path = "/jwks.json"

    def __init__(self, keys: Iterable[Mapping[str, Any]] = ()) -> None:
        self._lock = threading.Lock()
        self._body = b""
        self._status = 200
        self.requests = 0
        self.set_keys(keys)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    status, body = server._status, server._body
                if self.path != server.path:
                    status, body = 404, b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def set_keys(self, keys: Iterable[Mapping[str, Any]]) -> None:
        """Publish a new key set (e.g. after rotation); served from the next request on."""
        body = json.dumps({"keys": [dict(k) for k in keys]}).encode()
        with self._lock:
            self._body = body
            self._status = 200

    def fail_with(self, status: int) -> None:
        """Answer every fetch with this HTTP status (an unavailable JWKS endpoint)."""
        with self._lock:
            self._status = status

    def start(self) -> JwksServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="jwks-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> JwksServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
