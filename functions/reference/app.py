"""Reference: a snapshot under reference/ is validated, kept, and compiled into the reference index.

Every put is its own snapshot (idempotent per put: a notification delivered again is processed once,
a new put of the same bytes is a new snapshot); the newest put of a kind is current."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.config import ReferenceSettings
from accesswatch.dal.executions import Executions
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.models import S3Notification
from accesswatch.observability import observability
from accesswatch.s3_objects import Identity, for_each_created_object, once_per_object
from accesswatch.services.reference import ingest_reference

SETTINGS = ReferenceSettings.from_env()
logger, metrics, tracer = observability("reference")
STORE = ObjectStore()
LEDGER = Ledger(SETTINGS.ledger_table)
EXECUTIONS = Executions()
IDEMPOTENCY, reference_once = once_per_object(SETTINGS.idempotency_table, LEDGER, "reading snapshot", lambda obj: ingest_reference(
    obj, settings=SETTINGS, store=STORE, ledger=LEDGER, executions=EXECUTIONS).as_dict(), identity=Identity.PUT)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notification = S3Notification.model_validate(event)
    IDEMPOTENCY.register_lambda_context(context)
    done = for_each_created_object(notification, lambda source: reference_once(source=source),
                                   logger=logger, metrics=metrics, failure_metric="ReferenceFailed",
                                   identity=Identity.PUT)
    for _record, result in done:
        metrics.add_metric(name="ReferenceSnapshots", unit=MetricUnit.Count, value=1)
        if result["status"] == "rejected":
            metrics.add_metric(name="FilesRejected", unit=MetricUnit.Count, value=1)
        logger.info("reference snapshot processed", extra={"object_key": result["key"], **{
            k: result.get(k) for k in ("ingest_id", "kind", "status", "rows", "snapshot_id", "current", "superseded_by")}})
    return {"snapshots": [result for _, result in done]}
