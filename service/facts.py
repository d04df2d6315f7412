"""Facts the rules read, gathered from normalised records and the terminology tables.

This is where "new order", "co-medication", "active", "one therapy counted once", "a stopping
draft stops every active order of the same ingredient and route", the lab look-back window and
the daily dose in mg are decided, once, so that every rule means the same by them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from .fhir._values import instant_of
from .records import ConditionEntry, Dosage, MedicationEntry, ObservationEntry, PatientEntry
from .terminology import UNSPECIFIED, Recognition, Terminology

# FHIR status vocabularies (structure, not clinical knowledge).
ACTIVE_ORDER_STATUSES = frozenset({"active", "on-hold"})
ACTIVE_STATEMENT_STATUSES = frozenset({"active", "intended"})
STOPPING_STATUSES = frozenset({"stopped", "cancelled"})
INACTIVE_CLINICAL = frozenset({"remission", "resolved", "inactive"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})


@dataclass(frozen=True, slots=True)
class Drug:
    """A recognised medication with the facts rules compare.

    role: "new" (a new draft order), "draft" (a draft that is a co-medication) or "active".
    route: a route group, or None when nothing says (rules treat that as `unspecified`).
    """

    entry: MedicationEntry
    ingredients: frozenset[str]
    classes: frozenset[str]
    route: str | None
    daily_mg: float | None
    role: str
    stops: bool
    name: str

    @property
    def route_key(self) -> str:
        return self.route or UNSPECIFIED


@dataclass(frozen=True)
class Facts:
    new_orders: tuple[Drug, ...]
    drafts: tuple[Drug, ...]
    active: tuple[Drug, ...]
    conditions: tuple[tuple[ConditionEntry, frozenset[str]], ...]  # active condition, value-set ids
    labs: Mapping[str, ObservationEntry | None]
    now: datetime
    lookback_days: int
    stopped: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (ingredient, route key)
    patient: PatientEntry | None = None  # birth date and sex, when a rule needs them

    def starting(self) -> tuple[Drug, ...]:
        """New orders that start or continue a drug (not the ones that stop it)."""
        found = self.__dict__.get("_starting")
        if found is None:  # computed once: the facts never change, and rules and cards ask often
            found = tuple(d for d in self.new_orders if not d.stops)
            object.__setattr__(self, "_starting", found)
        return found

    def existing(self) -> tuple[Drug, ...]:
        """Co-medications: non-new drafts and active medications not stopped by a draft."""
        found = self.__dict__.get("_existing")
        if found is None:  # computed once, as `starting`
            found = tuple(d for d in self.drafts if not d.stops) + tuple(
                d for d in self.active if not self.is_stopped(d)
            )
            object.__setattr__(self, "_existing", found)
        return found

    def age_at_order(self, drug: Drug) -> int | None:
        """The patient's age in whole years on the order's date (else today); None without a birth date."""
        if self.patient is None or self.patient.birth_date is None:
            return None
        return age_on(self.patient.birth_date, order_day(drug.entry.authored, self.now))

    def is_stopped(self, drug: Drug) -> bool:
        return any((i, drug.route_key) in self.stopped or (i, "*") in self.stopped for i in drug.ingredients)


# ------------------------------------------------------------------------------------------- doses
def _per_administration_mg(dosage: Dosage, rec: Recognition, t: Terminology) -> float | None:
    if dosage.dose_value is None or not dosage.dose_unit:
        return None
    unit = dosage.dose_unit.strip().lower()
    if unit in t.mass_to_mg:
        return dosage.dose_value * t.mass_to_mg[unit]
    if unit in t.count_units:
        return dosage.dose_value * rec.strength_mg if rec.strength_mg else None
    if unit in t.volume_to_ml:
        if rec.strength_mg_per_ml:
            return dosage.dose_value * t.volume_to_ml[unit] * rec.strength_mg_per_ml
    return None


def _administrations_per_day(dosage: Dosage, t: Terminology) -> float | None:
    if dosage.period_unit is None and dosage.frequency is None and dosage.timing_code:
        known = t.timing_codes.get(dosage.timing_code)
        if known is None:
            return None
        frequency, period, unit = known
        return frequency * t.per_day[unit] / period if unit in t.per_day else None
    if dosage.period_unit is None:
        return None
    per_day = t.per_day.get(dosage.period_unit)
    if per_day is None:
        return None
    period = dosage.period or 1.0
    frequency = dosage.frequency or 1.0
    if period <= 0:
        return None
    return frequency * per_day / period


def daily_mg(entry: MedicationEntry, rec: Recognition, t: Terminology) -> float | None:
    """Daily dose in mg summed over the dosage instructions; None where it cannot be computed."""
    if len(rec.ingredients) != 1 or not entry.dosages:
        return None
    total = 0.0
    for dosage in entry.dosages:
        amount = _per_administration_mg(dosage, rec, t)
        times = _administrations_per_day(dosage, t)
        if amount is None or times is None:
            return None
        total += amount * times
    return round(total, 6)


# ------------------------------------------------------------------------------------------- drugs
def to_drug(entry: MedicationEntry, role: str, t: Terminology) -> Drug | None:
    rec = t.recognise(entry.medication)
    if rec is None:
        return None
    route = next((r for d in entry.dosages if (r := t.route_of(d.route))), None)
    route = route or rec.product_route
    if route is None:
        route = next((r for d in entry.dosages if (r := t.unit_route(rec.ingredients, d.dose_unit))), None)
    stops = entry.do_not_perform or (entry.status or "").lower() in STOPPING_STATUSES
    return Drug(
        entry=entry,
        ingredients=rec.ingredients,
        classes=t.classes_of(rec.ingredients, route),
        route=route,
        daily_mg=daily_mg(entry, rec, t),
        role=role,
        stops=stops,
        name=rec.name,
    )


def _is_active_record(entry: MedicationEntry) -> bool:
    status = (entry.status or "").lower()
    if entry.resource_type == "MedicationStatement":
        return status in ACTIVE_STATEMENT_STATUSES
    return status in ACTIVE_ORDER_STATUSES and not entry.do_not_perform


def _same_therapy(statement: Drug, order: Drug) -> bool:
    refs = statement.entry.based_on
    if order.entry.ref in refs or any(r.endswith("/" + (order.entry.resource_id or "?")) for r in refs):
        return True
    return (
        statement.ingredients == order.ingredients
        and statement.route_key == order.route_key
        and statement.daily_mg is not None
        and statement.daily_mg == order.daily_mg
    )


def active_drugs(records: Iterable[MedicationEntry], t: Terminology) -> tuple[Drug, ...]:
    """Active medications, each therapy once (a statement restating an order is dropped)."""
    orders: list[Drug] = []
    statements: list[Drug] = []
    seen: set[str] = set()
    for entry in records:
        if entry.ref in seen or not _is_active_record(entry):
            continue
        seen.add(entry.ref)
        drug = to_drug(entry, "active", t)
        if drug is None:
            continue
        (statements if entry.resource_type == "MedicationStatement" else orders).append(drug)
    kept = [s for s in statements if not any(_same_therapy(s, o) for o in orders)]
    return tuple(orders + kept)


# ------------------------------------------------------------------------------------------- labs
def latest_labs(
    observations: Iterable[ObservationEntry], t: Terminology, now: datetime, lookback_days: int
) -> dict[str, ObservationEntry | None]:
    """Latest result per lab value set inside the window (inclusive, by calendar date)."""
    earliest = (now - timedelta(days=lookback_days)).date()
    latest: dict[str, ObservationEntry | None] = {}
    for obs in observations:
        if obs.effective is None or obs.value is None:
            continue
        day = obs.effective.date()
        if day < earliest or obs.effective > now + timedelta(days=1):
            continue
        for lab in t.labs_of(obs.code):
            current = latest.get(lab)
            if current is None or (current.effective is not None and obs.effective > current.effective):
                latest[lab] = obs
    return {lab: _with_default_limit(lab, obs, t) for lab, obs in latest.items()}


def _with_default_limit(lab: str, obs: ObservationEntry | None, t: Terminology) -> ObservationEntry | None:
    """A result with neither reference range high nor flag gets the lab's default upper limit
    (clinical-rules.md, Reference range), when the value set has one and the unit is one it is for."""
    limit = t.default_upper_limits.get(lab)
    if obs is None or limit is None or obs.range_high is not None or obs.interpretation:
        return obs
    value, units = limit
    if (obs.unit or "").strip().lower() not in units:
        return obs
    return replace(obs, range_high=value)


def _has_ended(condition: ConditionEntry, now: datetime) -> bool:
    """No clinical status but an abatement in the past: the condition has ended."""
    if condition.clinical_status or not condition.abatement:
        return False
    if condition.abatement == "true":
        return True
    when = instant_of(condition.abatement)
    return when is not None and when <= now


def active_conditions(
    conditions: Iterable[ConditionEntry],
    t: Terminology,
    valueset_ids: tuple[str, ...],
    now: datetime | None = None,
) -> tuple[tuple[ConditionEntry, frozenset[str]], ...]:
    out = []
    for c in conditions:
        if (c.clinical_status or "") in INACTIVE_CLINICAL or (
            c.verification_status or ""
        ) in EXCLUDED_VERIFICATION:
            continue
        if now is not None and _has_ended(c, now):
            continue
        sets = t.valuesets_of(c.code, valueset_ids)
        if sets:
            out.append((c, sets))
    return tuple(out)


def build_facts(
    *,
    new_drugs: Sequence[Drug],
    draft_entries: Sequence[MedicationEntry],
    record_entries: Sequence[MedicationEntry],
    conditions: Sequence[ConditionEntry],
    observations: Sequence[ObservationEntry],
    terminology: Terminology,
    condition_valuesets: tuple[str, ...],
    now: datetime,
    lookback_days: int,
    patient: PatientEntry | None = None,
) -> Facts:
    t = terminology
    new = tuple(new_drugs)  # recognised once, when the pipeline asked which rules are relevant
    drafts = tuple(d for e in draft_entries if (d := to_drug(e, "draft", t)))
    active = active_drugs(record_entries, t)
    stopped: set[tuple[str, str]] = set()
    for drug in new + drafts:
        if drug.stops:
            route = drug.route_key if drug.route else "*"  # a stop with no route stops every route
            stopped.update((i, route) for i in drug.ingredients)
    return Facts(
        new_orders=new,
        drafts=drafts,
        active=active,
        conditions=active_conditions(conditions, t, condition_valuesets, now),
        labs=latest_labs(observations, t, now, lookback_days),
        now=now,
        lookback_days=lookback_days,
        stopped=frozenset(stopped),
        patient=patient,
    )


# ------------------------------------------------------------------------------------------- age
def order_day(authored: str | None, now: datetime) -> date:
    """The order's date (authoredOn / dateWritten, as written), else the evaluation date."""
    if authored and len(authored) >= 10:
        try:
            return date.fromisoformat(authored[:10])
        except ValueError:
            pass
    return now.date()


def age_on(birth_date: str, day: date) -> int | None:
    """Whole years from a FHIR birth date to `day`.

    A partial birth date ("1950", "1950-06") gives the youngest age it allows (born on the last day
    of that year or month): an age threshold is then met only when it is certain. A date that is
    not one (month 00 or 13, day 32, year 0) gives None: the age is unknown.
    """
    parts = birth_date.split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else 12
        if not 1 <= month <= 12:  # also keeps 0001-00 from stepping back before 0001-01-01
            return None
        last_day = 31 if month == 12 else (date(year, month + 1, 1) - timedelta(days=1)).day
        dom = int(parts[2]) if len(parts) > 2 else last_day
        born = date(year, month, dom)
    except (ValueError, IndexError):
        return None
    if born > day:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
