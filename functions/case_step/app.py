"""Case step: one task of the case state machine (the payload's ``step`` names which)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.cases.vocabulary import CaseVocabulary
from accesswatch.cases.workflow import CaseWorkflow
from accesswatch.config import StorageSettings
from accesswatch.dal.cases import CaseStore
from accesswatch.models import CaseStepRequest
from accesswatch.observability import observability

SETTINGS = StorageSettings.from_env()
logger, metrics, tracer = observability("case-step")
WORKFLOW = CaseWorkflow(CaseStore(SETTINGS.cases_table), CaseVocabulary.from_env())


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=CaseStepRequest)
    logger.append_keys(case_id=request.case_id, step=request.step)
    result = WORKFLOW.run(request.step, request.case_id, request.model_extra or {})
    metrics.add_metric(name="CaseSteps", unit=MetricUnit.Count, value=1)
    if request.step == "triage":
        metrics.add_metric(name="CasesTriaged", unit=MetricUnit.Count, value=1)
    if request.step.startswith("close_"):
        metrics.add_metric(name="CasesClosed", unit=MetricUnit.Count, value=1)
    if request.step == "escalate":
        metrics.add_metric(name="CasesEscalated", unit=MetricUnit.Count, value=1)
    # Ids and the step's outcome only: never the payload (a person's note) or the case's people.
    logger.info("case step done", extra={k: result[k] for k in ("status", "accepted", "priority", "route")
                                         if k in result})
    return {"case_id": request.case_id, **result}
