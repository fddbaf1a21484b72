"""The case router as detection and the case-queue function build it: the rule weights in force now."""

from __future__ import annotations

from accesswatch.cases.assign import CaseRouter
from accesswatch.cases.scoring import ScoringSettings, precision_weights
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingMarks
from accesswatch.dal.risk import RiskStore


def case_router(*, cases: CaseStore, findings: FindingMarks, executions: Executions, case_state_machine_arn: str,
                scoring: ScoringSettings) -> CaseRouter:
    """The router with the rule weights in force now (configured, scaled by decided precision)."""
    return CaseRouter(cases=cases, risk=RiskStore(cases), findings=findings, executions=executions,
                      case_state_machine_arn=case_state_machine_arn, settings=scoring,
                      weights=precision_weights(scoring, cases.rule_stats()))
