"""Reference: a snapshot under reference/ is validated, kept, and compiled into the reference index."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.config import ReferenceSettings
from accesswatch.dal.executions import Executions
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.notifications import S3Notification
from accesswatch.observability import observability
from accesswatch.services.files import SourceObject
from accesswatch.services.reference import ingest_reference

SETTINGS = ReferenceSettings.from_env()
logger, metrics, tracer = observability("reference")
STORE = ObjectStore()
LEDGER = Ledger(SETTINGS.ledger_table)
EXECUTIONS = Executions()
IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="[bucket, key, etag]", expires_after_seconds=30 * 24 * 3600)
PERSISTENCE = DynamoDBPersistenceLayer(table_name=SETTINGS.idempotency_table)


@idempotent_function(data_keyword_argument="source", config=IDEMPOTENCY, persistence_store=PERSISTENCE)
def reference_once(source: dict[str, Any]) -> dict[str, Any]:
    obj = SourceObject(**source)
    try:
        return ingest_reference(obj, settings=SETTINGS, store=STORE, ledger=LEDGER, executions=EXECUTIONS).as_dict()
    except Exception as exc:
        LEDGER.update_file(obj.ingest_id, FileStatus.FAILED, reason=f"{type(exc).__name__} while reading snapshot")
        raise


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notification = S3Notification.model_validate(event)
    IDEMPOTENCY.register_lambda_context(context)
    results, failures = [], []
    for record in notification.created():
        source = record.source()
        logger.append_keys(object_key=source.key)
        try:
            result = reference_once(source=source.__dict__)
        except Exception as exc:  # noqa: BLE001 - every record is attempted; the failure is re-raised below
            logger.exception("reference snapshot failed", extra={"error_type": type(exc).__name__})
            metrics.add_metric(name="ReferenceFailed", unit=MetricUnit.Count, value=1)
            failures.append(source.key)
            continue
        results.append(result)
        metrics.add_metric(name="ReferenceSnapshots", unit=MetricUnit.Count, value=1)
        if result["status"] == "rejected":
            metrics.add_metric(name="FilesRejected", unit=MetricUnit.Count, value=1)
        logger.info("reference snapshot processed", extra={k: result[k] for k in ("kind", "status", "rows",
                                                                                 "snapshot_id")})
    logger.remove_keys(["object_key"])
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(notification.created())} snapshots failed")
    return {"snapshots": results}
