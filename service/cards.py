"""Findings -> CDS Hooks cards. Wording, citations and override reasons come from cards/.

Every card carries a uuid (from the injected factory), a summary under 140 characters naming the
drugs, an indicator, a source with the rule id as `topic`, Markdown detail (Found / Why it matters
/ What to consider / Evidence), override reasons on warning and critical cards, absolute evidence
links, and suggestions in the FHIR version of the draft they act on.

Text that came from the client (drug names, condition names) is escaped: the CDS Hooks sandbox
renders card detail as Markdown with raw HTML allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from . import suggestions as build
from .engine import Evidence, Finding, Scope
from .facts import Drug

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~&])")
SUMMARY_LIMIT = 139


def md(text: str) -> str:
    """Escape untrusted text for Markdown (and the raw HTML some clients allow)."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def _fmt_mg(mg: float | None, route: str | None = None) -> str:
    if mg is None:
        return "?"
    if route == "intrathecal" and mg < 10:
        return f"{mg * 1000:g} mcg"
    return f"{round(mg, 3):g} mg"


def drug_label(drug: Drug) -> str:
    """Short drug name for a summary: ingredient(s), with the route when it is not oral."""
    base = "/".join(sorted(drug.ingredients))
    if drug.route and drug.route not in {"oral"}:
        return f"{drug.route} {base}"
    return base


def _join(names: list[str]) -> str:
    unique = list(dict.fromkeys(n for n in names if n))
    if len(unique) <= 1:
        return "".join(unique)
    return ", ".join(unique[:-1]) + " and " + unique[-1]


class CardRenderer:
    def __init__(self, knowledge: Any, uuid_factory: Callable[[], str], lookback_days: int = 90) -> None:
        self.knowledge = knowledge
        self.uuid = uuid_factory
        self.p = knowledge.presentation
        self.lookback_days = lookback_days

    # ------------------------------------------------------------------ text
    def _fields(self, finding: Finding) -> dict[str, str]:
        orders = finding.orders
        order_refs = {d.entry.ref for d in orders}
        others = [
            drug_label(e.drug)
            for e in finding.evidence
            if e.kind == "medication" and e.drug is not None and e.drug.entry.ref not in order_refs
        ]
        conditions = [
            e.condition.code.text or next((c.display for c in e.condition.code.codings if c.display), "")
            for e in finding.evidence
            if e.kind == "condition" and e.condition is not None
        ]
        doses = [e for e in finding.evidence if e.kind == "dose"]
        dose = doses[0] if doses else None
        return {
            "new": _join([drug_label(d) for d in orders]),
            "order_noun": "orders" if len(orders) > 1 else "order",
            "others": _join(others) or "other therapy",
            "conditions": _join(conditions[:2]),
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

    def _found(self, finding: Finding, extra: list[Evidence]) -> list[str]:
        labels = self.p["labels"]
        order_refs = {d.entry.ref for d in finding.orders}
        lines = [f"**{labels['new_order']}**: {self._drug_line(drug)}" for drug in finding.orders]
        seen = set()
        for e in [*finding.evidence, *extra]:
            if e.kind == "medication" and e.drug is not None and e.drug.entry.ref in order_refs:
                continue
            if e.key() in seen:
                continue
            seen.add(e.key())
            line = self._evidence_line(e)
            if line:
                lines.append(line)
        return lines

    def _drug_line(self, drug: Drug) -> str:
        labels = self.p["labels"]
        parts = [md(drug.name)]
        if drug.daily_mg is not None:
            parts.append(labels["daily_dose"].format(dose=_fmt_mg(drug.daily_mg, drug.route)))
        elif not drug.stops:
            parts.append(labels["dose_unknown"])
        if drug.route:
            parts.append(drug.route)
        if drug.entry.status and drug.role != "new":
            parts.append(md(drug.entry.status))
        if drug.stops:
            parts.append("stops therapy")
        if drug.entry.authored:
            parts.append(md(drug.entry.authored[:10]))
        return ", ".join(parts)

    def _evidence_line(self, e: Evidence) -> str | None:
        labels = self.p["labels"]
        if e.kind == "medication" and e.drug is not None:
            label = (
                labels["active"]
                if e.drug.role == "active"
                else labels["draft"]
                if e.drug.role == "draft"
                else labels["new_order"]
            )
            return f"**{label}**: {self._drug_line(e.drug)}"
        if e.kind == "condition" and e.condition is not None:
            c = e.condition
            name = c.code.text or next((x.display for x in c.code.codings if x.display), None) or "condition"
            codes = ", ".join(md(f"{x.code}") for x in c.code.codings if x.code)
            text = f"**{labels['condition']}**: {md(name)}"
            if codes:
                text += f" ({codes})"
            if c.clinical_status:
                text += f", {md(c.clinical_status)}"
            if c.recorded:
                text += f", {md(c.recorded[:10])}"
            return text
        if e.kind == "lab" and e.observation is not None:
            return f"**{labels['result']}**: {self._lab_line(e)}"
        if e.kind == "no-lab":
            names = _join([self.knowledge.valuesets[lab]["title"] for lab in e.labs])
            return f"**{labels['no_result'].format(days=self.lookback_days)}**: {md(names)}"
        if e.kind == "reason" and e.concept is not None:
            return f"**{labels['reason']}**: {md(' / '.join(e.concept.words()) or 'coded reason')}"
        if e.kind == "patient" and (e.age is not None or e.sex):
            parts = [labels["age"].format(age=e.age)] if e.age is not None else []
            parts += [md(e.sex)] if e.sex else []
            return f"**{labels['patient']}**: {', '.join(parts)}"
        if e.kind == "dose" and e.total_mg is not None:
            route = e.drugs[0].route if e.drugs else None
            text = f"**{labels['daily_dose'].format(dose=_fmt_mg(e.total_mg, route))}**"
            if e.drugs:
                text += ": " + md(_join([d.name for d in e.drugs]))
            if e.limit_mg is not None:
                text += f" (compared with {_fmt_mg(e.limit_mg, route)} per day)"
            return text
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
    def render(self, finding: Finding, *, patient_id: str | None) -> dict[str, Any]:
        rule = finding.rule
        card_spec = rule["card"]
        fields = self._fields(finding)
        sources = [self.knowledge.sources[s] for s in card_spec["citations"]]
        h = self.p["headings"]
        extra: list[Evidence] = []
        why = self._paragraphs(finding, "why", extra)
        consider = self._paragraphs(finding, "consider", extra)
        detail = [f"**{h['found']}**", *[f"- {line}" for line in self._found(finding, extra)], ""]
        detail += [f"**{h['why']}**", " ".join(why), ""]
        detail += [f"**{h['consider']}**", *[f"- {t}" for t in consider], ""]
        detail += [f"**{h['evidence']}**", *[f"- [{s['title']}]({s['url']})" for s in sources]]
        card: dict[str, Any] = {
            "uuid": self.uuid(),
            "summary": self._summary(finding, fields),
            "indicator": finding.indicator,
            "detail": "\n".join(detail),
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
        card["links"] = [{"label": s["title"][:120], "url": s["url"], "type": "absolute"} for s in sources]
        return card

    def _present(self, finding: Finding, selector: Mapping[str, Any]) -> bool:
        from .engine import matches

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
