"""The FHIR edge: DSTU2 / STU3 / R4 resources, and the loose shapes real clients send, -> records.

Nothing past this package sees a FHIR dict (only `MedicationEntry.raw`, kept to write suggestion
resources back in the client's own version). The edge knows FHIR structure only, never drugs:
which code means what is the terminology's business.

    resources_of(value)                 prefetch value / draft Bundle -> resources ([] / None / ValueError)
    fhir_version_of(resource, hint)     "R4" | "STU3" | "DSTU2"
    medication_entries(resources, *, origin, medications, hint=None, validate=None)
    condition_entries(resources, *, wanted=None)
    observation_entries(resources, *, wanted=None)
    patient_entry(resources, patient_id=None)   the hook's Patient -> birth date and gender
    medication_index(*values)           Medication resources keyed as references point at them
    unresolved_medication_ids(resources, medications)  Medications referenced but not at hand
    warm_up()                           load the fhir.resources models at start-up, not on a request
"""

from .bundles import medication_index, resources_of
from .conditions import condition_entries
from .medications import (
    MEDICATION_TYPES,
    References,
    has_reason_reference,
    medication_entries,
    unresolved_medication_ids,
    with_referenced_reasons,
)
from .models import warm_up
from .observations import observation_entries
from .patients import patient_entry
from .versions import DSTU2, R4, STU3, fhir_version_of, normalise_version

__all__ = [
    "DSTU2",
    "MEDICATION_TYPES",
    "R4",
    "References",
    "STU3",
    "condition_entries",
    "fhir_version_of",
    "has_reason_reference",
    "medication_entries",
    "medication_index",
    "normalise_version",
    "observation_entries",
    "patient_entry",
    "resources_of",
    "unresolved_medication_ids",
    "warm_up",
    "with_referenced_reasons",
]
