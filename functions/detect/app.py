"""Detect: one Distributed Map item, the rule catalog over one curated partition."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.cases.scoring import ScoringSettings
from accesswatch.config import DetectSettings
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.objects import ObjectStore
from accesswatch.models import DetectRequest
from accesswatch.observability import observability
from accesswatch.services.partition_detection import IndexCache, detect_partition, index_loader

SETTINGS = DetectSettings.from_env()
SCORING = ScoringSettings.from_env()
logger, metrics, tracer = observability("detect")
STORE = ObjectStore()
INDEXES = IndexCache(index_loader(STORE, SETTINGS.curated_bucket))
FINDINGS = FindingStore(SETTINGS.findings_table)
CASES = CaseStore(SETTINGS.cases_table)
EXECUTIONS = Executions()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=DetectRequest)
    logger.append_keys(partition=request.partition.key, ingest_id=request.ingest_id, snapshot_id=request.snapshot_id)
    started = time.monotonic()
    result = detect_partition(request.partition.model_dump(), request.snapshot_id, settings=SETTINGS, store=STORE,
                              indexes=INDEXES, findings=FINDINGS, cases=CASES, executions=EXECUTIONS,
                              scoring=SCORING)
    metrics.add_metric(name="PartitionsProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="EventsDetected", unit=MetricUnit.Count, value=result["events"])
    metrics.add_metric(name="PartitionDuration", unit=MetricUnit.Seconds, value=time.monotonic() - started)
    metrics.add_metric(name="FindingsNew", unit=MetricUnit.Count, value=result["new_findings"])
    metrics.add_metric(name="CasesOpened", unit=MetricUnit.Count, value=result["cases_opened"])
    metrics.add_metric(name="FindingsJoined", unit=MetricUnit.Count, value=result["findings_joined"])
    metrics.add_metric(name="FindingsLedgered", unit=MetricUnit.Count, value=result["findings_ledgered"])
    metrics.add_metric(name="FindingsSuppressed", unit=MetricUnit.Count, value=result["findings_suppressed"])
    # Findings kept under a conflict id (an event_id reused with other content): EventIdConflictAlarm.
    metrics.add_metric(name="EventIdConflicts", unit=MetricUnit.Count, value=result["event_id_conflicts"])
    logger.info("partition detected", extra={k: result[k] for k in (
        "events", "findings", "new_findings", "cases_opened", "cases_joined", "findings_ledgered", "users_queued",
        "findings_suppressed", "event_id_conflicts", "by_rule")})
    return result
