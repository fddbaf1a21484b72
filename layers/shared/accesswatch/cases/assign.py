"""Attaching findings to cases and starting each new case's state machine, safely under retries.

Safe to run again on the same findings (a retried or replayed partition): a finding that already
names its case is not planned again, a case is created once (conditional put), and the case's
execution is started under the case id as its name, so it starts once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from accesswatch.cases.grouping import FindingRef, plan_cases
from accesswatch.dal.cases import CaseStore, ConcurrentUpdate
from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import now_iso

MAX_PLAN_ATTEMPTS = 8


def assign_findings(
    stored: list[dict[str, Any]],
    *,
    cases: CaseStore,
    findings: FindingStore,
    executions: Executions,
    case_state_machine_arn: str,
    window: timedelta,
    cap: int,
) -> dict[str, int]:
    """``stored``: live findings as the table holds them. Returns counts of cases opened and joined."""
    pending: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    touched: set[str] = set()
    for item in stored:
        if item.get("case_id"):
            touched.add(item["case_id"])
        else:
            pending[(item["user_id"], item["client_id"])].append(item)
    opened = joined = 0
    for (user_id, client_id), items in sorted(pending.items()):
        refs = [FindingRef(i["finding_id"], i["rule"], i["severity"], datetime.fromisoformat(i["occurred_at_utc"]))
                for i in items]
        by_id = {i["finding_id"]: i for i in items}
        for _attempt in range(MAX_PLAN_ATTEMPTS):
            open_case = cases.open_case(user_id, client_id)
            plans = plan_cases(user_id, client_id, refs, open_case, window=window, cap=cap)
            try:
                for plan in plans:
                    count = len(plan.findings)
                    if plan.opens:
                        cases.create_case({
                            "case_id": plan.case_id, "user_id": user_id, "client_id": client_id,
                            "status": "opened", "source": "detection", "opened_at": now_iso(),
                            "first_occurred_at": plan.first_occurred_at.isoformat(),
                            "finding_ids": [], "finding_count": 0,
                        })
                        cases.save_pointer(user_id, client_id, plan.case_id, plan.first_occurred_at, count,
                                           open_case.version if open_case else None)
                        open_case = cases.open_case(user_id, client_id)
                        opened += 1
                    else:
                        assert open_case is not None
                        cases.save_pointer(user_id, client_id, plan.case_id, plan.first_occurred_at,
                                           open_case.finding_count + count, open_case.version)
                        open_case = cases.open_case(user_id, client_id)
                        joined += 1
                    ids = [f.finding_id for f in plan.findings]
                    cases.add_findings(plan.case_id, ids, [f.rule for f in plan.findings])
                    for finding_id in ids:
                        findings.set_case(finding_id, plan.case_id)
                        by_id[finding_id]["case_id"] = plan.case_id
                    touched.add(plan.case_id)
                break
            except ConcurrentUpdate:
                refs = [r for r in refs if not by_id[r.finding_id].get("case_id")]
                if not refs:
                    break
        else:
            raise RuntimeError(f"could not settle cases for a user/client pair after {MAX_PLAN_ATTEMPTS} attempts")
    for case_id in sorted(touched):
        case = cases.get(case_id)
        if case is not None and not case.get("execution_arn"):
            # History first: the execution's first step may run (elsewhere) before start returns.
            cases.record_opened(case)
            arn = executions.start(case_state_machine_arn, case_id, {"case_id": case_id})
            cases.update(case_id, execution_arn=arn)
    return {"cases_opened": opened, "cases_joined": joined}
