"""What the service reads back from its own cards: the id of the rule that issued a card.

A card names its rule in ``source.topic.code`` (service/cards.py writes it there). Hooks, metrics,
the admin previews, repeat suppression and the store all need it back: they ask here, so the path
into the card dict is written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def rule_id_of(card: Mapping[str, Any]) -> str | None:
    """The id of the rule that issued `card` (its ``source.topic.code``); None when absent."""
    source = card.get("source") if isinstance(card, Mapping) else None
    topic = source.get("topic") if isinstance(source, Mapping) else None
    code = topic.get("code") if isinstance(topic, Mapping) else None
    return code if isinstance(code, str) and code else None
