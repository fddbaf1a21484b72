"""Replay: judge stored partitions again with the current rules and reference data.

A replay is one more detection execution over a manifest of existing partitions. Nothing is
duplicated (finding ids derive from system, event id and rule; cases are joined, not reopened);
a finding raised again is marked as confirmed by the current snapshot, and one that the current
rules and reference data no longer raise is reported, never deleted.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from accesswatch.dal.executions import Executions
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.services.ingest import start_detection

_PARTITION = re.compile(r"^events/system=(?P<system>[^/]+)/nz_date=(?P<day>\d{4}-\d{2}-\d{2})/[^/]+\.parquet$")


@dataclass
class ReplayPlan:
    replay_id: str
    partitions: list[dict[str, Any]] = field(default_factory=list)


def plan_replay(keys: list[str], bucket: str, start: date, end: date) -> ReplayPlan:
    """The partitions whose New Zealand date lies in [start, end] (pure)."""
    chosen = []
    for key in sorted(keys):
        match = _PARTITION.match(key)
        if match and start <= date.fromisoformat(match["day"]) <= end:
            chosen.append({"bucket": bucket, "key": key, "rows": 0, "system": match["system"],
                           "nz_date": match["day"]})
    digest = hashlib.sha256("|".join(str(p["key"]) for p in chosen).encode()).hexdigest()[:12]
    return ReplayPlan(f"replay-{start.isoformat()}-{end.isoformat()}-{digest}", chosen)


def start_replay(plan: ReplayPlan, snapshot_id: str, *, curated_bucket: str, state_machine_arn: str,
                 store: ObjectStore, ledger: Ledger, executions: Executions, attempt: str) -> str:
    replay_id = f"{plan.replay_id}-{attempt}"
    manifest_key = CuratedLayout.manifest(replay_id)
    store.put_json(curated_bucket, manifest_key, plan.partitions)
    ledger.start_file(replay_id, key=f"replay:{plan.replay_id}", kind="replay", partitions=len(plan.partitions),
                      snapshot_id=snapshot_id)
    return start_detection(replay_id, manifest_key, snapshot_id, curated_bucket, state_machine_arn, executions)


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]], snapshot_id: str,
            start: date, end: date) -> dict[str, Any]:
    """What the replay changed, per rule: new findings, findings raised again, no longer raised."""
    def in_range(f: dict[str, Any]) -> bool:
        return start <= date.fromisoformat(f["nz_date"]) <= end

    old = {f["finding_id"] for f in before if in_range(f)}
    now = [f for f in after if in_range(f)]
    new = [f for f in now if f["finding_id"] not in old]
    confirmed = [f for f in now if f["finding_id"] in old and f.get("confirmed_snapshot_id") == snapshot_id]
    stale = [f for f in now if f.get("confirmed_snapshot_id", f.get("snapshot_id")) != snapshot_id]
    return {
        "snapshot_id": snapshot_id,
        "new": dict(sorted(Counter(f["rule"] for f in new).items())),
        "raised_again": dict(sorted(Counter(f["rule"] for f in confirmed).items())),
        "no_longer_raised": dict(sorted(Counter(f["rule"] for f in stale).items())),
        "no_longer_raised_ids": sorted(f["finding_id"] for f in stale),
    }
