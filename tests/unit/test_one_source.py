"""Facts written once: a card's rule id, the unit factors of units.json, the default ports."""

from __future__ import annotations

import json

import pytest

from spasticity_cds import auth, fhirclient
from spasticity_cds.cardkeys import rule_id_of
from spasticity_cds.paths import data_path
from spasticity_cds.terminology import parse_strength


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (
            {"source": {"label": "x", "topic": {"code": "baclofen-renal-impairment"}}},
            "baclofen-renal-impairment",
        ),
        ({"source": {"label": "x"}}, None),
        ({"source": {"topic": {"code": ""}}}, None),
        ({"source": "not a mapping"}, None),
        ({}, None),
    ],
)
def test_rule_id_of(card: dict[str, object], expected: str | None) -> None:
    assert rule_id_of(card) == expected


def _units() -> dict[str, float]:
    units = json.loads((data_path("cards") / "valuesets" / "units.json").read_text(encoding="utf-8"))
    return {k.lower(): float(v) for k, v in units["mass_to_mg"].items()}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Baclofen 10 MG Oral Tablet", (10.0, None)),
        ("Tizanidine 500 MCG tablet", (0.5, None)),
        ("Dantrolene 2 g powder", (2000.0, None)),
        ("Baclofen 5 MG/ML oral solution", (None, 5.0)),
        ("Baclofen 10 MG/5 ML oral solution", (None, 2.0)),
        ("no strength here", (None, None)),
    ],
)
def test_strengths_in_names_use_the_factors_of_units_json(
    name: str, expected: tuple[float | None, float | None]
) -> None:
    assert parse_strength(name, _units()) == expected


def test_a_unit_missing_from_the_table_is_not_guessed() -> None:
    assert parse_strength("Baclofen 10 MG tablet", {"g": 1000.0}) == (None, None)


def test_one_default_port_table() -> None:
    assert auth.DEFAULT_PORTS is fhirclient.DEFAULT_PORTS
