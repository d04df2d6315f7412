"""Governance pages for the people who decide which rules are on: `/admin/` (CDS_ADMIN=on).

Read-only, server-rendered HTML with one stylesheet and no JavaScript: the rules catalogue (from
`cards/`, the same source as docs/RULES.md), each rule's card as a clinician sees it (rendered live
from the shipped firing sample in `service/check_samples/`), and override analytics (the numbers of
`spasticity-cds report --json`, from `Store.report`). It shows no patient data: the store holds none.

Access has its own credential (`CDS_ADMIN_TOKEN` as a bearer token, or `CDS_ADMIN_USER` /
`CDS_ADMIN_PASSWORD` as basic auth), never the EHR's JWT: an EHR's client key must not open the
governance pages, and a committee member has no EHR key.
"""

from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)


def init_admin(app: Flask) -> None:
    """Register the pages when the configuration turns them on; refuse an unsafe configuration."""
    from .access import check_configuration, exempt_from_jwt
    from .views import bp

    config = app.extensions["cds"].config
    if not config.admin:
        return
    check_configuration(config)
    exempt_from_jwt(app, bp.name)
    app.register_blueprint(bp)
    _warm_previews(app)
    _warm_templates(app)


def _warm_previews(app: Flask) -> None:
    """Evaluate the card previews now, so the first page view does not wait for them. A failure
    here must not stop the CDS service: the pages evaluate them again on first view."""
    from .previews import examples

    try:
        examples(app.extensions, app.extensions["cds"])
    except Exception:  # noqa: BLE001 - logged by type only; the hooks do not depend on this
        log.warning("admin card previews could not be evaluated at start-up", exc_info=False)


def _warm_templates(app: Flask) -> None:
    """Compile the page templates now (Jinja compiles a template on its first use, ~50 ms each on
    a busy machine), so the first view of a page after a worker starts is as fast as the next."""
    loader = app.jinja_env
    for name in ("admin/base.html", "admin/index.html", "admin/rules.html", "admin/rule.html",
                 "admin/analytics.html", "admin/error.html", "admin/_card.html"):  # fmt: skip
        try:
            loader.get_template(name)
        except Exception:  # noqa: BLE001 - a broken template shows on its page, not at start-up
            log.warning("admin template %s could not be compiled at start-up", name, exc_info=False)
