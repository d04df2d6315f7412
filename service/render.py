"""A CDS Hooks response as a clinician sees it: one HTML page laid out like an EHR's card panel.

Why the service renders its own cards: card text is judged by how it reads on a screen, not as
JSON. `spasticity-cds render FILE` turns a response (or, with `--request`, the response to a hook
request) into a self-contained page; `make card-shots` photographs the ALS diazepam, MS diazepam
and dantrolene liver cases with headless Chromium into docs/cards/ (tools/card_shots.py).

The layout follows the CDS Hooks sandbox: a card per row with a coloured edge by indicator, the
summary in bold, the detail as CommonMark (raw HTML off, as a careful EHR renders it), the source,
suggestion buttons, link buttons and a dismiss control with the override reasons. Every string
from the response is escaped; nothing is fetched (no scripts, fonts or images from elsewhere).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False})
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_COLOURS = {"info": "#2a7ab0", "warning": "#e0a100", "critical": "#c62828"}

_STYLE = """
body { font: 14px/1.45 "DejaVu Sans", Arial, sans-serif; color: #222; background: #eef1f4; margin: 0; }
main { width: 470px; padding: 12px; }
h1 { font-size: 13px; font-weight: normal; color: #555; margin: 0 0 8px; }
.card { background: #fff; border: 1px solid #d5dbe0; border-left: 6px solid var(--edge);
        border-radius: 4px; padding: 10px 12px; margin-bottom: 10px; }
.summary { font-weight: bold; font-size: 15px; margin-bottom: 2px; }
.indicator { float: right; font-size: 11px; text-transform: uppercase; color: var(--edge); }
.source { color: #666; font-size: 12px; margin-bottom: 6px; }
.detail p { margin: 6px 0 2px; }
.detail ul { margin: 2px 0 4px; padding-left: 18px; }
.detail li { margin: 1px 0; }
.buttons { margin-top: 8px; display: flex; flex-wrap: wrap; gap: 6px; }
.buttons span { border: 1px solid #8aa4bd; border-radius: 3px; padding: 3px 8px; font-size: 12px; }
.suggestion { background: #e8f1f8; }
.suggestion.recommended { background: #d3ecd5; border-color: #5a9a5f; }
.link { color: #1f5f99; text-decoration: underline; border: none !important; padding-left: 0 !important; }
.dismiss { margin-top: 8px; font-size: 12px; color: #555; }
.dismiss select { font-size: 12px; max-width: 300px; }
.date { white-space: nowrap; }
.held { font-size: 12px; color: #555; font-style: italic; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _nowrap_dates(markup: str) -> str:
    """Keep 2026-11-21 on one line (a browser would break it at a hyphen)."""
    return _DATE.sub(r'<span class="date">\1</span>', markup)


def _card(card: Mapping[str, Any]) -> str:
    indicator = str(card.get("indicator", "info"))
    edge = _COLOURS.get(indicator, _COLOURS["info"])
    parts = [
        f'<section class="card" style="--edge:{edge}">',
        f'<div class="indicator">{_e(indicator)}</div>',
        f'<div class="summary">{_e(card.get("summary", ""))}</div>',
        f'<div class="source">Source: {_e((card.get("source") or {}).get("label", ""))}</div>',
        f'<div class="detail">{_nowrap_dates(_MARKDOWN.render(str(card.get("detail", ""))))}</div>',
    ]
    buttons = []
    for suggestion in card.get("suggestions") or []:
        kind = "suggestion recommended" if suggestion.get("isRecommended") else "suggestion"
        buttons.append(f'<span class="{kind}">{_e(suggestion.get("label", ""))}</span>')
    for link in card.get("links") or []:
        url, label = _e(link.get("url", "")), _e(link.get("label", ""))
        buttons.append(f'<span class="link" title="{url}">{label}</span>')
    if buttons:
        parts.append(f'<div class="buttons">{"".join(buttons)}</div>')
    reasons = card.get("overrideReasons") or []
    if reasons:
        options = "".join(f"<option>{_e(r.get('display') or r.get('code'))}</option>" for r in reasons)
        select = f"<select><option>Reason…</option>{options}</select>"
        parts.append(f'<div class="dismiss">Dismiss: {select}</div>')
    parts.append("</section>")
    return "\n".join(parts)


def render_html(response: Mapping[str, Any], *, title: str = "CDS cards") -> str:
    """A self-contained HTML page showing the cards of one CDS Hooks response."""
    cards = response.get("cards") or []
    body = [f"<h1>{_e(title)}: {len(cards)} card(s)</h1>"]
    body += [_card(card) for card in cards]
    held = ((response.get("extension") or {}).get("spasticity-cds") or {}).get("heldBack")
    if held:
        count = int(held.get("count", 0))
        body.append(f'<p class="held">{count} card(s) already overridden, not shown again.</p>')
    if not cards and not held:
        body.append('<p class="held">No cards.</p>')
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><main>\n{chr(10).join(body)}\n</main></body></html>\n"
    )
