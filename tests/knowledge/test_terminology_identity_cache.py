"""The identity caches in front of `Terminology.recognise` and `valuesets_of` answer as the
concept's value does: an equal concept built anew, or one asked about after the cache was cleared,
gets the same answer; a different concept never gets another's."""

from __future__ import annotations

from spasticity_cds import terminology
from spasticity_cds.knowledge import Knowledge
from spasticity_cds.records import Concept


def _fresh(concept: Concept) -> Concept:
    """An equal concept that is another object (its text another string object too)."""
    text = None if concept.text is None else "".join(concept.text)
    return Concept(codings=tuple(concept.codings), text=text)


def test_recognise_answers_by_value(knowledge: Knowledge) -> None:
    t = knowledge.terminology
    known = Concept(text="baclofen 10 mg tablet")
    unknown = Concept(text="amlodipine 5 mg tablet")
    first = t.recognise(known)
    assert first is not None and t.recognise(known) == first
    assert t.recognise(_fresh(known)) == first
    assert t.recognise(unknown) is None and t.recognise(unknown) is None
    t._recognised.clear()
    assert t.recognise(known) == first


def test_valuesets_of_answers_by_value(knowledge: Knowledge) -> None:
    t = knowledge.terminology
    ids = knowledge.condition_valuesets
    als = Concept(text="amyotrophic lateral sclerosis")
    other = Concept(text="sprained ankle")
    found = t.valuesets_of(als, ids)
    assert found and t.valuesets_of(als, ids) == found
    assert t.valuesets_of(_fresh(als), tuple(ids)) == found
    assert t.valuesets_of(other, ids) == frozenset()
    assert t.valuesets_of(als, ()) == frozenset()  # the same concept asked about other value sets


def test_identity_caches_are_bounded(knowledge: Knowledge) -> None:
    t = knowledge.terminology
    for i in range(terminology._BY_IDENTITY_MAX + 10):
        t.recognise(Concept(text=f"unknown drug {i}"))
        assert len(t._recognised) <= terminology._BY_IDENTITY_MAX
