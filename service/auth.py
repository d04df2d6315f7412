"""JWT authentication of CDS clients, as CDS Hooks specifies (§Trusting CDS Clients).

When `CDS_AUTH=jwt`, every CDS call — discovery, service and feedback — must carry
`Authorization: Bearer <JWT>`. The token is accepted only when all of this holds:

- header: `typ` is "JWT", `kid` is given, `alg` is one of the configured asymmetric algorithms
  (ES384 and RS384 by default; never `none`, never HMAC), no `crit` extensions;
- `iss` is on the allowlist (`CDS_TRUSTED_ISSUERS`, plus the CDS Hooks sandbox when
  `CDS_TRUST_SANDBOX` is on). An issuer is configured as a JWKS URL or file, or as an object
  `{"jwks": URL or file, "jku": [accepted jku URLs], "fhirServers": [base-URL prefixes]}`;
- a `jku` header is never fetched: keys come only from the configured JWKS. A token whose `jku`
  is neither that JWKS URL nor one of the issuer's listed `jku` values is refused;
- with `fhirServers`, a token of that issuer can only make the service call those servers (set per
  request in `service.prefetch.issuer_fhir_servers`; `CDS_FHIR_SERVERS` applies as well);
- the signature verifies with the issuer's key of that `kid` (JWKS fetched over HTTP with a cache,
  refetched once on an unknown `kid` so that rotated keys are picked up; or a local JWKS file);
- `exp`, `iat`, `iss`, `aud` and `jti` are present; `exp` has not passed, `iat` and `nbf` are not
  in the future (all within `CDS_JWT_LEEWAY` seconds), and the token lives at most an hour;
- `aud` names the endpoint called: `CDS_BASE_URL` (or an alias in `CDS_AUD_ALIASES`) + the request
  path, compared after normalising scheme, host, default port and trailing slashes, because EHRs
  type `aud` in by hand;
- the `jti` has not been used before by that issuer, as recorded in the database so that every
  replica shares it. When the database is unreachable the check falls back to this process's
  `ReplayCache` (bounded by token lifetime), logs the degraded mode once per episode and counts
  every such check (`cds_jti_degraded_total`); the ids claimed meanwhile are queued for the shared
  store. What this weakens is said in README.md ("Replay protection while the database is down").

Any failure answers 401 with no detail (`errors.Unauthorized`); only the failure category is
logged. The token itself is never logged or stored.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import inspect
import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import Flask, g, request

from .config import Config
from .errors import Unauthorized
from .fhirclient import DEFAULT_PORTS
from .metrics import observe_jti_degraded
from .prefetch import issuer_fhir_servers

log = logging.getLogger(__name__)

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_JWKS_FILE = Path(__file__).resolve().parent / "trust" / "sandbox-jwks.json"

# Paths that answer without a token: probes, metrics and the API description carry no patient data
# and must work for load balancers and monitoring that hold no client key.
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics", "/version", "/openapi.json"})

# Asymmetric JWS algorithms an operator may enable -> the key each needs (type, EC curve).
# HMAC is absent on purpose: a shared secret cannot be published in a JWKS, and accepting HS*
# with a public key as the secret is the classic algorithm-confusion forgery.
_ALGORITHM_KEYS: dict[str, tuple[type, str | None]] = {
    "ES256": (ec.EllipticCurvePublicKey, "secp256r1"),
    "ES384": (ec.EllipticCurvePublicKey, "secp384r1"),
    "ES512": (ec.EllipticCurvePublicKey, "secp521r1"),
    "RS256": (rsa.RSAPublicKey, None),
    "RS384": (rsa.RSAPublicKey, None),
    "RS512": (rsa.RSAPublicKey, None),
    "PS256": (rsa.RSAPublicKey, None),
    "PS384": (rsa.RSAPublicKey, None),
    "PS512": (rsa.RSAPublicKey, None),
    "EdDSA": (ed25519.Ed25519PublicKey, None),
}
MIN_RSA_BITS = 2048

# JWKS fetching. The set is cached for JWKS_LIFESPAN seconds, so a key the issuer removes (for
# example after a compromise) stops verifying within that time; PyJWKClient's per-kid LRU cache is
# deliberately not used because it never expires. An unknown kid forces one refetch, at most once
# per JWKS_REFRESH_COOLDOWN seconds, so forged kids cannot turn us into a flood against the
# issuer's JWKS endpoint. Every fetch is bounded by JWKS_TIMEOUT.
JWKS_LIFESPAN = 300.0
JWKS_TIMEOUT = 3.0
JWKS_REFRESH_COOLDOWN = 5.0

# After the jti store failed, calls use the replay cache alone for this long before trying it again.
STORE_RETRY_SECONDS = 1.0

MAX_TOKEN_CHARS = 16 * 1024  # a CDS Hooks JWT is a few hundred characters
MAX_JTI_CHARS = 1024
MAX_AUDIENCE_CHARS = 2048  # longer `aud` values are refused, and never cached
AUDIENCE_CACHE_SIZE = 256  # normalised audiences kept (per path, per aud value)
# Longest accepted token lifetime (exp - now). CDS Hooks best practice keeps jti values about an
# hour; a longer-lived token could be replayed after its jti has been forgotten, and would make the
# seen-jti table grow without bound.
MAX_LIFETIME_SECONDS = 3600

_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "jti"]


class JtiStore(Protocol):
    """The one store method auth needs; `service.store.Store` implements it on the database."""

    def claim_jti(self, jti: str, expires_at: datetime) -> bool:
        """Record `jti` until `expires_at`; False when it was already recorded and not expired."""
        ...


class ReplayCache:
    """JWT ids seen by this process while the shared store was unreachable, until they expire.

    Bounded by token lifetime: an id is kept until its token's `exp` (at most MAX_LIFETIME_SECONDS
    ahead, see `JwtVerifier._check_times`), expired ids are dropped when the cache is consulted,
    and `max_entries` caps memory if a flood of genuine tokens arrives; beyond it, new ids are
    refused (fail closed) rather than forgotten.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def claim(self, key: str, expires_at: datetime, *, now: float | None = None) -> bool:
        """Record `key` until `expires_at`; False when it is already held (a replay) or the cache is full."""
        moment = time.time() if now is None else now
        with self._lock:
            if moment >= self._next_prune or len(self._expires) >= self.max_entries:
                self._expires = {k: exp for k, exp in self._expires.items() if exp > moment}
                self._next_prune = moment + 1.0
            held = self._expires.get(key)
            if held is not None and held > moment:
                return False
            if len(self._expires) >= self.max_entries:
                return False
            self._expires[key] = expires_at.timestamp()
            return True

    def holds(self, key: str, *, now: float | None = None) -> bool:
        """Whether `key` was claimed here and has not expired."""
        moment = time.time() if now is None else now
        with self._lock:
            held = self._expires.get(key)
            return held is not None and held > moment

    def __len__(self) -> int:
        with self._lock:
            return len(self._expires)


