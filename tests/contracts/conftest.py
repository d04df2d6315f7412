"""Contract tests run offline: pact's anonymous usage tracking is switched off before pact loads."""

from __future__ import annotations

import os

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")
