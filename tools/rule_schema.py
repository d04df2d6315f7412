"""Write the predicate part of schemas/knowledge/rule.schema.json from service/predicates.py.

Each predicate is declared once, in service/predicates.py; the published rule schema carries their
argument schemas under `$defs/predicate`. Run after declaring or changing a predicate:

    .venv/bin/python tools/rule_schema.py          # rewrite the schema
    .venv/bin/python tools/rule_schema.py --check  # exit 1 if the committed schema is stale

tests/knowledge/test_predicates.py fails when the committed file differs from what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "knowledge" / "rule.schema.json"


def generate(current: dict[str, Any]) -> str:
    """The rule schema text with `$defs/predicate` taken from the predicate declarations."""
    from spasticity_cds.predicates import schema_definition

    schema = dict(current)
    schema["$defs"] = {**current["$defs"], "predicate": schema_definition()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    current_text = SCHEMA.read_text(encoding="utf-8")
    text = generate(json.loads(current_text))
    if "--check" in argv:
        if text != current_text:
            print(f"{SCHEMA.relative_to(REPO)} is stale: run tools/rule_schema.py", file=sys.stderr)
            return 1
        return 0
    SCHEMA.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main(sys.argv[1:]))