class Rejected(Exception):
    """A token failed verification; `category` is the only thing ever logged about it."""

    def __init__(self, category: str) -> None:
        super().__init__(category)
        self.category = category


# --------------------------------------------------------------------------------------------
# Keys


class KeySource(Protocol):
    def signing_key(self, kid: str) -> jwt.PyJWK:
        """The issuer's signing key with this kid; raises Rejected when there is none."""
        ...


def _signing_keys(jwk_set: jwt.PyJWKSet) -> dict[str, jwt.PyJWK]:
    """Keys usable for signatures (use "sig" or unspecified) by kid, as PyJWKClient selects them."""
    return {key.key_id: key for key in jwk_set.keys if key.key_id and key.public_key_use in (None, "sig")}


class PinnedKeys:
    """A JWKS read once from a local file: no network, so the keys are exactly what was reviewed."""

    def __init__(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            keys = _signing_keys(jwt.PyJWKSet.from_dict(data))
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise ValueError(f"cannot load JWKS file {path}: {exc}") from exc
        if not keys:
            raise ValueError(f"JWKS file {path} has no signing key with a kid")
        self.path = path
        self._keys = keys

    def signing_key(self, kid: str) -> jwt.PyJWK:
        try:
            return self._keys[kid]
        except KeyError:
            raise Rejected("unknown-kid") from None


class RemoteKeys:
    """An issuer's JWKS over HTTP(S) through PyJWKClient: cached, refetched on an unknown kid."""

    def __init__(self, url: str) -> None:
        options: dict[str, Any] = {
            "cache_keys": False,
            "cache_jwk_set": True,
            "lifespan": JWKS_LIFESPAN,
            "timeout": JWKS_TIMEOUT,
        }
        # The refetch cooldown exists in newer PyJWT only; older versions refetch on every miss.
        if "cooldown_duration" in inspect.signature(jwt.PyJWKClient).parameters:
            options["cooldown_duration"] = JWKS_REFRESH_COOLDOWN
        self.url = url
        self._client = jwt.PyJWKClient(url, **options)

    def signing_key(self, kid: str) -> jwt.PyJWK:
        try:
            key = self._client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            # An operational fault worth a warning: every client of this issuer is being refused.
            log.warning("jwks unavailable: %s", self.url)
            raise Rejected("jwks-unavailable") from None
        except jwt.PyJWKClientError:
            raise Rejected("unknown-kid") from None
        except (jwt.PyJWTError, ValueError):
            log.warning("jwks unusable: %s", self.url)
            raise Rejected("jwks-unavailable") from None
        # PyJWKClient accepts a key without `use`; a key marked for encryption is not a signing key.
        if key.public_key_use not in (None, "sig"):
            raise Rejected("unknown-kid")
        return key


@dataclass(frozen=True)
class TrustedIssuer:
    """An allowlisted `iss`, its keys, and the one `jku` value a token of it may carry."""

    issuer: str
    keys: KeySource
    jwks_url: str | None  # the configured JWKS URL; None for a local file
    jku: tuple[str, ...] = ()  # other jku values a token may carry (never fetched)
    fhir_servers: tuple[str, ...] | None = None  # base-URL prefixes its tokens may make us call


def _key_source(issuer: str, location: str) -> TrustedIssuer:
    """Build an issuer's key source from its configured JWKS URL (http/https) or local file."""
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"CDS_TRUSTED_ISSUERS[{issuer!r}]: JWKS URL has no host")
        return TrustedIssuer(issuer, RemoteKeys(location), location)
    if scheme == "file":
        path = Path(unquote(parts.path))
    elif len(scheme) > 1:  # a one-letter "scheme" is a Windows drive
        raise ValueError(f"CDS_TRUSTED_ISSUERS[{issuer!r}]: JWKS must be http(s) URL or a file path")
    else:
        path = Path(location)
    return TrustedIssuer(issuer, PinnedKeys(path), None)


