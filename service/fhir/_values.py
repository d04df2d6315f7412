"""Tolerant readers for FHIR datatypes, shared by every resource reader in the edge.

Each reader takes a JSON-shaped dict: a resource as received, or a validated model's content
(`models.validated` gives the model's typed values, Decimal and date included, in the same
shape), so one reader serves the validated and the tolerant path and the two cannot drift apart.
Anything of the wrong shape (a list where an object belongs, a string where a number belongs)
reads as "absent" rather than raising: real clients send loose shapes, and a rule must never see
a half-parsed value. These run a few hundred times per resource, so they test exact types first.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from ..records import Coding, Concept

# A FHIR decimal as text, also tolerating surrounding blanks (loose clients send "5" for 5).
_DECIMAL = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")


def get(node: Any, key: str) -> Any:
    """The value of `key` in an object; None when absent or when `node` is not an object."""
    return node.get(key) if isinstance(node, dict) else None


def is_node(value: Any) -> bool:
    """True for a JSON object: the only thing a complex FHIR element can be."""
    return isinstance(value, dict)


def as_list(value: Any) -> list[dict[str, Any]]:
    """The objects of a repeating element: clients send a single object where FHIR wants an array.

    Anything in the array that is not an object is dropped, so callers can read every item as one.
    """
    if value is None:
        return _NONE
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return [value] if isinstance(value, dict) else _NONE


_NONE: list[dict[str, Any]] = []  # shared, never mutated: callers only iterate


def text(value: Any) -> str | None:
    """A FHIR string/code/uri: only real strings count; blank strings are absent."""
    if isinstance(value, str) and value and not value.isspace():
        return value
    return None


def code_text(value: Any) -> str | None:
    """A code that loose clients sometimes send as a JSON number (RxNorm codes): kept as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def number(value: Any) -> float | None:
    """A finite FHIR decimal as float. Booleans, NaN, infinities and non-numeric text are absent."""
    if value is None:
        return None
    kind = type(value)
    # Parsed JSON's ints and floats skip the other tests (the usual case); a bool is never a number.
    if (
        kind is not int
        and kind is not float
        and (
            kind is bool
            or not (isinstance(value, int | float | Decimal) or (kind is str and _DECIMAL.fullmatch(value)))
        )
    ):
        return None
    try:
        result = float(value)
    except (OverflowError, ValueError, ArithmeticError):  # an int beyond a double, a Decimal NaN
        return None
    return result if math.isfinite(result) else None


