"""One hook call from a validated request to a response: the data path in one place.

draft orders -> records -> recognised new orders -> relevant rules? (none: no FHIR call at all)
-> data those rules need (prefetch, else FHIR server) -> facts -> findings -> cards.
"""

from __future__ import annotations

import logging
import time
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import engine
from .cards import CardRenderer
from .errors import BadRequest
from .facts import Drug, build_facts, to_drug
from .fhir import (
    References,
    condition_entries,
    has_reason_reference,
    medication_entries,
    medication_index,
    observation_entries,
    patient_entry,
    resources_of,
    unresolved_medication_ids,
    with_referenced_reasons,
)
from .metrics import observe_held
from .records import MedicationEntry
from .runtime import Runtime

ORDERS_FIELD = {"medication-prescribe": "medications"}
_SEVERITY = {"critical": 0, "warning": 1, "info": 2}

log = logging.getLogger(__name__)


def _draft_bundle(body: Mapping[str, Any], hook: str) -> tuple[str, Any]:
    name = ORDERS_FIELD.get(hook, "draftOrders")
    return f"context.{name}", body["context"].get(name)


def _check_draft_shape(field: str, bundle: Any) -> None:
    """Draft orders come as a Bundle (a single order is tolerated); any other resource in their
    place (a Patient, say) is a client error the caller must hear about, not an empty answer."""
    if not isinstance(bundle, dict):
        return
    kind = bundle.get("resourceType")
    if not isinstance(kind, str) or kind in {"Bundle", "OperationOutcome"}:
        return
    if kind.endswith(("Request", "Order")) or kind == "MedicationStatement":
        return
    raise BadRequest(f"{field}: expected a Bundle of draft orders, got a {kind}", field=field)


def _selected(entry: MedicationEntry, selections: Sequence[str]) -> bool:
    ref = entry.ref
    return any(s == ref or s.endswith("/" + ref) for s in selections)


class _LazyIndex(Mapping[str, Any]):
    """Medication (and other) resources by reference, built only if some reference needs it.

    Most drafts carry a medicationCodeableConcept; walking a large prefetch to index Medications
    that nobody asks for cost more than the rest of an irrelevant order's evaluation.
    """

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._index: dict[str, Any] | None = None

    def _built(self) -> dict[str, Any]:
        if self._index is None:
            self._index = self._build()
        return self._index

    def __getitem__(self, key: str) -> Any:
        return self._built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


@dataclass
class Drafts:
    """The draft orders as first read: the new ones, the others (co-medication drafts), and what
    their references resolve against (the draft Bundle's resources, Medications of the request)."""

    new: list[MedicationEntry]
    others: list[MedicationEntry]
    resources: list[dict[str, Any]]
    medications: Mapping[str, Any]

    def with_record(self, resources: Sequence[Mapping[str, Any]]) -> Drafts:
        """The drafts with reasonReferences resolved against the patient's record (its Conditions
        and Observations among `resources`); entries without one are kept as they are. The record
        is indexed only when some draft carries such a reference (most give none, or a code)."""
        if not any(has_reason_reference(e) for e in (*self.new, *self.others)):
            return self
        references = _reference_index(resources)
        if not references:
            return self
        resolver = References(self.resources, ChainMap(dict(references), self.medications))  # type: ignore[arg-type]
        return Drafts(
            with_referenced_reasons(self.new, resolver),
            with_referenced_reasons(self.others, resolver),
            self.resources,
            self.medications,
        )


def split_drafts(
    body: Mapping[str, Any], hook: str, max_orders: int, *, validate: bool | None = None
) -> Drafts:
    """The draft orders, read once. For order-select only the selections are new."""
    field, bundle = _draft_bundle(body, hook)
    _check_draft_shape(field, bundle)
    try:
        resources = resources_of(bundle)
    except ValueError as exc:
        raise BadRequest(f"{field}: {exc}", field=field) from None
    if resources is None:
        raise BadRequest(f"{field}: an OperationOutcome is not a Bundle of draft orders", field=field)
    if len(resources) > max_orders:
        raise BadRequest(f"{field}: more than {max_orders} draft orders", field=field)
    prefetched = (body.get("prefetch") or {}).values()
    medications = _LazyIndex(lambda: medication_index(bundle, *prefetched))
    entries = medication_entries(resources, origin="draft", medications=medications, validate=validate)
    selections = body["context"].get("selections") if hook == "order-select" else None
    if selections is None:
        return Drafts(entries, [], resources, medications)
    new = [e for e in entries if _selected(e, selections)]
    return Drafts(new, [e for e in entries if not _selected(e, selections)], resources, medications)


def _count_prefetch(body: Mapping[str, Any]) -> int:
    total = 0
    for value in (body.get("prefetch") or {}).values():
        if isinstance(value, dict):
            entries = value.get("entry")
            total += len(entries) if isinstance(entries, list) else 1
    return total


