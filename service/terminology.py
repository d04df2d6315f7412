"""Lookup tables built once from the value sets: codes and names -> ingredient, route, strength;
condition, reason and lab concepts -> value-set ids.

Recognition follows clinical-rules.md: an RxNorm code in a known list first (any term type), then
the ingredient or a brand name written in `text` or a coding's `display` (whole word, any case).
Nothing clinical is written here; every word, code and number comes from cards/valuesets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .records import Concept

UNSPECIFIED = "unspecified"
_NO_PREFIX: tuple[str, ...] = ()
_STRENGTH = re.compile(
    r"(\d+(?:\.\d+)?)\s*(mg|mcg|ug|µg|g)\b(?:\s*/\s*(\d+(?:\.\d+)?)?\s*(ml)\b)?", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Product:
    """What a code or a name says about a medication."""

    ingredient: str
    route: str | None = None
    strength_mg: float | None = None
    strength_mg_per_ml: float | None = None


@dataclass(frozen=True, slots=True)
class Recognition:
    """A recognised medication concept: its ingredients and what its name/code imply."""

    ingredients: frozenset[str]
    product_route: str | None
    strength_mg: float | None
    strength_mg_per_ml: float | None
    name: str


def _word_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    unique = sorted({w.strip().lower() for w in words if w and w.strip()}, key=len, reverse=True)
    if not unique:
        return None
    body = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in unique)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


_TOKEN = re.compile(r"[\w-]+")
_SPACES = re.compile(r"\s+")


class PhraseIndex:
    r"""Finds known names (one or more words) in free text by whole-word lookup.

    Same matches as one big `(?<![\w-])(?:name|...)(?![\w-])` alternation (leftmost, longest name
    first, words separated as in the name with any run of whitespace), but the cost of a text no
    longer grows with the number of names: each word of the text is one dictionary lookup. An
    order of a drug no rule is about is the common case, so this keeps it cheap as value sets grow.
    """

    def __init__(self, names: Iterable[str]) -> None:
        by_first: dict[str, list[tuple[tuple[str, ...], tuple[str, ...], str]]] = {}
        for name in {n.strip().lower() for n in names if n and n.strip()}:
            tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(name)]
            if not tokens or tokens[0][1] != 0 or tokens[-1][2] != len(name):
                continue  # a name must start and end with a word character (as the regex required)
            words = tuple(t[0] for t in tokens)
            seps = tuple(
                _SPACES.sub(" ", name[a[2] : b[1]]) for a, b in zip(tokens, tokens[1:], strict=False)
            )
            by_first.setdefault(words[0], []).append((words, seps, name))
        for candidates in by_first.values():  # longest name first, like the regex alternation
            candidates.sort(key=lambda c: len(c[2]), reverse=True)
        self._by_first = by_first

    def __bool__(self) -> bool:
        return bool(self._by_first)

    def find(self, text: str) -> list[str]:
        """The names found in `text`, left to right, as they are keyed (lower case, single spaces)."""
        tokens = [(m.group(0).lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        found: list[str] = []
        i = 0
        while i < len(tokens):
            candidates = self._by_first.get(tokens[i][0])
            matched = 0
            if candidates:
                for words, seps, name in candidates:
                    n = len(words)
                    if i + n > len(tokens):
                        continue
                    if all(tokens[i + k][0] == words[k] for k in range(1, n)) and all(
                        _SPACES.sub(" ", text[tokens[i + k][2] : tokens[i + k + 1][1]]) == seps[k]
                        for k in range(n - 1)
                    ):
                        found.append(name)
                        matched = n
                        break
            i += matched or 1
        return found


def parse_strength(name: str | None, mass_to_mg: Mapping[str, float]) -> tuple[float | None, float | None]:
    """(mg per unit, mg per mL) stated in a product name such as "10 MG Oral Tablet" or "5 MG/ML".

    `mass_to_mg`: the unit factors of cards/valuesets/units.json (lower-case keys), the one table."""
    if not name:
        return None, None
    match = _STRENGTH.search(name)
    if not match:
        return None, None
    factor = mass_to_mg.get(match.group(2).lower())
    if factor is None:
        return None, None
    mg = float(match.group(1)) * factor
    if match.group(4):
        per = float(match.group(3)) if match.group(3) else 1.0
        return None, mg / per if per else None
    return mg, None


class ConceptMatcher:
    """Matches a concept against a condition / reason value set: codes, code prefixes, words."""

    def __init__(self, valueset: Mapping[str, Any], system_key: Mapping[str, str]) -> None:
        self.codes = {
            (system_key.get(c["system"], c["system"]), c["code"].upper()) for c in valueset.get("codes", [])
        }
        prefixes: dict[str, list[str]] = {}
        for p in valueset.get("prefixes", []):
            prefixes.setdefault(system_key.get(p["system"], p["system"]), []).append(p["prefix"].upper())
        self.prefixes = {system: tuple(values) for system, values in prefixes.items()}
        self.words = _word_pattern(valueset.get("words", []))
        self.exclude = _word_pattern(valueset.get("exclude_words", []))
        self.system_key = system_key
        # A record may send a bare code: the value set's display lets a card name it anyway.
        self.displays = {
            (system_key.get(c["system"], c["system"]), c["code"].upper()): c["display"]
            for c in valueset.get("codes", [])
            if c.get("display")
        }

    def display_of(self, concept: Concept) -> str | None:
        for coding in concept.codings:
            if coding.code:
                system = self.system_key.get(coding.system or "", coding.system or "")
                key = (system, coding.code.strip().upper())
                if key in self.displays:
                    return self.displays[key]
        return None

    def matches(self, concept: Concept) -> bool:
        for coding in concept.codings:
            if not coding.code:
                continue
            system = self.system_key.get(coding.system or "", coding.system or "")
            code = coding.code.strip().upper()
            if (system, code) in self.codes or code.startswith(self.prefixes.get(system, _NO_PREFIX)):
                return True
        if self.words is not None:
            for text in concept.words():
                if self.words.search(text) and not (self.exclude and self.exclude.search(text)):
                    return True
        return False


class Terminology:
    """Every lookup the recognisers need, built once at start-up."""

    def __init__(self) -> None:
        self.system_key: dict[str, str] = {}
        self.products_by_code: dict[str, tuple[Product, ...]] = {}
        self.names: dict[str, Product] = {}
        self.name_pattern: re.Pattern[str] | None = None
        self.name_index = PhraseIndex(())
        self.unit_routes: dict[str, dict[str, str]] = {}
        self.ingredients: set[str] = set()
        self.ingredients_of_valueset: dict[str, frozenset[str]] = {}
        self.classes: dict[str, tuple[tuple[frozenset[str], frozenset[str] | None], ...]] = {}
        self.matchers: dict[str, ConceptMatcher] = {}
        self.labs_by_code: dict[tuple[str, str], frozenset[str]] = {}
        self.route_codes: dict[tuple[str, str], str] = {}
        self.route_words: list[tuple[re.Pattern[str], str]] = []
        self.form_words: list[tuple[re.Pattern[str], str]] = []
        self.mass_to_mg: dict[str, float] = {}
        self.volume_to_ml: dict[str, float] = {}
        self.count_units: frozenset[str] = frozenset()
        self.per_day: dict[str, float] = {}
        # Timing.code -> (frequency, period, period unit); lab value set -> (upper limit, units)
        self.timing_codes: dict[str, tuple[float, float, str]] = {}
        self.default_upper_limits: dict[str, tuple[float, frozenset[str]]] = {}
        self._valuesets_of = lru_cache(maxsize=8192)(self._match_all)
        self._recognise = lru_cache(maxsize=8192)(self._recognise_uncached)
        # The same answers by the concept object itself (see `_by_identity`).
        self._recognised: dict[int, tuple[Concept, Recognition | None]] = {}
        self._in_valuesets: dict[tuple[int, int], tuple[Concept, tuple[str, ...], frozenset[str]]] = {}

    # ---------------------------------------------------------------- building
    @classmethod
    def build(
        cls,
        valuesets: Mapping[str, Mapping[str, Any]],
        classes: Mapping[str, Mapping[str, Any]],
        systems: Mapping[str, tuple[str, ...]],
    ) -> Terminology:
        t = cls()
        for key, uris in systems.items():
            for uri in uris:
                t.system_key[uri] = key
        name_words: dict[str, Product] = {}
        for vs_id, vs in valuesets.items():
            kind = vs["kind"]
            if kind == "medication":
                t._add_medications(vs_id, vs, name_words)
            elif kind in {"condition", "reason"}:
                t.matchers[vs_id] = ConceptMatcher(vs, t.system_key)
            elif kind == "lab":
                for c in vs["codes"]:
                    lab_key = (t.system_key.get(c["system"], c["system"]), c["code"])
                    t.labs_by_code[lab_key] = t.labs_by_code.get(lab_key, frozenset()) | {vs_id}
                limit = vs.get("default_upper_limit")
                if limit:
                    t.default_upper_limits[vs_id] = (
                        float(limit["value"]),
                        frozenset(u.lower() for u in limit["units"]),
                    )
            elif kind == "route":
                t._add_routes(vs)
            elif kind == "units":
                t.mass_to_mg = {k.lower(): float(v) for k, v in vs["mass_to_mg"].items()}
                t.volume_to_ml = {k.lower(): float(v) for k, v in vs["volume_to_ml"].items()}
                t.count_units = frozenset(u.lower() for u in vs["count"])
                t.per_day = {k: float(v) for k, v in vs["per_day"].items()}
                t.timing_codes = {
                    code.upper(): (float(spec["frequency"]), float(spec["period"]), spec["period_unit"])
                    for code, spec in vs.get("timing_codes", {}).get("codes", {}).items()
                }
        t.names = name_words
        t.name_pattern = _word_pattern(name_words)
        t.name_index = PhraseIndex(name_words)
        for class_id, spec in classes.items():
            members = []
            for member in spec["members"]:
                ingredients: set[str] = set(member.get("ingredients", []))
                for vs_id in member.get("valuesets", []):
                    ingredients |= t.ingredients_of_valueset.get(vs_id, frozenset())
                routes = frozenset(member["routes"]) if "routes" in member else None
                members.append((frozenset(ingredients), routes))
            t.classes[class_id] = tuple(members)
        return t

    def _add_medications(self, vs_id: str, vs: Mapping[str, Any], name_words: dict[str, Product]) -> None:
        in_set = set()
        for entry in vs["ingredients"]:
            ingredient = entry["ingredient"]
            in_set.add(ingredient)
            self.ingredients.add(ingredient)
            for word in entry["names"]:
                name_words[word.lower()] = Product(ingredient)
            for brand in entry.get("brands", []):
                name_words[brand["name"].lower()] = Product(ingredient, route=brand.get("route"))
            if entry.get("unit_routes"):
                self.unit_routes[ingredient] = {k.lower(): v for k, v in entry["unit_routes"].items()}
            for code in entry["codes"]:
                product = Product(
                    ingredient,
                    route=code.get("route"),
                    strength_mg=code.get("strength_mg"),
                    strength_mg_per_ml=code.get("strength_mg_per_ml"),
                )
                self.products_by_code[code["code"]] = self.products_by_code.get(code["code"], ()) + (product,)
        self.ingredients_of_valueset[vs_id] = frozenset(in_set)

    def _add_routes(self, vs: Mapping[str, Any]) -> None:
        for group, spec in vs["groups"].items():
            for c in spec.get("codes", []):
                self.route_codes[(self.system_key.get(c["system"], c["system"]), c["code"].upper())] = group
            pattern = _word_pattern(spec.get("words", []))
            if pattern is not None:
                self.route_words.append((pattern, group))
        forms = sorted(
            ((w, f["route"]) for f in vs["forms"] for w in f["words"]),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        self.form_words = [(p, route) for w, route in forms if (p := _word_pattern([w])) is not None]

    # ---------------------------------------------------------------- medications
    def recognise(self, concept: Concept | None) -> Recognition | None:
        """Ingredients and product facts of a medication concept, or None when not ours (cached)."""
        if concept is None:
            return None
        seen = self._recognised.get(id(concept))
        if seen is not None and seen[0] is concept:
            return seen[1]
        found = self._recognise(concept)
        _remember(self._recognised, id(concept), (concept, found))
        return found

    def is_medication_of_interest(self, concept: Concept | None) -> bool:
        return self.recognise(concept) is not None

    def _recognise_uncached(self, concept: Concept) -> Recognition | None:
        products: list[Product] = []
        for coding in concept.codings:
            if coding.code and self.system_key.get(coding.system or "") == "rxnorm":
                products.extend(self.products_by_code.get(coding.code.strip(), ()))
        name = concept.text or next((c.display for c in concept.codings if c.display), None) or ""
        named = self._named(concept)
        if not products:
            products = named
        if not products:
            return None
        ingredients = frozenset(p.ingredient for p in products)
        route = (
            next((p.route for p in products if p.route), None)
            or self.form_route(concept)
            or next((p.route for p in named if p.route and p.ingredient in ingredients), None)
        )
        strength_mg = next((p.strength_mg for p in products if p.strength_mg), None)
        strength_ml = next((p.strength_mg_per_ml for p in products if p.strength_mg_per_ml), None)
        if len(ingredients) == 1 and strength_mg is None and strength_ml is None:
            for text in concept.words():
                strength_mg, strength_ml = parse_strength(text, self.mass_to_mg)
                if strength_mg or strength_ml:
                    break
        return Recognition(ingredients, route, strength_mg, strength_ml, name or sorted(ingredients)[0])

    def _named(self, concept: Concept) -> list[Product]:
        """Ingredients and brands written in the text or displays (first text that names any)."""
        if not self.name_index:
            return []
        for text in concept.words():
            found = [self.names[name] for name in self.name_index.find(text)]
            if found:
                return found
        return []

    def form_route(self, concept: Concept) -> str | None:
        """Route implied by a dose form or route word inside a product name."""
        for text in concept.words():
            for pattern, route in self.form_words:
                if pattern.search(text):
                    return route
        return None

    def route_of(self, concept: Concept | None) -> str | None:
        """Route group of a `dosageInstruction.route` concept."""
        if concept is None:
            return None
        for coding in concept.codings:
            if coding.code:
                key = (
                    self.system_key.get(coding.system or "", coding.system or ""),
                    coding.code.strip().upper(),
                )
                if key in self.route_codes:
                    return self.route_codes[key]
        for text in concept.words():
            for pattern, group in self.route_words:
                if pattern.search(text):
                    return group
        return None

    def unit_route(self, ingredients: frozenset[str], unit: str | None) -> str | None:
        if not unit:
            return None
        for ingredient in ingredients:
            route = self.unit_routes.get(ingredient, {}).get(unit.lower())
            if route:
                return route
        return None

    def classes_of(self, ingredients: frozenset[str], route: str | None) -> frozenset[str]:
        route_key = route or UNSPECIFIED
        out = set()
        for class_id, members in self.classes.items():
            for member_ingredients, routes in members:
                if ingredients & member_ingredients and (routes is None or route_key in routes):
                    out.add(class_id)
                    break
        return frozenset(out)

    def selector_problem(self, selector: Mapping[str, Any]) -> str | None:
        for ingredient in selector.get("ingredients", []):
            if ingredient not in self.ingredients:
                return f"unknown ingredient {ingredient!r}"
        for class_id in selector.get("classes", []):
            if class_id not in self.classes:
                return f"unknown class {class_id!r}"
        return None

    # ---------------------------------------------------------------- conditions, reasons, labs
    def matches(self, valueset_id: str, concept: Concept) -> bool:
        matcher = self.matchers.get(valueset_id)
        return matcher is not None and matcher.matches(concept)

    def display_of(self, concept: Concept) -> str | None:
        """The display a condition value set gives the concept's code (for a code sent bare)."""
        return next((d for m in self.matchers.values() if (d := m.display_of(concept))), None)

    def valuesets_of(self, concept: Concept, valueset_ids: tuple[str, ...]) -> frozenset[str]:
        """The value sets (among `valueset_ids`) a condition concept belongs to, cached.

        Problem lists repeat the same few thousand concepts across patients, and matching one
        concept runs every value set's word patterns: the cache makes the common case a lookup.
        """
        key = (id(concept), id(valueset_ids))
        seen = self._in_valuesets.get(key)
        if seen is not None and seen[0] is concept and seen[1] is valueset_ids:
            return seen[2]
        found = self._valuesets_of(concept, valueset_ids)
        _remember(self._in_valuesets, key, (concept, valueset_ids, found))
        return found

    def _match_all(self, concept: Concept, valueset_ids: tuple[str, ...]) -> frozenset[str]:
        return frozenset(vs for vs in valueset_ids if self.matches(vs, concept))

    def labs_of(self, concept: Concept) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for coding in concept.codings:
            if coding.code:
                key = (self.system_key.get(coding.system or "", coding.system or ""), coding.code.strip())
                out |= self.labs_by_code.get(key, frozenset())
        return out

    def is_lab_of_interest(self, concept: Concept) -> bool:
        return bool(self.labs_of(concept))


# Entries of the identity caches in front of the lru caches above (cleared when full).
_BY_IDENTITY_MAX = 8192


def _remember(cache: dict[Any, Any], key: Any, entry: tuple[Any, ...]) -> None:
    """Store `entry` (which holds the concept itself) under its concept's `id`.

    The readers hand out one Concept object per distinct concept (`fhir._values.concept_of`), and
    a record asks about the same few hundreds of times: a lookup by `id` skips hashing the concept
    (a Python `__hash__` per coding) that the lru cache needs. The entry keeps the concept alive,
    so its id cannot be reused by another object while the entry stands; the `is` test on a hit
    makes that certain. Bounded: cleared when full.
    """
    if len(cache) >= _BY_IDENTITY_MAX:
        cache.clear()
    cache[key] = entry
