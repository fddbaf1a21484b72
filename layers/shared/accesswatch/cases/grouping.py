"""Which case a new finding joins, or whether it opens one: pure, deterministic planning.

Findings for the same (user, client) join the open case while they fall within ``window`` of the
case's first finding and the case holds fewer than ``cap`` findings; otherwise a new case opens.
A case id is derived from the user, client and the finding that opened it, so a retry or replay
that plans the same findings again arrives at the same ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta


def case_id_for(user_id: str, client_id: str, opening_finding_id: str) -> str:
    digest = hashlib.sha256(f"{user_id}\x1f{client_id}\x1f{opening_finding_id}".encode()).hexdigest()
    return f"CASE-{digest[:16].upper()}"


@dataclass(frozen=True)
class FindingRef:
    finding_id: str
    rule: str
    severity: str
    occurred_at_utc: datetime


@dataclass
class OpenCase:
    """The pair's open case as the cases table knows it (``version`` guards concurrent writers)."""

    case_id: str
    first_occurred_at: datetime
    finding_count: int
    version: int = 0


@dataclass
class CasePlan:
    case_id: str
    opens: bool  # a new case (notify) or joining an open one (no new alert)
    first_occurred_at: datetime
    findings: list[FindingRef] = field(default_factory=list)


def plan_cases(user_id: str, client_id: str, findings: list[FindingRef], open_case: OpenCase | None,
               *, window: timedelta, cap: int) -> list[CasePlan]:
    """Assign each finding (any order) to a case; returns the cases touched, in order."""
    plans: list[CasePlan] = []
    current: CasePlan | None = None
    count = 0
    if open_case is not None:
        current = CasePlan(open_case.case_id, False, open_case.first_occurred_at)
        count = open_case.finding_count
    for finding in sorted(findings, key=lambda f: (f.occurred_at_utc, f.finding_id)):
        fits = (
            current is not None
            and abs(finding.occurred_at_utc - current.first_occurred_at) <= window
            and count < cap
        )
        if not fits:
            current = CasePlan(case_id_for(user_id, client_id, finding.finding_id), True, finding.occurred_at_utc)
            count = 0
            plans.append(current)
        elif current is not None and current not in plans:
            plans.append(current)
        assert current is not None
        current.findings.append(finding)
        count += 1
    return plans
