"""A file's detection outcome from its partitions' results (the detection state machine's Map output).

Its own module so that the detection-outcome function loads no detection code (no polars).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any


def summarise_partitions(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The detection outcome of a file from its partitions' results (the Map state's output)."""
    by_rule: Counter[str] = Counter()
    for r in results:
        by_rule.update(r.get("by_rule", {}))
    return {
        "partitions": len(results),
        "events_detected": sum(int(r.get("events", 0)) for r in results),
        "findings": sum(int(r.get("findings", 0)) for r in results),
        "new_findings": sum(int(r.get("new_findings", 0)) for r in results),
        "cases_opened": sum(int(r.get("cases_opened", 0)) for r in results),
        "findings_joined": sum(int(r.get("findings_joined", 0)) for r in results),
        "findings_ledgered": sum(int(r.get("findings_ledgered", 0)) for r in results),
        "findings_suppressed": sum(int(r.get("findings_suppressed", 0)) for r in results),
        "findings_by_rule": json.dumps(dict(sorted(by_rule.items()))),
    }