def _sandbox_issuer() -> TrustedIssuer:
    return TrustedIssuer(SANDBOX_ISSUER, PinnedKeys(SANDBOX_JWKS_FILE), SANDBOX_JKU)


# --------------------------------------------------------------------------------------------
# Audience


def normalise_url(url: str) -> str | None:
    """Canonical form of an http(s) URL for `aud` comparison; None when it is not one.

    Scheme and host are case-insensitive and a default port is the same as none (RFC 3986 §6.2.3);
    a trailing slash is what hand-configured `aud` values most often differ by. The path stays
    case-sensitive and is percent-decoded, as Flask's `request.path` is.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in DEFAULT_PORTS or not host or parts.username is not None or parts.fragment:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = unquote(parts.path).rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


@functools.lru_cache(maxsize=AUDIENCE_CACHE_SIZE)
def _normalised_audience(value: str) -> str | None:
    """`normalise_url` of a token's `aud` value: each client sends the same few, call after call."""
    return normalise_url(value) if len(value) <= MAX_AUDIENCE_CHARS else None


# --------------------------------------------------------------------------------------------
# Verification


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class JwtVerifier:
    """Verifies CDS client JWTs against one `Config`; built once, safe to share between threads."""

    def __init__(self, config: Config) -> None:
        self.leeway = int(config.jwt_leeway)
        if self.leeway < 0:
            raise ValueError("CDS_JWT_LEEWAY must not be negative")
        self.algorithms = _allowed_algorithms(config.jwt_algorithms)
        self.issuers = _trusted_issuers(config)
        bases = [config.base_url, *config.aud_aliases]
        self.audience_bases: tuple[str, ...] = tuple(_normalised_base(base) for base in bases)
        # Per path: a handful of endpoints in practice; bounded, since any path reaches the check.
        self._expected_audiences = functools.lru_cache(maxsize=AUDIENCE_CACHE_SIZE)(self._audiences_of)
        self.replay_cache = ReplayCache()
        self._degraded = False
        self._store_retry_at = 0.0  # monotonic time before which the jti store is not tried again
        # Called with (jti key, expires_at) for every id claimed only in the replay cache, so the
        # shared store learns it once it is back (the app wires the background writer here).
        self.on_degraded_claim: Any = None

    def expected_audiences(self, path: str) -> frozenset[str]:
        """The `aud` values that name the endpoint at `path` (normalised)."""
        return self._expected_audiences(path)

    def _audiences_of(self, path: str) -> frozenset[str]:
        found = (normalise_url(base + path) for base in self.audience_bases)
        return frozenset(aud for aud in found if aud)

    def verify(self, authorization: str | None, *, path: str, store: JtiStore) -> dict[str, Any]:
        """Verify the Authorization header for a call to `path`; the verified claims, or Rejected."""
        token = _bearer_token(authorization)
        header, unverified = _unverified_parts(token)
        _check_header(header, self.algorithms)
        issuer = self._issuer_of(unverified)
        self._check_jku(issuer, header.get("jku"))
        key = issuer.keys.signing_key(header["kid"])
        public_key = _key_for_algorithm(key, header["alg"])
        claims = self._decode(token, public_key, header, issuer.issuer)
        self._check_audience(claims["aud"], path)
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise Rejected("bad-jti")
        # Claimed last, so that an invalid token cannot use up the jti of a genuine one.
        expires_at = datetime.fromtimestamp(float(claims["exp"]) + self.leeway, UTC)
        if not self._claim(store, _jti_key(issuer.issuer, jti), expires_at):
            raise Rejected("replayed-jti")
        return claims

    def _claim(self, store: JtiStore, key: str, expires_at: datetime) -> bool:
        """The shared store first; when it does not answer, this process's replay cache."""
        from .store import StoreUnavailable, is_unavailable

        if self.replay_cache.holds(key):  # claimed here during an outage, maybe not yet shared
            return False
        try:
            if time.monotonic() < self._store_retry_at:
                # The store failed moments ago: do not make every call wait for another connect
                # attempt (up to the connect timeout when the database host is unreachable).
                raise StoreUnavailable("jti store recently unreachable")
            claimed = store.claim_jti(key, expires_at)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            if not isinstance(exc, StoreUnavailable) or time.monotonic() >= self._store_retry_at:
                self._store_retry_at = time.monotonic() + STORE_RETRY_SECONDS
            observe_jti_degraded()
            if not self._degraded:
                self._degraded = True
                log.warning("jti store unreachable: replay protection is per process until it returns")
            claimed = self.replay_cache.claim(key, expires_at)
            if claimed and self.on_degraded_claim is not None:
                try:
                    self.on_degraded_claim(key, expires_at)
                except Exception:  # noqa: BLE001 - sharing later is best effort
                    log.warning("could not queue a jti for the shared store")
            return claimed
        if self._degraded:
            self._degraded = False
            log.warning("jti store reachable again: replay protection shared by every replica")
        return claimed

    def _issuer_of(self, unverified: Mapping[str, Any]) -> TrustedIssuer:
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise Rejected("missing-issuer")
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise Rejected("untrusted-issuer")
        return issuer

    @staticmethod
    def _check_jku(issuer: TrustedIssuer, jku: Any) -> None:
        """A jku is only a hint, never fetched: accepted when it names the issuer's configured JWKS
        URL or one of its listed `jku` values; any other jku refuses the token."""
        if jku is None:
            return
        if not isinstance(jku, str) or normalise_url(jku) is None:
            raise Rejected("bad-jku")
        accepted = {normalise_url(url) for url in (issuer.jwks_url, *issuer.jku) if url}
        if normalise_url(jku) not in accepted:
            raise Rejected("bad-jku")

    def _decode(self, token: str, key: Any, header: Mapping[str, Any], iss: str) -> dict[str, Any]:
        """PyJWT's verification (signature, then the registered claims): the one strict parse of
        the token. The header it verified must be the one the key was chosen and checked by."""
        try:
            decoded = jwt.decode_complete(
                token,
                key,
                algorithms=[header["alg"]],
                issuer=iss,
                leeway=self.leeway,
                options={"require": _REQUIRED_CLAIMS, "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            raise Rejected("bad-signature") from None
        except jwt.ExpiredSignatureError:
            raise Rejected("expired") from None
        except jwt.ImmatureSignatureError:
            raise Rejected("not-yet-valid") from None
        except jwt.MissingRequiredClaimError:
            raise Rejected("missing-claim") from None
        except jwt.InvalidIssuerError:
            raise Rejected("bad-issuer") from None
        except jwt.PyJWTError:
            raise Rejected("bad-claims") from None
        claims: dict[str, Any] = decoded["payload"]
        if decoded["header"] != header or not isinstance(claims, dict):
            raise Rejected("malformed-token")  # cannot happen for a token PyJWT accepts: a guard
        self._check_times(claims)
        return claims

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        """Time checks made here as well as in PyJWT, whose iat/nbf handling differs by version."""
        now = time.time()
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
        if not _is_number(exp) or not _is_number(iat) or (nbf is not None and not _is_number(nbf)):
            raise Rejected("bad-claims")
        if exp <= now - self.leeway:
            raise Rejected("expired")
        if iat > now + self.leeway or (nbf is not None and nbf > now + self.leeway):
            raise Rejected("not-yet-valid")
        if exp - now > MAX_LIFETIME_SECONDS + self.leeway:
            raise Rejected("lifetime-too-long")

    def _check_audience(self, aud: Any, path: str) -> None:
        values = [aud] if isinstance(aud, str) else aud
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise Rejected("bad-audience")
        expected = self._expected_audiences(path)
        if not any(_normalised_audience(value) in expected for value in values):
            raise Rejected("bad-audience")


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Rejected("missing-token")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > MAX_TOKEN_CHARS:
        raise Rejected("malformed-header")
    return token


def _b64url_json(segment: str) -> Any:
    """One base64url (unpadded, RFC 7515 §2) segment of a compact JWS, as JSON; ValueError if not."""
    raw = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
    return json.loads(raw)


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The token's header and claims, unverified: only to choose the issuer and key.

    Nothing here is trusted: `JwtVerifier._decode` has PyJWT parse the token again, strictly
    (canonical base64url, as `jwt.decode` always does), verify it, and the header it verified must
    equal this one. One lenient parse here instead of PyJWT's strict one twice (for the header, then
    for `iss`) saves two thirds of the parsing, which PyJWT does character by character.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise Rejected("malformed-token")
    try:
        header = _b64url_json(parts[0])
        claims = _b64url_json(parts[1])
    except (ValueError, RecursionError):  # binascii.Error and JSONDecodeError are ValueErrors
        raise Rejected("malformed-token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Rejected("malformed-token")
    return header, claims


def _check_header(header: Mapping[str, Any], algorithms: frozenset[str]) -> None:
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise Rejected("bad-typ")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Rejected("missing-kid")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise Rejected("bad-alg")
    if "crit" in header:  # RFC 7515 §4.1.11: we understand no extensions, so none may be critical
        raise Rejected("bad-header")


def _key_for_algorithm(key: jwt.PyJWK, alg: str) -> Any:
    """The public key, when it is one `alg` may use: a JWK names its algorithm or the type implies it.

    The raw key (not the PyJWK) is handed to PyJWT because PyJWK guesses RS256 for an RSA JWK without
    `alg`, which would refuse the RS384 that CDS Hooks recommends.
    """
    declared = key._jwk_data.get("alg") if isinstance(getattr(key, "_jwk_data", None), dict) else None
    if declared is not None and declared != alg:
        raise Rejected("bad-key")
    key_type, curve = _ALGORITHM_KEYS[alg]
    public = key.key
    if not isinstance(public, key_type):
        raise Rejected("bad-key")
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name != curve:
        raise Rejected("bad-key")
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < MIN_RSA_BITS:
        raise Rejected("bad-key")
    return public


def _jti_key(issuer: str, jti: str) -> str:
    """What the store records: a fixed-length digest, per issuer, since jti is unique per issuer only."""
    return hashlib.sha256(f"{issuer}\n{jti}".encode()).hexdigest()


def _allowed_algorithms(configured: Iterable[str]) -> frozenset[str]:
    algorithms = frozenset(a.strip() for a in configured if a.strip())
    bad = sorted(a for a in algorithms if a not in _ALGORITHM_KEYS)
    if bad:
        raise ValueError(
            f"CDS_JWT_ALGORITHMS: {', '.join(bad)} not allowed; use asymmetric algorithms "
            f"({', '.join(_ALGORITHM_KEYS)}), never none or HS*"
        )
    if not algorithms:
        raise ValueError("CDS_JWT_ALGORITHMS is empty")
    return algorithms


def _trusted_issuers(config: Config) -> dict[str, TrustedIssuer]:
    issuers: dict[str, TrustedIssuer] = {}
    if config.trust_sandbox:
        issuers[SANDBOX_ISSUER] = _sandbox_issuer()
    for iss, entry in dict(config.trusted_issuers).items():
        issuers[iss] = _issuer_entry(iss, entry)  # an explicit entry overrides the sandbox's
    if not issuers:
        raise ValueError("CDS_AUTH=jwt needs CDS_TRUSTED_ISSUERS or CDS_TRUST_SANDBOX=true")
    return issuers


def _issuer_entry(iss: Any, entry: Any) -> TrustedIssuer:
    """One `CDS_TRUSTED_ISSUERS` entry: a JWKS URL or file, or
    `{"jwks": URL or file, "jku": [URLs], "fhirServers": [base-URL prefixes]}`."""
    if not isinstance(iss, str) or not iss:
        raise ValueError("CDS_TRUSTED_ISSUERS keys must be issuer strings")
    if isinstance(entry, str) and entry:
        return _key_source(iss, entry)
    if not isinstance(entry, Mapping):
        raise ValueError(f"CDS_TRUSTED_ISSUERS[{iss!r}] must be a JWKS URL or file, or an object")
    unknown = set(entry) - {"jwks", "jku", "fhirServers"}
    if unknown:
        raise ValueError(f"CDS_TRUSTED_ISSUERS[{iss!r}]: unknown field(s) {', '.join(sorted(unknown))}")
    jwks = entry.get("jwks")
    if not isinstance(jwks, str) or not jwks:
        raise ValueError(f"CDS_TRUSTED_ISSUERS[{iss!r}].jwks must be a JWKS URL or file")
    lists: dict[str, tuple[str, ...]] = {}
    for name in ("jku", "fhirServers"):
        value = entry.get(name, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and normalise_url(v) for v in value):
            raise ValueError(f"CDS_TRUSTED_ISSUERS[{iss!r}].{name} must be a list of http(s) URLs")
        lists[name] = tuple(value)
    base = _key_source(iss, jwks)
    servers = lists["fhirServers"] if "fhirServers" in entry else None
    return TrustedIssuer(iss, base.keys, base.jwks_url, lists["jku"], servers)


def _normalised_base(base: str) -> str:
    normalised = normalise_url(base)
    if normalised is None or "?" in normalised:
        raise ValueError(f"not an http(s) base URL for aud: {base!r} (CDS_BASE_URL / CDS_AUD_ALIASES)")
    return normalised


# --------------------------------------------------------------------------------------------
# Flask wiring


def _auth_mode(config: Config) -> str:
    mode = str(config.auth).strip().lower()
    if mode not in ("off", "jwt"):
        # A typo must not silently leave the service open.
        raise ValueError(f"CDS_AUTH must be 'off' or 'jwt', not {config.auth!r}")
    return mode


def _verifier(app: Flask, config: Config) -> JwtVerifier:
    """The app's verifier for `config`, built on first use and kept (with its JWKS caches)."""
    cached = app.extensions.get("cds.auth")
    if cached is not None and cached[0] is config:
        return cached[1]  # type: ignore[no-any-return]
    verifier = JwtVerifier(config)
    app.extensions["cds.auth"] = (config, verifier)
    return verifier


def _share_later(writer: Any) -> Any:
    """A callback queuing a locally claimed jti for the shared `seen_jti` table (insert-or-ignore)."""
    from .store import seen_jti

    def share(key: str, expires_at: datetime) -> None:
        writer.submit(seen_jti, [{"jti": key, "expires_at": expires_at}])

    return share


def init_auth(app: Flask) -> None:
    """Require a valid client JWT on every non-exempt request when `config.auth == "jwt"`.

    Call after the runtime is in `app.extensions["cds"]`: the settings are then checked at start-up,
    so a bad issuer file or algorithm fails fast instead of refusing every call later. Calling it
    again on the same app does nothing: a second hook would claim each jti twice and so refuse
    every genuine call as a replay.
    """
    from . import runtime

    if app.extensions.get("cds.auth.installed"):
        return
    if "cds" in app.extensions:
        rt = app.extensions["cds"]
        config = rt.config
        if _auth_mode(config) == "jwt":
            verifier = _verifier(app, config)
            open_issuers = [i.issuer for i in verifier.issuers.values() if i.fhir_servers is None]
            if not config.fhir_servers and open_issuers:
                log.warning(
                    "auth is on but no FHIR-server allowlist is set (CDS_FHIR_SERVERS, or fhirServers "
                    "per trusted issuer): a trusted client can make this service call any URL"
                )
            writer = getattr(rt, "writer", None)
            if writer is not None:
                verifier.on_degraded_claim = _share_later(writer)
    app.extensions["cds.auth.installed"] = True

    @app.before_request
    def _require_jwt() -> None:
        issuer_fhir_servers.set(None)  # request threads are reused: never inherit a previous client's
        rt = runtime.current()
        if _auth_mode(rt.config) != "jwt":
            return
        # CORS preflights carry no credentials by design; flask-cors answers them.
        if request.method == "OPTIONS" or request.path in EXEMPT_PATHS:
            return
        # Blueprints with a credential of their own (the /admin/ pages) never take the EHR's JWT.
        if request.blueprint in app.extensions.get("cds.auth.own_credential", ()):
            return
        verifier = _verifier(app, rt.config)
        store = rt.database()
        try:
            claims = verifier.verify(request.headers.get("Authorization"), path=request.path, store=store)
        except Rejected as exc:
            log.info("jwt rejected: %s", exc.category)
            raise Unauthorized() from None
        # Which trusted client called, for views that attribute work to it (an allowlisted value).
        g.client_issuer = claims["iss"]
        trusted = verifier.issuers.get(claims["iss"])
        if trusted is not None and trusted.fhir_servers is not None:
            issuer_fhir_servers.set(trusted.fhir_servers)
