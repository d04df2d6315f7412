"""Findings -> CDS Hooks cards. Wording, citations and override reasons come from cards/.

Every card carries a uuid (from the injected factory), a summary under 140 characters naming the
drugs, an indicator, a source with the rule id as `topic`, Markdown detail (Found / Why it matters
/ What to consider), override reasons on warning and critical cards, the evidence once, as absolute
`links` labelled with the short titles of cards/sources.yaml, and suggestions in the FHIR version
of the draft they act on.

The card budget of docs/CARD-STYLE.md is kept here: the detail fits one screen (cards/presentation
.yaml `budget`), Found lines show no codes and no status the label already says, and a Found line an
earlier card of the same response already shows is not repeated (the later card says "See above").

Text that came from the client (drug names, condition names) is escaped: the CDS Hooks sandbox
renders card detail as Markdown with raw HTML allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import suggestions as build
from .engine import Evidence, Finding, Scope, matches
from .facts import Drug
from .knowledge import Knowledge
from .records import Concept
from .text import inline_markdown, plain_text

SUMMARY_LIMIT = 139
DEFAULT_BUDGET = {"max_chars": 900, "max_lines": 12, "link_label_max": 60}


def md(text: str) -> str:
    """Untrusted text as one inert inline Markdown run (see `service.text`)."""
    return inline_markdown(text)


def _fmt_mg(mg: float | None, route: str | None = None) -> str:
    if mg is None:
        return "?"
    if not math.isfinite(mg):  # an absurd dose as entered overflowed once multiplied: never "inf"
        return "more than 1e308 mg (as entered)"
    if route == "intrathecal" and mg < 10:
        return f"{mg * 1000:g} mcg"
    return f"{round(mg, 3):g} mg"


def drug_label(drug: Drug) -> str:
    """Short drug name for a summary: ingredient(s), with the route when it is not oral."""
    base = "/".join(sorted(drug.ingredients))
    if drug.route and drug.route not in {"oral"}:
        return f"{drug.route} {base}"
    return base


def short_label(title: str, limit: int) -> str:
    """A link label of at most `limit` characters, cut at a word boundary (never mid-word)."""
    if len(title) <= limit:
        return title
    cut = title[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:(") + "…"


def _join(names: list[str]) -> str:
    unique = list(dict.fromkeys(n for n in names if n))
    if len(unique) <= 1:
        return "".join(unique)
    return ", ".join(unique[:-1]) + " and " + unique[-1]


class CardRenderer:
    def __init__(
        self, knowledge: Knowledge, uuid_factory: Callable[[], str], lookback_days: int = 90
    ) -> None:
        self.knowledge = knowledge
        self.uuid = uuid_factory
        self.p = knowledge.presentation
        self.lookback_days = lookback_days

    # ------------------------------------------------------------------ text
    def _condition_name(self, code: Concept) -> str | None:
        """What the record calls the condition; for a bare code, the display our value sets give it."""
        return (
            code.text
            or next((x.display for x in code.codings if x.display), None)
            or self.knowledge.terminology.display_of(code)
        )

    def _fields(self, finding: Finding) -> dict[str, str]:
        orders = finding.orders
        order_refs = {d.entry.ref for d in orders}
        others = [
            drug_label(e.drug)
            for e in finding.evidence
            if e.kind == "medication" and e.drug is not None and e.drug.entry.ref not in order_refs
        ]
        conditions = [
            self._condition_name(e.condition.code) or ""
            for e in finding.evidence
            if e.kind == "condition" and e.condition is not None
        ]
        doses = [e for e in finding.evidence if e.kind == "dose"]
        dose = doses[0] if doses else None
        return {
            "new": _join([drug_label(d) for d in orders]),
            "order_noun": "orders" if len(orders) > 1 else "order",
            "others": _join(others) or "other therapy",
            "conditions": _join([plain_text(c) for c in conditions[:2]]),
            "dose": _fmt_mg(dose.total_mg, orders[0].route) if dose else "?",
            "limit": _fmt_mg(dose.limit_mg, orders[0].route) if dose and dose.limit_mg else "?",
            "lookback_days": str(self.lookback_days),
        }

    def _summary(self, finding: Finding, fields: Mapping[str, str]) -> str:
        spec = finding.rule["card"]["summary"]
        template = spec
        if isinstance(spec, list):
            template = next(
                item["text"] for item in spec if "when" not in item or finding.holds(item["when"])
            )
        text = str(template).format_map(fields)
        text = text[:1].upper() + text[1:]
        if len(text) > SUMMARY_LIMIT:
            text = text[: SUMMARY_LIMIT - 1].rstrip() + "…"
        return text

    def _paragraphs(self, finding: Finding, part: str, evidence: list[Evidence]) -> list[str]:
        """The paragraphs whose condition holds; what made a condition hold joins the evidence."""
        texts = []
        for paragraph in finding.rule["card"][part]:
            if "when" in paragraph:
                ok, found = finding.test(paragraph["when"])
                if not ok:
                    continue
                evidence.extend(found)
            texts.append(paragraph["text"])
        return texts

    def _found(self, finding: Finding, extra: list[Evidence]) -> list[tuple[str, str]]:
        """(label, text) pairs: the new orders first, then what made the rule and its text hold."""
        labels = self.p["labels"]
        order_refs = {d.entry.ref for d in finding.orders}
        lines = [(labels["new_order"], self._drug_line(drug, labels["new_order"])) for drug in finding.orders]
        seen = set()
        for e in [*finding.evidence, *extra]:
            if e.kind == "medication" and e.drug is not None and e.drug.entry.ref in order_refs:
                continue
            if e.key() in seen:
                continue
            seen.add(e.key())
            line = self._evidence_line(e)
            if line and line not in lines:
                lines.append(line)
        return lines

    def _drug_line(self, drug: Drug, label: str) -> str:
        """Name, daily dose, route, status (unless the label already says it) and date."""
        labels = self.p["labels"]
        parts = [md(drug.name)]
        if drug.daily_mg is not None:
            parts.append(labels["daily_dose"].format(dose=_fmt_mg(drug.daily_mg, drug.route)))
        elif not drug.stops:
            parts.append(labels["dose_unknown"])
        if drug.route:
            parts.append(drug.route)
        status = drug.entry.status
        if status and drug.role != "new" and status.lower() not in label.lower():
            parts.append(md(status))
        if drug.stops:
            parts.append("stops therapy")
        if drug.entry.authored and drug.role != "new":  # a new order's date is today: no news
            parts.append(labels.get("prescribed", "{date}").format(date=md(drug.entry.authored[:10])))
        return ", ".join(parts)

    def _evidence_line(self, e: Evidence) -> tuple[str, str] | None:
        """(label, text) for one piece of evidence. Codes are not shown: clinicians read names."""
        labels = self.p["labels"]
        if e.kind == "medication" and e.drug is not None:
            label = (
                labels["active"]
                if e.drug.role == "active"
                else labels["draft"]
                if e.drug.role == "draft"
                else labels["new_order"]
            )
            return label, self._drug_line(e.drug, label)
        if e.kind == "condition" and e.condition is not None:
            c = e.condition
            name = self._condition_name(c.code) or "condition"
            text = md(name)
            if c.clinical_status:
                text += f", {md(c.clinical_status)}"
            if c.recorded:
                text += ", " + labels.get("recorded", "{date}").format(date=md(c.recorded[:10]))
            return labels["condition"], text
        if e.kind == "lab" and e.observation is not None:
            return labels["result"], self._lab_line(e)
        if e.kind == "no-lab":
            names = _join([self.knowledge.valuesets[lab]["title"] for lab in e.labs])
            return labels["no_result"].format(days=self.lookback_days), md(names)
        if e.kind == "reason" and e.concept is not None:
            return labels["reason"], md(" / ".join(e.concept.words()) or "coded reason")
        if e.kind == "patient" and (e.age is not None or e.sex):
            parts = [labels["age"].format(age=e.age)] if e.age is not None else []
            parts += [md(e.sex)] if e.sex else []
            return labels["patient"], ", ".join(parts)
        if e.kind == "dose" and e.total_mg is not None:
            route = e.drugs[0].route if e.drugs else None
            text = md(_join([d.name for d in e.drugs])) if e.drugs else ""
            if e.limit_mg is not None:
                text += f" (compared with {_fmt_mg(e.limit_mg, route)} per day)"
            return labels["daily_dose"].format(dose=_fmt_mg(e.total_mg, route)), text.strip()
        return None

    def _lab_line(self, e: Evidence) -> str:
        labels = self.p["labels"]
        obs = e.observation
        assert obs is not None and e.lab is not None
        title = self.knowledge.valuesets[e.lab]["title"]
        comparator = getattr(obs, "comparator", None) or ""
        text = f"{md(title)} {comparator}{obs.value:g} {md(obs.unit or '')}".rstrip()
        if obs.effective is not None:
            text += f" on {obs.effective.date().isoformat()}"
        extras = []
        if obs.range_low is not None and obs.range_high is not None:
            extras.append(
                labels["reference_range"].format(low=f"{obs.range_low:g}", high=f"{obs.range_high:g}")
            )
        elif obs.range_high is not None:
            extras.append(labels["reference_high"].format(high=f"{obs.range_high:g}"))
        extras.extend(labels["flag"].format(flag=md(f)) for f in obs.interpretation)
        if extras:
            text += " (" + ", ".join(extras) + ")"
        return text

    # ------------------------------------------------------------------ card
    def render_all(self, findings: Sequence[Finding], *, patient_id: str | None) -> list[dict[str, Any]]:
        """The cards of one response, in order; a Found line shows in the first card that has it."""
        shown: set[str] = set()
        return [self.render(f, patient_id=patient_id, shown=shown) for f in findings]

    def _sources(self, finding: Finding) -> list[Mapping[str, Any]]:
        """The rule's citations whose condition (card/citations_when) holds; all if none would."""
        spec = finding.rule["card"]
        conditions = spec.get("citations_when", {})
        ids = [c for c in spec["citations"] if c not in conditions or finding.holds(conditions[c])]
        return [self.knowledge.sources[c] for c in ids or spec["citations"]]

    def _detail(
        self, found: list[tuple[str, str]], repeated: list[str], why: list[str], consider: list[str]
    ) -> tuple[str, int]:
        """Markdown detail within the budget, and how many Found lines it lists (fewer, with a
        count of the rest, when all would not fit)."""
        h, labels = self.p["headings"], self.p["labels"]
        budget = {**DEFAULT_BUDGET, **self.p.get("budget", {})}
        # "Why" is one run-in paragraph: a heading line followed by text renders as one paragraph in
        # CommonMark anyway, so say it as one ("**Why it matters:** ...") and save a line.
        tail = ["", f"**{h['why']}:** {' '.join(why)}", "", f"**{h['consider']}**"]
        tail += [f"- {t}" for t in consider]
        keep = len(found)
        while True:
            lines = [f"**{h['found']}**"]
            lines += [f"- **{label}**: {text}".rstrip(": ") for label, text in found[:keep]]
            if keep < len(found):
                lines.append(f"- {labels['more_found'].format(count=len(found) - keep)}")
            if repeated:
                lines.append(f"- **{labels['see_above']}**: {', '.join(repeated)}")
            detail = "\n".join(lines + tail)
            non_empty = sum(1 for line in detail.splitlines() if line.strip())
            if keep <= 1 or (len(detail) <= budget["max_chars"] and non_empty <= budget["max_lines"]):
                return detail, keep
            keep -= 1

    def render(
        self, finding: Finding, *, patient_id: str | None, shown: set[str] | None = None
    ) -> dict[str, Any]:
        """One card. `shown`: Found lines earlier cards of the response show (updated here)."""
        rule = finding.rule
        card_spec = rule["card"]
        fields = self._fields(finding)
        sources = self._sources(finding)
        extra: list[Evidence] = []
        why = self._paragraphs(finding, "why", extra)
        consider = self._paragraphs(finding, "consider", extra)
        found = self._found(finding, extra)
        repeated = [label for label, text in found if shown is not None and f"{label}: {text}" in shown]
        found = [(label, text) for label, text in found if shown is None or f"{label}: {text}" not in shown]
        counts = {label: repeated.count(label) for label in dict.fromkeys(repeated)}
        see_above = [f"{label} ({n})" if n > 1 else label for label, n in counts.items()]
        limit = int(self.p.get("budget", {}).get("link_label_max", DEFAULT_BUDGET["link_label_max"]))
        detail, listed = self._detail(found, see_above, why, consider)
        if shown is not None:  # only lines this card lists count as said; a trimmed one is not
            shown.update(f"{label}: {text}" for label, text in found[:listed])
        card: dict[str, Any] = {
            "uuid": self.uuid(),
            "summary": self._summary(finding, fields),
            "indicator": finding.indicator,
            "detail": detail,
            "source": {
                "label": self.p["source_label"],
                "url": sources[0]["url"],
                "topic": {"system": self.p["rule_system"], "code": rule["id"], "display": rule["title"]},
            },
        }
        suggestions = self._suggestions(finding, fields, patient_id)
        if suggestions:
            card["selectionBehavior"] = "at-most-one"
            card["suggestions"] = suggestions
        if finding.indicator in {"warning", "critical"} and card_spec.get("override_reasons"):
            card["overrideReasons"] = [
                {"system": self.p["override_system"], "code": r["code"], "display": r["display"]}
                for r in card_spec["override_reasons"]
            ]
        card["links"] = [
            {"label": s.get("short") or short_label(s["title"], limit), "url": s["url"], "type": "absolute"}
            for s in sources
        ]
        return card

    def _present(self, finding: Finding, selector: Mapping[str, Any]) -> bool:
        scope: Scope = finding.scopes[0]
        pool = scope.facts.starting() + scope.facts.existing()
        order_refs = {d.entry.ref for d in finding.orders}
        return any(matches(d, selector) for d in pool if d.entry.ref not in order_refs)

    def _suggestions(
        self, finding: Finding, fields: Mapping[str, str], patient_id: str | None
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        fallbacks: list[dict[str, Any]] = []
        version = finding.orders[0].entry.fhir_version
        orders = self.knowledge.orders
        recommended_given = False
        for spec in finding.rule["card"].get("suggestions", []):
            if "when" in spec and not finding.holds(spec["when"]):
                continue
            if "unless_present" in spec and self._present(finding, spec["unless_present"]):
                continue
            actions: list[dict[str, Any]] = []
            if spec["action"] == "remove-draft":
                actions = build.remove_drafts(finding.orders, fields["new"])
            elif spec["action"] == "replace-draft":
                if len(finding.orders) == 1:
                    action = build.replace_draft(
                        finding.orders[0], orders["replacements"][spec["replacement"]], self.knowledge
                    )
                    actions = [action] if action else []
            elif spec["action"] == "order-lab":
                actions = [
                    build.lab_order(version, self.knowledge, orders["lab_orders"][spec["test"]], patient_id)
                ]
            elif spec["action"] == "order-referral":
                actions = [build.referral(version, orders["referrals"][spec["referral"]], patient_id)]
            if not actions:
                continue
            suggestion: dict[str, Any] = {"label": spec["label"].format_map(fields), "uuid": self.uuid()}
            if spec.get("recommended") and not recommended_given:
                suggestion["isRecommended"] = True
                recommended_given = True
            suggestion["actions"] = actions
            (fallbacks if spec.get("fallback") else out).append(suggestion)
        return out or fallbacks