def _reference_index(resources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Conditions and Observations by "Type/id", for resolving an order's reasonReference."""
    index: dict[str, Any] = {}
    for resource in resources:
        kind, ident = resource.get("resourceType"), resource.get("id")
        if kind in {"Condition", "Observation"} and isinstance(ident, str):
            index[f"{kind}/{ident}"] = resource
    return index


def _missing_medications(
    body: Mapping[str, Any],
    resources: Sequence[Mapping[str, Any]],
    index: Mapping[str, Any],
    runtime: Runtime,
    seconds: float,
) -> list[dict[str, Any]]:
    """Medications that active orders point at but that neither the prefetch nor its `_include`
    carried (`index`, built only if some order points at a Medication): fetched in one batched
    search within what is left of the request's deadline."""
    fetch = getattr(runtime.fetcher, "fetch_by_ids", None)
    if fetch is None or not body.get("fhirServer"):
        return []
    missing = unresolved_medication_ids(resources, index)
    if not missing:
        return []
    found: list[dict[str, Any]] = fetch("Medication", missing, request=body, seconds=seconds)
    return found


def _record_medications(body: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> _LazyIndex:
    """Medications of the prefetch and the fetched record by reference, built on first use."""
    return _LazyIndex(
        lambda: medication_index(
            *(body.get("prefetch") or {}).values(), {"entry": [{"resource": r} for r in resources]}
        )
    )


def _by_entry(
    drugs: Sequence[Drug], entries: Sequence[MedicationEntry]
) -> Iterator[tuple[Drug, MedicationEntry]]:
    """Each recognised drug with its entry as last read (the same position in the draft Bundle)."""
    latest = {entry.ref: entry for entry in entries}
    for drug in drugs:
        yield drug, latest.get(drug.entry.ref, drug.entry)


def _hold_back_experimental(findings: Sequence[engine.Finding]) -> list[engine.Finding]:
    """Drop the findings of `status: experimental` rules, after logging and counting them.

    A new rule runs on real traffic, where its firing rate and false alarms can be measured (log
    line, `cds_cards_held_total`), before any clinician sees its card (docs/KNOWLEDGE.md).
    """
    held = [str(f.rule["id"]) for f in findings if f.rule["status"] == "experimental"]
    if not held:
        return list(findings)
    observe_held(held)
    log.info("experimental rules fired; cards held back", extra={"fields": {"rules_held": held}})
    return [f for f in findings if f.rule["status"] != "experimental"]


def evaluate_hook(body: Mapping[str, Any], *, service: Mapping[str, Any], runtime: Runtime) -> dict[str, Any]:
    """The response for a validated hook request."""
    return {"cards": render_cards(find(body, service=service, runtime=runtime), body=body, runtime=runtime)}


def render_cards(
    findings: Sequence[engine.Finding], *, body: Mapping[str, Any], runtime: Runtime
) -> list[dict[str, Any]]:
    """The cards for findings, in order (a Found line shows in the first card that has it)."""
    renderer = CardRenderer(runtime.knowledge, runtime.uuid_factory, runtime.config.lab_lookback_days)
    return renderer.render_all(findings, patient_id=body["context"].get("patientId"))


def find(body: Mapping[str, Any], *, service: Mapping[str, Any], runtime: Runtime) -> list[engine.Finding]:
    """The findings for a validated hook request (what the cards will be about)."""
    knowledge, config = runtime.knowledge, runtime.config
    if _count_prefetch(body) > config.max_prefetch_entries:
        raise BadRequest(f"prefetch: more than {config.max_prefetch_entries} resources", field="prefetch")
    # One reading of the drafts, without model validation: enough to recognise the drugs. An
    # order no rule is about stops here, before any FHIR call. (fhir.resources validation gave the
    # same records, tests/fhir property tests, at 13% of a relevant request's cost: it is not on
    # the hot path, service/fhir/models.py.)
    drafts = split_drafts(body, service["hook"], config.max_draft_orders, validate=False)
    terminology = knowledge.terminology
    new_drugs = [d for e in drafts.new if (d := to_drug(e, "new", terminology))]
    rules = engine.relevant_rules(knowledge, new_drugs)
    if not rules:
        return []

    version = new_drugs[0].entry.fhir_version
    needs = {need for rule in rules for need in rule["needs"]}
    keys = knowledge.keys_for(needs, version)
    started = time.monotonic()
    optional = knowledge.optional_keys_for(needs, version)
    gathered = (
        runtime.fetcher.gather(templates=knowledge.templates, needed=keys, request=body, optional=optional)
        if keys
        else {}
    )
    resources = [r for key in sorted(gathered) for r in gathered[key]]
    record_medications = _record_medications(body, resources)
    fetched = _missing_medications(
        body, resources, record_medications, runtime, config.fhir_timeout - (time.monotonic() - started)
    )
    if fetched:
        resources += fetched
        record_medications = _record_medications(body, resources)
    # Now that the patient's record is here, a draft's reasonReference to a Condition on the
    # problem list resolves: only drafts that carry one are read again (their drug is unchanged).
    drafts = drafts.with_record(resources)
    records = medication_entries(
        resources,
        origin="record",
        medications=record_medications,
        hint=version,
        wanted=terminology.is_medication_of_interest,
    )
    now = runtime.clock()
    facts = build_facts(
        new_drugs=[replace(drug, entry=entry) for drug, entry in _by_entry(new_drugs, drafts.new)],
        draft_entries=drafts.others,
        record_entries=records,
        conditions=condition_entries(
            resources, wanted=lambda code: bool(terminology.valuesets_of(code, knowledge.condition_valuesets))
        ),
        observations=observation_entries(resources, wanted=terminology.is_lab_of_interest),
        terminology=terminology,
        condition_valuesets=knowledge.condition_valuesets,
        now=now,
        lookback_days=config.lab_lookback_days,
        patient=patient_entry(resources, body["context"].get("patientId")) if "patient" in needs else None,
    )
    findings = _hold_back_experimental(engine.evaluate(knowledge, facts, rules))
    # Most severe first (stable): a critical or warning card is never below an info card's fold.
    return sorted(findings, key=lambda f: _SEVERITY.get(f.indicator, len(_SEVERITY)))
