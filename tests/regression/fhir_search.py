"""A small FHIR search executor over one patient's record: it answers the service's own prefetch
templates the way a FHIR server holding that record would.

Why not hand-written prefetch: the point of the regression set is to catch a template that asks
for too little (the eGFR code the renal query left out, the Medications it did not `_include`).
So the executor supports exactly the search parameters the templates use and raises
`UnsupportedQuery` for anything else: a template change cannot silently empty a prefetch key.

Server behaviour it imitates, documented because the data are transaction bundles:
- `urn:uuid:` references are rewritten to `Type/id`, as a server does when it processes the
  transaction (the stored extract itself stays unedited; the rewrite happens on load).
- A resource with no id (Synthea's DSTU2 MedicationOrders) gets a deterministic one, as a server
  assigns one on create.
- A search on a resource type the FHIR version does not have (MedicationOrder in R4 / STU3,
  MedicationRequest in DSTU2) is a key the EHR cannot fill: `execute` returns None and the caller
  leaves the key out of the prefetch (CDS Hooks: the service then fetches or does without).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

TYPES_BY_VERSION: Mapping[str, frozenset[str]] = {
    "R4": frozenset(
        {"Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement", "Medication"}
    ),
    "STU3": frozenset(
        {"Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement", "Medication"}
    ),
    "DSTU2": frozenset(
        {"Patient", "Condition", "Observation", "MedicationOrder", "MedicationStatement", "Medication"}
    ),
}
# Search parameters understood, per resource type (only what the templates use).
COMMON = frozenset({"patient", "_count", "_sort", "_include"})
PARAMETERS: Mapping[str, frozenset[str]] = {
    "Condition": COMMON,
    "Observation": COMMON | {"code"},
    "MedicationRequest": COMMON | {"status"},
    "MedicationOrder": COMMON | {"status"},
    "MedicationStatement": COMMON | {"status"},
}
# `_include` targets: the element holding the reference, per `Type:param`.
INCLUDES: Mapping[str, str] = {
    "MedicationRequest:medication": "medicationReference",
    "MedicationOrder:medication": "medicationReference",
    "MedicationStatement:medication": "medicationReference",
}
SORTS = frozenset({"date", "-date"})


class UnsupportedQuery(AssertionError):
    """A query the executor does not understand: fail the test, never answer with less."""


def _rewrite(value: Any, urls: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "reference" and isinstance(v, str) and v in urls:
                out[k] = urls[v]
            else:
                out[k] = _rewrite(v, urls)
        return out
    if isinstance(value, list):
        return [_rewrite(v, urls) for v in value]
    return value


def _date_of(resource: Mapping[str, Any]) -> str:
    """Observation `date`: effective[x] (start of a period), else issued."""
    if d := resource.get("effectiveDateTime"):
        return str(d)
    if period := resource.get("effectivePeriod"):
        return str(period.get("start") or period.get("end") or "")
    return str(resource.get("issued") or "")


def _token_match(codings: list[Mapping[str, Any]], tokens: list[tuple[str | None, str]]) -> bool:
    for c in codings:
        system = str(c.get("system") or "").rstrip("/")
        for want_system, want_code in tokens:
            if c.get("code") == want_code and (want_system is None or system == want_system.rstrip("/")):
                return True
    return False


class PatientServer:
    """One patient's record (entries of the extract) answering reads and searches."""

    def __init__(self, entries: list[dict], version: str) -> None:
        if version not in TYPES_BY_VERSION:
            raise ValueError(f"unknown FHIR version {version!r}")
        self.version = version
        resources = [dict(e["resource"]) for e in entries]  # shallow: only `id` is set below
        counters: dict[str, int] = {}
        urls: dict[str, str] = {}
        for entry, r in zip(entries, resources, strict=True):
            kind = r["resourceType"]
            if not r.get("id"):
                counters[kind] = counters.get(kind, 0) + 1
                r["id"] = f"{kind.lower()}-{counters[kind]}"
            if full := entry.get("fullUrl"):
                urls[full] = f"{kind}/{r['id']}"
        self.resources = [_rewrite(r, urls) for r in resources]
        self.by_ref = {f"{r['resourceType']}/{r['id']}": r for r in self.resources}
        patients = [r for r in self.resources if r["resourceType"] == "Patient"]
        if len(patients) != 1:
            raise ValueError(f"expected one Patient, found {len(patients)}")
        self.patient = patients[0]
        self.patient_id: str = self.patient["id"]

    # ------------------------------------------------------------------------------------ query
    def execute(self, query: str) -> dict | None:
        """Answer a read (`Type/id`) or a search (`Type?name=value&...`)."""
        if "?" not in query:
            kind, _, rid = query.partition("/")
            if not rid or "/" in rid:
                raise UnsupportedQuery(f"not a read or a search: {query!r}")
            if kind not in TYPES_BY_VERSION[self.version]:
                return None
            found = self.by_ref.get(f"{kind}/{rid}")
            return (
                copy.deepcopy(found)
                if found
                else {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "not-found"}],
                }
            )
        kind, _, qs = query.partition("?")
        if kind not in PARAMETERS:
            raise UnsupportedQuery(f"search on {kind!r} is not supported: {query!r}")
        if kind not in TYPES_BY_VERSION[self.version]:
            return None
        try:
            params = parse_qsl(qs, keep_blank_values=True, strict_parsing=True)
        except ValueError as exc:
            raise UnsupportedQuery(f"unparsable query {query!r}: {exc}") from exc
        return self._search(kind, params, query)

    def _search(self, kind: str, params: list[tuple[str, str]], query: str) -> dict:
        matches = [r for r in self.resources if r["resourceType"] == kind]
        options: dict[str, Any] = {"_count": None, "_sort": None, "_include": []}
        seen: set[str] = set()
        for name, value in params:
            if name not in PARAMETERS[kind]:
                raise UnsupportedQuery(f"search parameter {name!r} is not supported on {kind}: {query!r}")
            if name in seen and name != "_include":
                raise UnsupportedQuery(f"repeated search parameter {name!r}: {query!r}")
            seen.add(name)
            if name.startswith("_"):
                self._option(kind, name, value, options, query)
            else:
                matches = [r for r in matches if self._matches(r, name, value, query)]
        if options["_sort"]:
            matches.sort(key=_date_of, reverse=options["_sort"].startswith("-"))
        count = options["_count"]
        page = matches[:count] if count is not None else matches
        included: dict[str, dict] = {}
        for inc in options["_include"]:
            for r in page:
                ref = (r.get(INCLUDES[inc]) or {}).get("reference")
                if ref and ref in self.by_ref and ref not in included:
                    included[ref] = self._entry(self.by_ref[ref], "include")
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "entry": [self._entry(r, "match") for r in page] + list(included.values()),
        }
        if count is not None and len(matches) > count:
            rest = "&".join(f"{k}={v}" for k, v in params)
            bundle["link"] = [{"relation": "next", "url": f"{kind}?{rest}&_offset={count}"}]
        return bundle

    def _matches(self, r: Mapping[str, Any], name: str, value: str, query: str) -> bool:
        if name == "patient":
            return self._subject(r) == (value if "/" in value else f"Patient/{value}")
        if name == "status":
            return r.get("status") in value.split(",")
        if name == "code":
            tokens: list[tuple[str | None, str]] = []
            for t in value.split(","):
                system, bar, code = t.partition("|")
                tokens.append((system, code) if bar else (None, t))
            if any(not code for _, code in tokens):
                raise UnsupportedQuery(f"empty code token: {query!r}")
            return _token_match((r.get("code") or {}).get("coding") or [], tokens)
        raise UnsupportedQuery(f"search parameter {name!r} has no matcher: {query!r}")

    @staticmethod
    def _option(kind: str, name: str, value: str, options: dict[str, Any], query: str) -> None:
        if name == "_count":
            options["_count"] = int(value)
        elif name == "_sort":
            if value not in SORTS or kind != "Observation":
                raise UnsupportedQuery(f"_sort={value} is not supported on {kind}: {query!r}")
            options["_sort"] = value
        elif name == "_include":
            if value not in INCLUDES or not value.startswith(kind + ":"):
                raise UnsupportedQuery(f"_include={value} is not supported on {kind}: {query!r}")
            options["_include"].append(value)
        else:
            raise UnsupportedQuery(f"search option {name!r} is not supported: {query!r}")

    def _subject(self, r: Mapping[str, Any]) -> str | None:
        ref = r.get("subject") or r.get("patient") or {}
        return ref.get("reference") if isinstance(ref, dict) else None

    def _entry(self, r: dict, mode: str) -> dict:
        # Not copied: the caller serialises the prefetch to JSON before the service sees it.
        return {"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": mode}}


def fill_template(template: str, context: Mapping[str, str]) -> str:
    """Replace the CDS Hooks prefetch tokens `{{context.x}}`; any other token fails the test."""
    out = template
    while "{{" in out:
        start = out.index("{{")
        end = out.index("}}", start)
        token = out[start + 2 : end].strip()
        if not token.startswith("context.") or token[len("context.") :] not in context:
            raise UnsupportedQuery(f"prefetch token {{{{{token}}}}} is not supported: {template!r}")
        out = out[:start] + context[token[len("context.") :]] + out[end + 2 :]
    return out


def dumps(value: Any) -> str:  # pragma: no cover - debugging aid
    return json.dumps(value, indent=1)