def flag(value: Any) -> bool:
    """A FHIR boolean: only JSON `true` is true (a string "true" from a loose client is too)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def coding_of(node: Any) -> Coding | None:
    """A Coding, or None when it carries neither system, code nor display."""
    if not isinstance(node, dict):
        return None
    system, code, display = node.get("system"), node.get("code"), node.get("display")
    if not (isinstance(system, str) and system and not system.isspace()):
        system = None
    if not (isinstance(code, str) and code and not code.isspace()):
        code = code_text(code)
    if not (isinstance(display, str) and display and not display.isspace()):
        display = None
    if system is None and code is None and display is None:
        return None
    return Coding(system=system, code=code, display=display)


def concept_of(value: Any) -> Concept | None:
    """A CodeableConcept; None when it has no coding and no text.

    Also accepted: a bare Coding where a CodeableConcept belongs (it has `code`/`system` but no
    `coding`), and a plain string, read as the concept's text.

    The usual shape (a `coding` array of objects, and `text`) is looked up in `_CONCEPTS` first:
    a record repeats the same few dozen drugs, problems and tests hundreds of times, and a lookup
    costs a fifth of reading and building the concept again.
    """
    if type(value) is dict:
        raw_codings = value.get("coding")
        if type(raw_codings) is list:
            key = _concept_key(value.get("text"), raw_codings)
            if key is not None:
                try:
                    return _CONCEPTS[key]
                except (KeyError, TypeError):  # not seen yet; or a part is unhashable (a list, ...)
                    pass
                concept = _read_concept(value)
                if _cacheable(key):
                    if len(_CONCEPTS) >= _CONCEPTS_MAX:
                        _CONCEPTS.clear()
                    _CONCEPTS[key] = concept
                return concept
    return _read_concept(value)


# Concepts by (text, system, code, display, system, code, display, ...) as sent. Bounded: cleared
# when full, so hostile input that never repeats costs one dict of this size, not a leak. Only keys
# made of strings (or None) of a modest length are stored: a number, boolean or list compares
# unequal to every stored key, so a lookup can only find the concept those very strings read to.
_CONCEPTS: dict[tuple[Any, ...], Concept | None] = {}
_CONCEPTS_MAX = 4096
_KEY_CHARS_MAX = 1024


def _concept_key(label: Any, raw_codings: list[Any]) -> tuple[Any, ...] | None:
    """The cache key of a concept with these `text` and `coding` items; None when an item is not an
    object (those take the reader's own path)."""
    if len(raw_codings) == 1:
        node = raw_codings[0]
        if type(node) is not dict:
            return None
        return (label, node.get("system"), node.get("code"), node.get("display"))
    parts = [label]
    for node in raw_codings:
        if type(node) is not dict:
            return None
        parts += (node.get("system"), node.get("code"), node.get("display"))
    return tuple(parts)


def _cacheable(key: tuple[Any, ...]) -> bool:
    chars = 0
    for part in key:
        if part is None:
            continue
        if type(part) is not str:
            return False
        chars += len(part)
    return chars <= _KEY_CHARS_MAX


def _read_concept(value: Any) -> Concept | None:
    """`concept_of` without the cache."""
    if not isinstance(value, dict):
        return Concept(text=value) if isinstance(value, str) and value and not value.isspace() else None
    codings = []
    for node in coding_nodes(value):
        coding = coding_of(node)
        if coding is not None:
            codings.append(coding)
    label = text(value.get("text"))
    if not codings and label is None:
        return None
    return Concept(codings=tuple(codings), text=label)


def coding_nodes(value: dict[str, Any]) -> list[Any]:
    """The items a CodeableConcept's codings are read from: its `coding` (a single object counts as
    one item), or the concept itself when a bare Coding was sent in its place (`code`/`system`, no
    `coding`). Items may be of any shape: `coding_of` reads what is not an object as absent."""
    nodes = value.get("coding")
    if nodes is None:
        return [value] if "code" in value or "system" in value else []
    return nodes if isinstance(nodes, list) else [nodes]


def concepts_of(value: Any) -> tuple[Concept, ...]:
    """Every CodeableConcept of a repeating element (an array or a single object)."""
    return tuple(c for c in (concept_of(v) for v in as_list(value)) if c is not None)


def status_code(value: Any) -> str | None:
    """A status that is a code in DSTU2/STU3 and a CodeableConcept in R4, as one lower-case code.

    From a CodeableConcept, the first coding with a code wins; its text is not a code and is not read.
    """
    plain = text(value)
    if plain is not None:
        return plain.strip().lower()
    for coding in as_list(get(value, "coding")):
        code = code_text(get(coding, "code"))
        if code is not None:
            return code.strip().lower()
    return None


def reference_of(value: Any) -> str | None:
    """A Reference's target as a relative reference ("Type/id", "#id" or a urn), or None.

    Absolute URLs are cut to their last "Type/id" and version suffixes (`/_history/n`) dropped,
    so the same target always compares equal however the server spelled it.
    """
    ref = text(get(value, "reference")) if is_node(value) else text(value)
    if ref is None:
        return None
    ref = ref.strip()
    if ref.startswith(("#", "urn:")):
        return ref
    if "/_history/" in ref:
        ref = ref.split("/_history/", 1)[0]
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return f"{parts[-2]}/{parts[-1]}"
    return ref


def resource_ref(resource: Any, position: int) -> str:
    """ "Type/id" of a resource; "Type/#<position>" (stable within one call) when it has no id."""
    kind = text(get(resource, "resourceType")) or "Resource"
    ident = text(get(resource, "id"))
    return f"{kind}/{ident}" if ident is not None else f"{kind}/#{position}"


def date_text(value: Any) -> str | None:
    """A date/dateTime as text: strings as written; model values (date, datetime) in ISO form."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return None


def instant_of(value: Any) -> datetime | None:
    """A FHIR date/dateTime/instant as a timezone-aware datetime.

    Partial dates ("2026", "2026-06", "2026-06-01") mean the start of that period at midnight UTC;
    a time without a zone (invalid FHIR, sent by loose clients) is read as UTC. Unparseable -> None.
    """
    found: datetime | None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, date):
        found = datetime.combine(value, time(), tzinfo=UTC)
    elif isinstance(value, str):
        found = _parse_instant(value.strip())
    else:
        found = None
    if found is None or found.tzinfo is not None:
        return found
    return found.replace(tzinfo=UTC)


def _parse_instant(raw: str) -> datetime | None:
    """Parse the text forms of FHIR date, dateTime and instant."""
    try:
        if len(raw) == 4 and raw.isdigit():
            return datetime(int(raw), 1, 1, tzinfo=UTC)
        if len(raw) == 7 and raw[4] == "-":
            return datetime(int(raw[:4]), int(raw[5:7]), 1, tzinfo=UTC)
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
        if len(raw) < 10:
            return None
        return datetime.fromisoformat(raw)
    except ValueError:
        return None
