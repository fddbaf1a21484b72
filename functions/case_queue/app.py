"""Case queue: open accumulate-tier cases within the daily budget, and the weekly random review."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.cases.queue import drain, random_review
from accesswatch.cases.scoring import ScoringSettings
from accesswatch.config import CaseQueueSettings
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingStore
from accesswatch.models import CaseQueueRequest
from accesswatch.observability import observability
from accesswatch.quarters import nz_date, previous_nz_week
from accesswatch.services.routing import case_router

SETTINGS = CaseQueueSettings.from_env()
SCORING = ScoringSettings.from_env()
logger, metrics, tracer = observability("case-queue")
CASES = CaseStore(SETTINGS.cases_table)
FINDINGS = FindingStore(SETTINGS.findings_table)
EXECUTIONS = Executions()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=CaseQueueRequest)
    now = datetime.now(UTC)
    router = case_router(cases=CASES, findings=FINDINGS, executions=EXECUTIONS,
                         case_state_machine_arn=SETTINGS.case_state_machine_arn, scoring=SCORING)
    if request.action == "random_review":
        week = request.week or previous_nz_week(now)
        review = random_review(router, week=week)
        metrics.add_metric(name="RandomReviewCasesOpened", unit=MetricUnit.Count, value=review["opened"])
        logger.info("random review drawn", extra={k: review[k] for k in ("week", "candidates", "opened",
                                                                          "already_drawn")})
        return review
    result = drain(router, day=nz_date(now)).as_dict()
    metrics.add_metric(name="QueuedCasesOpened", unit=MetricUnit.Count, value=result["opened"])
    metrics.add_metric(name="CaseQueueWaiting", unit=MetricUnit.Count, value=result["waiting"])
    # One datapoint per drain: 1 when queued cases wait for the next day's budget (CaseBudgetExhaustedAlarm).
    metrics.add_metric(name="CaseBudgetExhausted", unit=MetricUnit.Count, value=1 if result["waiting"] else 0)
    logger.info("case queue drained", extra=result)
    return result
