"""Unwrap what a CDS client sends (a Bundle, a resource, a list, `null`) into plain resources.

CDS Hooks lets a prefetch value be a resource, a searchset Bundle or `null`, and lets a client
report a failed query with OperationOutcome(s) [cds-hooks.md §2]. Clients are loose about the
wrapper: the sandbox's draftOrders Bundle has no `type`. So the wrapper is read leniently, while
a value that is no FHIR at all is refused with a ValueError that says what was wrong, for the
caller to turn into a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._values import reference_of, text

# Nested Bundles (a batch-response of searchsets) are unwrapped up to this depth; deeper nesting
# is not something a real client sends and would only cost stack.
_MAX_DEPTH = 4
_OUTCOME = "OperationOutcome"


def resources_of(value: Any) -> list[dict[str, Any]] | None:
    """The resources in a prefetch value or a draft Bundle.

    [] for `null`, an empty Bundle or an entry-less searchset; None when the value only reports a
    failure (an OperationOutcome, or a Bundle whose only entries are OperationOutcomes), which means
    "not given" and lets the caller query the FHIR server instead. OperationOutcomes beside real
    results (searchset warnings, `search.mode = outcome`) are dropped. Raises ValueError for
    anything that is not FHIR.
    """
    if value is None:
        return []
    plain = _plain_scan(value)
    if plain is not None and not plain[1]:
        return plain[0]  # the usual searchset: no OperationOutcome among its resources
    walked = ((None, resource) for resource in plain[0]) if plain is not None else _walk(value, "value", 0)
    found: list[dict[str, Any]] = []
    outcomes = 0
    for _, resource in walked:
        if resource.get("resourceType") == _OUTCOME:
            outcomes += 1
        else:
            found.append(resource)
    if outcomes and not found:
        return None
    return found


def _plain_scan(value: Any) -> tuple[list[dict[str, Any]], int] | None:
    """The resources of the usual prefetch value (a Bundle whose entries each hold one resource
    that is not a Bundle), read in one loop, with the number of OperationOutcomes among them; None
    for anything else, which `_walk` reads (and reports) in full. The same resources in the same
    order as `_walk`, at a fraction of its cost: a 1,000-resource prefetch walked through the
    generators cost more than the rules. The outcomes are counted in the same loop, so the usual
    searchset, which has none, is not walked a second time. (`type() is`: parsed JSON holds plain
    dicts and lists; anything else takes the general path.)"""
    if type(value) is not dict or value.get("resourceType", "Bundle") != "Bundle":
        return None
    entries = value.get("entry")
    if entries is None:
        return ([], 0) if "resourceType" in value else None
    if type(entries) is not list:
        return None
    found = []
    outcomes = 0
    for entry in entries:
        resource = entry.get("resource") if type(entry) is dict else None
        if type(resource) is not dict:
            return None
        kind = resource.get("resourceType")
        if type(kind) is not str or kind == "Bundle" or not kind.strip():
            return None
        if kind == _OUTCOME:
            outcomes += 1
        found.append(resource)
    return found, outcomes


def medication_index(*values: Any) -> dict[str, dict[str, Any]]:
    """Medication resources of some prefetch values or Bundles, keyed as references point at them.

    Keys are "Medication/<id>" and, for Bundle entries, the entry's `fullUrl` (so a
    `urn:uuid:` reference inside a transaction-style Bundle resolves too). Values that are not FHIR
    are skipped here: `resources_of` is where they are reported.
    """
    index: dict[str, dict[str, Any]] = {}
    for value in values:
        if value is None:
            continue
        try:
            walked = list(_walk(value, "value", 0))
        except ValueError:
            continue
        for full_url, resource in walked:
            if resource.get("resourceType") != "Medication":
                continue
            ident = text(resource.get("id"))
            if ident is not None:
                index[f"Medication/{ident}"] = resource
            if full_url is not None:
                index[full_url] = resource
                relative = reference_of(full_url)
                if relative is not None:
                    index.setdefault(relative, resource)
    return index


def _walk(value: Any, where: str, depth: int) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(fullUrl, resource) for every resource in `value`, Bundles unwrapped; ValueError on non-FHIR."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where}: Bundles nested more than {_MAX_DEPTH} deep")
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_item(item, f"{where}[{i}]", depth)
        return
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a FHIR resource, Bundle or list, got {_kind(value)}")
    kind = value.get("resourceType")
    if kind is None and "entry" in value:
        kind = "Bundle"  # a Bundle that forgot its resourceType: its entries say what it is
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError(f"{where}: not a FHIR resource (no resourceType)")
    if kind != "Bundle":
        yield None, value
        return
    entries = value.get("entry")
    if entries is None:
        return
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        raise ValueError(f"{where}.entry: expected an array, got {_kind(entries)}")
    for i, entry in enumerate(entries):
        yield from _walk_entry(entry, f"{where}.entry[{i}]", depth)


def _walk_entry(entry: Any, where: str, depth: int) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """One Bundle entry: its `resource`, or nothing (entries without one, e.g. a deleted history item)."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object, got {_kind(entry)}")
    resource = entry.get("resource")
    if resource is None:
        if isinstance(entry.get("resourceType"), str):
            yield from _walk(entry, where, depth + 1)  # a resource put straight into the entry list
        return
    if not isinstance(resource, dict):
        raise ValueError(f"{where}.resource: expected an object, got {_kind(resource)}")
    if resource.get("resourceType") == "Bundle":
        yield from _walk(resource, f"{where}.resource", depth + 1)
        return
    for full_url, found in _walk(resource, f"{where}.resource", depth + 1):
        yield full_url or text(entry.get("fullUrl")), found


def _walk_item(item: Any, where: str, depth: int) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """One element of a list value: a resource, a Bundle, or a Bundle entry ({"resource": ...})."""
    if isinstance(item, dict) and "resource" in item and "resourceType" not in item:
        yield from _walk_entry(item, where, depth)
    elif isinstance(item, list):
        raise ValueError(f"{where}: expected a FHIR resource, got an array")
    else:
        yield from _walk(item, where, depth + 1)


def _kind(value: Any) -> str:
    """A JSON type name for error messages (Python names mean nothing to a client developer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
