"""Who may read /admin/: a credential of its own, compared in constant time.

- With `CDS_ADMIN_TOKEN` set, `Authorization: Bearer <token>` opens the pages.
- With `CDS_ADMIN_USER` and `CDS_ADMIN_PASSWORD` set, HTTP basic auth with that pair does (what a
  browser can send by itself: the 401 carries `WWW-Authenticate: Basic`).
- With neither set the pages are open, which start-up allows only while `CDS_AUTH` is off (a
  laptop or a closed network); with `CDS_AUTH=jwt` one of them is required.

The EHR's JWT path never applies here: the JWT hook skips this blueprint (see `install`), and an EHR
token is not an admin credential. Failures answer 401 with no detail, as the JWT path does.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from typing import Any

from flask import Flask, Response, request

from ..errors import error_response

log = logging.getLogger(__name__)

REALM = "spasticity-cds admin"


def _configured(config: Any) -> tuple[str, tuple[str, str] | None]:
    token = str(config.admin_token or "")
    user, password = str(config.admin_user or ""), str(config.admin_password or "")
    return token, ((user, password) if user and password else None)


def check_configuration(config: Any) -> None:
    """Fail at start-up rather than serve the pages open, or half-configured, by mistake."""
    token, pair = _configured(config)
    if bool(config.admin_user) != bool(config.admin_password):
        raise ValueError("CDS_ADMIN_USER and CDS_ADMIN_PASSWORD must be set together")
    if str(config.auth).strip().lower() == "jwt" and not token and pair is None:
        raise ValueError(
            "CDS_ADMIN=on with CDS_AUTH=jwt needs an admin credential: CDS_ADMIN_TOKEN, or "
            "CDS_ADMIN_USER and CDS_ADMIN_PASSWORD"
        )


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def allowed(authorization: str | None, config: Any) -> bool:
    """True when the Authorization header carries the configured admin credential (or none is set)."""
    token, pair = _configured(config)
    if not token and pair is None:
        return True
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if not value:
        return False
    if scheme.lower() == "bearer" and token:
        return _same(value, token)
    if scheme.lower() == "basic" and pair is not None:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Both compared, always, so the time taken does not tell which one was wrong.
        user_ok, password_ok = _same(user, pair[0]), _same(password, pair[1])
        return bool(sep) and user_ok and password_ok
    return False


def _challenge(config: Any) -> Response:
    response = error_response(401, "Unauthorized")
    token, pair = _configured(config)
    schemes = ([f'Basic realm="{REALM}", charset="UTF-8"'] if pair else []) + (
        [f'Bearer realm="{REALM}"'] if token else []
    )
    for scheme in schemes:
        response.headers.add("WWW-Authenticate", scheme)
    response.headers["Cache-Control"] = "no-store"
    return response


def exempt_from_jwt(app: Flask, blueprint_name: str) -> None:
    """Take the blueprint out of the EHR JWT check (service/auth.py): it has its own credential."""
    app.extensions.setdefault("cds.auth.own_credential", set()).add(blueprint_name)


def require_admin_credential() -> Response | None:
    """`before_request` of the admin blueprint: None to go on, or the 401 challenge."""
    from ..runtime import current

    config = current().config
    if allowed(request.headers.get("Authorization"), config):
        return None
    log.info("admin credential rejected")
    return _challenge(config)
