"""What detection recorded, on a deployment: every finding, live and staging rules alike (staging findings are
recorded and counted but never reach a case, so this is where they are seen), read through the findings
table's indexes when a filter allows it (accesswatch.dal.findings.FindingStore.find)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

from accesswatch_tools.operate.deployment import Deployment, OperationError

RULE_STATUSES = ("live", "staging")


@dataclass(frozen=True)
class FindingFilter:
    """Which findings: a rule id (as the catalog spells it), a rule status (live or staging), a user, a client,
    and a period of New Zealand dates (``start`` and ``end`` inclusive, either open)."""

    rule: str | None = None
    status: str | None = None
    user: str | None = None
    client: str | None = None
    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in RULE_STATUSES:
            raise OperationError(f"unknown rule status {self.status!r}; one of {', '.join(RULE_STATUSES)}")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise OperationError(f"--to {self.end} is before --from {self.start}")

    def __call__(self, finding: dict[str, Any]) -> bool:
        day = str(finding.get("nz_date") or "")
        return ((self.rule is None or finding.get("rule") == self.rule)
                and (self.status is None or finding.get("rule_status", "live") == self.status)
                and (self.user is None or finding.get("user_id") == self.user)
                and (self.client is None or finding.get("client_id") == self.client)
                and (self.start is None or day >= self.start.isoformat())
                and (self.end is None or day <= self.end.isoformat()))


def _utc_bound(day: date) -> str:
    from accesswatch.quarters import nz_midnight

    return nz_midnight(day).astimezone(UTC).isoformat()


def list_findings(dep: Deployment, where: FindingFilter = FindingFilter()) -> list[dict[str, Any]]:
    """The findings ``where`` selects, oldest first (then by event and rule)."""
    from accesswatch.dal.findings import FindingStore
    from accesswatch.quarters import quarter_ends_between

    store = FindingStore(dep.resource_name("FindingsTable"), dep.resource("dynamodb"))
    quarters = None
    if where.rule is not None and where.start is not None and where.end is not None:
        quarters = [q.isoformat() for q in quarter_ends_between(where.start, where.end)]
    found = store.find(user_id=where.user, client_id=where.client, rule=where.rule, quarters=quarters,
                       since_utc=_utc_bound(where.start) if where.start else None,
                       until_utc=_utc_bound(where.end + timedelta(days=1)) if where.end else None)
    chosen = [f for f in found if where(f)]
    chosen.sort(key=lambda f: (str(f.get("occurred_at_utc", "")), str(f.get("event_id", "")), str(f.get("rule"))))
    return chosen


def finding_record(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding as ``findings list --json`` gives it: the export line (``findings.jsonl``), then its NZ date,
    tier, modifiers, where it went (``route``) and the exception that suppressed it, if any."""
    from accesswatch_tools.operate.export import export_finding, finding_route

    out = export_finding(finding)
    for key in ("nz_date", "tier", "modifiers", "suppressed_by"):
        if finding.get(key) not in (None, ""):
            out[key] = finding[key]
    out["route"] = finding_route(finding)
    return out
