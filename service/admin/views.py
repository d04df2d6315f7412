"""The /admin/ pages: index, rules catalogue, one rule with its card previews, analytics.

Views stay thin: the numbers come from `analytics`, the rule text from `rules`, the cards from
`previews`; templates only lay them out. Every response is marked no-store and carries a strict
Content-Security-Policy (no script at all, styles from this blueprint only).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from ..runtime import current
from ..version import __version__
from . import analytics as numbers
from . import chart, previews
from . import rules as catalogue
from .access import require_admin_credential

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

INDICATORS = ("critical", "warning", "info")
_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

bp.before_request(require_admin_credential)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "admin.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def _page(template: str, status: int = 200, **context: Any) -> Response:
    rt = current()
    html = render_template(
        template,
        knowledge_version=rt.knowledge.version,
        service_version=__version__,
        **context,
    )
    return Response(html, status=status, mimetype="text/html")


def _rule_or_none(rule_id: str) -> Any:
    return current().knowledge.rules_by_id.get(rule_id)


@bp.get("/")
def index() -> Response:
    rt = current()
    counts: dict[str, int] = {}
    for rule in rt.knowledge.rules:
        counts[rule["status"]] = counts.get(rule["status"], 0) + 1
    return _page("admin/index.html", rules=rt.knowledge.rules, status_counts=counts, periods=numbers.PERIODS)


@bp.get("/rules")
def rules() -> Response:
    rt = current()
    examples = previews.examples(current_app.extensions, rt)
    rows = [
        {
            "rule": rule,
            "indicator": catalogue.indicator_text(rule),
            "triggers": (found := catalogue.triggers(rule)),
            "requires": catalogue.unique([p for t in found for p in t.require]),
            "unless": catalogue.unique([p for t in found for p in t.unless]),
            "review": catalogue.review(rule, rt.clock().date()),
            "examples": examples.get(rule["id"], []),
        }
        for rule in rt.knowledge.rules
    ]
    return _page("admin/rules.html", rows=rows)


@bp.get("/rules/<rule_id>")
def rule(rule_id: str) -> Response:
    rt = current()
    found = _rule_or_none(rule_id)
    if found is None:
        return _page("admin/error.html", 404, title="No such rule", message=f"There is no rule {rule_id!r}.")
    examples = previews.examples(current_app.extensions, rt).get(rule_id, [])
    return _page(
        "admin/rule.html",
        rule=found,
        indicator=catalogue.indicator_text(found),
        indicator_cases=catalogue.indicator_cases(found),
        triggers=catalogue.triggers(found),
        citations=catalogue.citations(found, rt.knowledge),
        review=catalogue.review(found, rt.clock().date()),
        examples=examples,
        render_markdown=previews.render_markdown,
        override_system=rt.knowledge.presentation.get("override_system"),
    )


@bp.get("/analytics")
def analytics() -> Response:
    rt = current()
    days = numbers.period_of(request.args.get("days"))
    if days is None:
        allowed = ", ".join(str(p) for p in numbers.PERIODS)
        return _page(
            "admin/error.html", 400, title="Unknown period", message=f"days must be one of {allowed}."
        )
    data = numbers.build(rt.store, rt.knowledge, days, rt.clock)
    return _page(
        "admin/analytics.html",
        data=data,
        periods=numbers.PERIODS,
        chart=chart.render(data.per_day),
        held_back=numbers.held_back,
    )
