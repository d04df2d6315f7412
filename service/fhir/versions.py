"""Which FHIR version a resource was written in, from its structure alone.

CDS clients do not label their resources: the sandbox sends DSTU2 MedicationOrders to a DSTU2
server and loose R4 MedicationRequests (single-object `category`) to an R4 server. The version
matters twice: to read the right fields, and to write suggestion resources back in the same
version. So the answer is built from evidence in three strengths:

1. *strong*: a field or shape that exists in one version only (`doseAndRate` is R4, a dose directly
   on the dosage is STU3, `dateRecorded` is DSTU2, a CodeableConcept status is R4);
2. the caller's *hint* (the FHIR server's version, or a sibling resource that had strong evidence);
3. *weak*: a shape that is valid in an older version but also sent by loose R4 clients
   (a single-object `category`, a code-string Condition status).

With no evidence at all, R4 (the current normative version) is assumed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from ._values import as_list, text

R4 = "R4"
STU3 = "STU3"
DSTU2 = "DSTU2"

# Fields of MedicationRequest that R4 added (STU3 has none of them).
_R4_REQUEST_FIELDS = frozenset(
    {
        "doNotPerform",
        "reportedBoolean",
        "reportedReference",
        "encounter",
        "performer",
        "performerType",
        "instantiatesCanonical",
        "instantiatesUri",
        "courseOfTherapyType",
        "statusReason",
        "insurance",
    }
)
# Fields of MedicationRequest that R4 removed or renamed.
_STU3_REQUEST_FIELDS = frozenset({"context", "definition"})
# Dose and rate directly on the Dosage (STU3) rather than inside doseAndRate (R4).
_DIRECT_DOSE_FIELDS = frozenset({"doseQuantity", "doseRange", "rateQuantity", "rateRange", "rateRatio"})
_DSTU2_STATEMENT_FIELDS = frozenset(
    {
        "wasNotTaken",
        "reasonForUseCodeableConcept",
        "reasonForUseReference",
        "patient",
    }
)
_R4_OBSERVATION_FIELDS = frozenset(
    {
        "effectiveInstant",
        "hasMember",
        "focus",
        "partOf",
        "note",
        "valueInteger",
    }
)


def normalise_version(hint: Any) -> str | None:
    """A version label or number ("R4", "4.0.1", "R4B", "STU3", "3.0.2", "DSTU2", "1.0.2") -> a version.

    None for anything else (R5 included): an unknown hint is no evidence.
    """
    label = text(hint)
    if label is None:
        return None
    label = label.strip().upper()
    if label.startswith(("R4", "4.")) or label == "4":
        return R4
    if label.startswith(("STU3", "R3", "3.")) or label == "3":
        return STU3
    if label.startswith(("DSTU2", "R2", "1.0")):
        return DSTU2
    return None


def fhir_version_of(resource: Any, hint: str | None = None) -> str:
    """ "R4" | "STU3" | "DSTU2": strong evidence, else `hint`, else weak evidence, else R4."""
    return settle(resource, strong_version(resource), normalise_version(hint))


def settle(resource: Any, strong: str | None, hint: str | None) -> str:
    """The version once the strong evidence and the (normalised) hint are known."""
    return strong or hint or _weak_version(resource) or R4


def strong_version(resource: Any) -> str | None:
    """The version a resource's own structure proves, or None when it proves nothing."""
    if not isinstance(resource, dict):
        return None
    kind = resource.get("resourceType")
    if kind == "MedicationOrder":
        return DSTU2
    voter = _VOTERS.get(kind) if isinstance(kind, str) else None
    if voter is None:
        return None
    votes = {R4: 0, STU3: 0, DSTU2: 0}
    voter(resource, votes)
    best = max(votes.values())
    if best == 0:
        return None
    winners = [version for version, count in votes.items() if count == best]
    return winners[0] if len(winners) == 1 else None  # contradictory evidence: let the hint decide


def majority(versions: Iterable[str | None]) -> str | None:
    """The version most resources of a batch prove (all drafts of one hook share a version)."""
    counts = Counter(v for v in versions if v is not None)
    return counts.most_common(1)[0][0] if counts else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dosage_votes(dosages: Any, votes: dict[str, int]) -> None:
    """`doseAndRate` is R4; a dose on the Dosage itself is STU3; DSTU2 writes quantity[x], `periodUnits`."""
    for dosage in as_list(dosages):
        if "doseAndRate" in dosage:
            votes[R4] += 1
        if not dosage.keys().isdisjoint(_DIRECT_DOSE_FIELDS):
            votes[STU3] += 1
        if "quantityQuantity" in dosage or "quantityRange" in dosage:
            votes[DSTU2] += 1
        if "periodUnits" in _object(_object(dosage.get("timing")).get("repeat")):
            votes[DSTU2] += 1


def _request_votes(resource: dict[str, Any], votes: dict[str, int]) -> None:
    _dosage_votes(resource.get("dosageInstruction"), votes)
    votes[R4] += len(resource.keys() & _R4_REQUEST_FIELDS)
    votes[STU3] += len(resource.keys() & _STU3_REQUEST_FIELDS)
    if isinstance(resource.get("category"), list):
        votes[R4] += 1
    if "agent" in _object(resource.get("requester")):
        votes[STU3] += 1


def _statement_votes(resource: dict[str, Any], votes: dict[str, int]) -> None:
    _dosage_votes(resource.get("dosage"), votes)
    votes[DSTU2] += len(resource.keys() & _DSTU2_STATEMENT_FIELDS)
    if "taken" in resource:
        votes[STU3] += 1
    if "statusReason" in resource or resource.get("status") in ("unknown", "not-taken"):
        votes[R4] += 1


def _condition_votes(resource: dict[str, Any], votes: dict[str, int]) -> None:
    for field in ("clinicalStatus", "verificationStatus"):
        if isinstance(resource.get(field), dict):
            votes[R4] += 1
    for field, version in (
        ("recordedDate", R4),
        ("assertedDate", STU3),
        ("context", STU3),
        ("dateRecorded", DSTU2),
        ("patient", DSTU2),
    ):
        if field in resource:
            votes[version] += 1


def _observation_votes(resource: dict[str, Any], votes: dict[str, int]) -> None:
    if isinstance(resource.get("interpretation"), list):
        votes[R4] += 1
    votes[R4] += len(resource.keys() & _R4_OBSERVATION_FIELDS)
    if "comments" in resource:
        votes[DSTU2] += 1
    if "comment" in resource or "context" in resource:
        votes[STU3] += 1


_VOTERS: dict[str, Callable[[dict[str, Any], dict[str, int]], None]] = {
    "MedicationRequest": _request_votes,
    "MedicationStatement": _statement_votes,
    "Condition": _condition_votes,
    "Observation": _observation_votes,
}


def _weak_version(resource: Any) -> str | None:
    """Shapes valid before R4 that loose R4 clients also send: a hint outranks them."""
    if not isinstance(resource, dict):
        return None
    kind = resource.get("resourceType")
    if kind == "MedicationRequest" and isinstance(resource.get("category"), dict):
        return STU3
    if kind == "Condition" and (
        text(resource.get("clinicalStatus")) or text(resource.get("verificationStatus"))
    ):
        return STU3
    if kind == "Observation" and isinstance(resource.get("interpretation"), dict):
        return STU3
    return None
