"""Ingest: every access-log object created in the raw bucket, every record of the notification."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.config import IngestSettings
from accesswatch.dal.executions import Executions
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.models import S3Notification
from accesswatch.observability import observability
from accesswatch.s3_objects import for_each_created_object, once_per_object
from accesswatch.services.ingest import ingest_object

SETTINGS = IngestSettings.from_env()
logger, metrics, tracer = observability("ingest")
STORE = ObjectStore()
LEDGER = Ledger(SETTINGS.ledger_table)
EXECUTIONS = Executions()
IDEMPOTENCY, ingest_once = once_per_object(SETTINGS.idempotency_table, LEDGER, "ingesting", lambda obj: ingest_object(
    obj, settings=SETTINGS, store=STORE, ledger=LEDGER, executions=EXECUTIONS).as_dict())


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notification = S3Notification.model_validate(event)
    IDEMPOTENCY.register_lambda_context(context)
    done = for_each_created_object(notification, lambda source: ingest_once(source=source),
                                   logger=logger, metrics=metrics, failure_metric="FilesFailed")
    for record, result in done:
        _metrics(result, record.event_time)
        logger.info("file ingested", extra={"object_key": result["key"], **{k: result[k] for k in (
            "ingest_id", "status", "lines_read", "accepted", "quarantined", "conflicts", "partitions")}})
    return {"files": [result for _, result in done]}


def _metrics(result: dict[str, Any], event_time: datetime | None) -> None:
    metrics.add_metric(name="FilesIngested", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=result["accepted"])
    metrics.add_metric(name="LinesQuarantined", unit=MetricUnit.Count, value=result["quarantined"])
    # Lines reusing an accepted event_id with other content (quarantined): EventIdConflictAlarm.
    metrics.add_metric(name="EventIdConflicts", unit=MetricUnit.Count, value=result["conflicts"])
    metrics.add_metric(name="PartitionsWritten", unit=MetricUnit.Count, value=result["partitions"])
    if result["status"] == FileStatus.REJECTED.value:
        metrics.add_metric(name="FilesRejected", unit=MetricUnit.Count, value=1)
    if event_time is not None:
        lag = (datetime.now(UTC) - event_time).total_seconds()
        metrics.add_metric(name="IngestLagSeconds", unit=MetricUnit.Seconds, value=max(lag, 0.0))
