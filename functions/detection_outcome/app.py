"""Detection outcome: the detection state machine's last step records the file's result in the ledger."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.config import StorageSettings
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.models import DetectionOutcome
from accesswatch.observability import observability
from accesswatch.services.detection_outcome import summarise_partitions

SETTINGS = StorageSettings.from_env()
logger, metrics, tracer = observability("detection-outcome")
LEDGER = Ledger(SETTINGS.ledger_table)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = parse(event=event, model=DetectionOutcome)
    logger.append_keys(ingest_id=outcome.ingest_id)
    if outcome.outcome == "failed":
        error = (outcome.error or {}).get("Error", "unknown")
        LEDGER.update_file(outcome.ingest_id, FileStatus.FAILED, reason=f"detection failed: {error}")
        metrics.add_metric(name="DetectionFailures", unit=MetricUnit.Count, value=1)
        logger.error("detection failed", extra={"error": error})
        return {"ingest_id": outcome.ingest_id, "status": FileStatus.FAILED.value}
    summary = summarise_partitions(outcome.partitions)
    metrics.add_metric(name="FilesDetected", unit=MetricUnit.Count, value=1)
    LEDGER.update_file(outcome.ingest_id, FileStatus.DETECTED, **summary)
    logger.info("detection finished", extra=summary)
    return {"ingest_id": outcome.ingest_id, "status": FileStatus.DETECTED.value, **summary}
