"""One hook call from a validated request to a response: the data path in one place.

draft orders -> records -> recognised new orders -> relevant rules? (none: no FHIR call at all)
-> data those rules need (prefetch, else FHIR server) -> facts -> findings -> cards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from . import engine
from .cards import CardRenderer
from .errors import BadRequest
from .facts import build_facts, to_drug
from .fhir import (
    condition_entries,
    medication_entries,
    medication_index,
    observation_entries,
    patient_entry,
    resources_of,
)
from .records import MedicationEntry

ORDERS_FIELD = {"medication-prescribe": "medications"}


def _draft_bundle(body: Mapping[str, Any], hook: str) -> tuple[str, Any]:
    name = ORDERS_FIELD.get(hook, "draftOrders")
    return f"context.{name}", body["context"].get(name)


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


def split_drafts(
    body: Mapping[str, Any],
    hook: str,
    max_orders: int,
    references: Mapping[str, Any] | None = None,
    *,
    validate: bool | None = None,
) -> tuple[list[MedicationEntry], list[MedicationEntry]]:
    """(new orders, co-medication drafts). For order-select only the selections are new."""
    field, bundle = _draft_bundle(body, hook)
    try:
        resources = resources_of(bundle)
    except ValueError as exc:
        raise BadRequest(f"{field}: {exc}", field=field) from None
    if resources is None:
        raise BadRequest(f"{field}: an OperationOutcome is not a Bundle of draft orders", field=field)
    if len(resources) > max_orders:
        raise BadRequest(f"{field}: more than {max_orders} draft orders", field=field)
    prefetched = (body.get("prefetch") or {}).values()
    medications = _LazyIndex(lambda: {**medication_index(bundle, *prefetched), **(references or {})})
    entries = medication_entries(resources, origin="draft", medications=medications, validate=validate)
    selections = body["context"].get("selections") if hook == "order-select" else None
    if selections is None:
        return entries, []
    new = [e for e in entries if _selected(e, selections)]
    return new, [e for e in entries if not _selected(e, selections)]


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


def evaluate_hook(body: Mapping[str, Any], *, service: Mapping[str, Any], runtime: Any) -> dict[str, Any]:
    """The response for a validated hook request."""
    knowledge, config = runtime.knowledge, runtime.config
    if _count_prefetch(body) > config.max_prefetch_entries:
        raise BadRequest(f"prefetch: more than {config.max_prefetch_entries} resources", field="prefetch")
    # First reading: just enough to recognise the drugs. An order no rule is about stops here,
    # before any model validation or FHIR call.
    new_entries, draft_entries = split_drafts(body, service["hook"], config.max_draft_orders, validate=False)
    terminology = knowledge.terminology
    new_drugs = [d for e in new_entries if (d := to_drug(e, "new", terminology))]
    rules = engine.relevant_rules(knowledge, new_drugs)
    if not rules:
        return {"cards": []}

    version = new_drugs[0].entry.fhir_version
    needs = {need for rule in rules for need in rule["needs"]}
    keys = knowledge.keys_for(needs, version)
    gathered = (
        runtime.fetcher.gather(templates=knowledge.templates, needed=keys, request=body) if keys else {}
    )
    resources = [r for key in sorted(gathered) for r in gathered[key]]
    # Now that the patient's record is here, read the drafts again so that a reasonReference to a
    # Condition on the problem list resolves (drafts are few; this costs microseconds).
    new_entries, draft_entries = split_drafts(
        body, service["hook"], config.max_draft_orders, references=_reference_index(resources)
    )
    record_medications = _LazyIndex(
        lambda: medication_index(
            *(body.get("prefetch") or {}).values(), {"entry": [{"resource": r} for r in resources]}
        )
    )
    records = medication_entries(
        resources,
        origin="record",
        medications=record_medications,
        hint=version,
        wanted=terminology.is_medication_of_interest,
    )
    now = runtime.clock()
    facts = build_facts(
        new_entries=new_entries,
        draft_entries=draft_entries,
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
    findings = engine.evaluate(knowledge, facts, rules)
    renderer = CardRenderer(knowledge, runtime.uuid_factory, config.lab_lookback_days)
    patient_id = body["context"].get("patientId")
    return {"cards": [renderer.render(f, patient_id=patient_id) for f in findings]}
