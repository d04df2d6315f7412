"""Card previews: each rule's card as a clinician sees it, without an EHR.

The golden cases in tests/golden are not in the wheel; the firing and silent samples of
`spasticity-cds check` are (`service/check_samples/samples.json`, built from those golden cases and
kept current by tests/contracts). Each preview is the live answer of this very service to the
rule's firing sample (the pipeline, with today's knowledge and nothing recorded in the store), so a
preview can never show wording the service no longer sends; tests/admin/test_previews.py checks
each against its golden response. Samples carry full prefetch and no FHIR server: rendering a
preview makes no outbound call. The samples' patients are synthetic test data.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

from ..cardkeys import rule_id_of
from ..check import load_samples
from ..errors import CdsError
from ..pipeline import evaluate_hook

_EXTENSION = "cds.admin.previews"
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Example:
    """One shipped sample of a rule: the golden case it came from and what the service answers now."""

    golden: str  # e.g. tests/golden/<rule>/fires-... (the case in the source repository)
    expect: str  # "fires" | "silent"
    service: str
    card: Mapping[str, Any] | None  # this rule's card in the answer, if any
    error: str | None = None  # why the sample could not be evaluated

    @property
    def name(self) -> str:
        return self.golden.rsplit("/", 1)[-1]

    @property
    def as_expected(self) -> bool:
        return self.error is None and (self.card is not None) == (self.expect == "fires")


def _markdown() -> MarkdownIt:
    # Raw HTML in the source is shown as text, never passed through; links open without an opener.
    renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})

    def link_open(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", "noopener noreferrer")
        return str(self.renderToken(tokens, idx, options, env))

    renderer.add_render_rule("link_open", link_open)
    return renderer


_MARKDOWN = _markdown()


def render_markdown(text: str) -> Markup:
    """Card detail Markdown -> safe HTML (CommonMark, HTML in the source escaped)."""
    return Markup(_MARKDOWN.render(text or ""))  # noqa: S704 - markdown-it escapes the source (html off)


def _evaluate(sample: Mapping[str, Any], runtime: Any) -> Example:
    rule = sample["rule"]
    uuids = itertools.count(1)
    preview_runtime = replace(runtime, uuid_factory=lambda: f"00000000-0000-4000-8000-{next(uuids):012d}")
    service = runtime.knowledge.services.get(sample["service"])
    if service is None:
        return Example(sample["golden"], sample["expect"], sample["service"], None, "unknown service")
    try:
        response = evaluate_hook(sample["request"], service=service, runtime=preview_runtime)
    except CdsError as exc:
        return Example(sample["golden"], sample["expect"], sample["service"], None, exc.message)
    card = next((c for c in response["cards"] if rule_id_of(c) == rule), None)
    return Example(sample["golden"], sample["expect"], sample["service"], card)


def examples(app_extensions: dict[str, Any], runtime: Any) -> dict[str, list[Example]]:
    """Rule id -> its evaluated samples (firing first). Computed once per process: the knowledge
    does not change while it runs, and the samples do not depend on today's date."""
    cached = app_extensions.get(_EXTENSION)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    with _LOCK:
        cached = app_extensions.get(_EXTENSION)
        if cached is None:
            found: dict[str, list[Example]] = {}
            for sample in load_samples():
                found.setdefault(sample["rule"], []).append(_evaluate(sample, runtime))
            for items in found.values():
                items.sort(key=lambda e: e.expect != "fires")
            cached = app_extensions[_EXTENSION] = found
    return cached
