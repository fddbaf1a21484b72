"""Report: the quarterly governance and OIA tables (scheduled after each New Zealand quarter)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.config import ReportSettings
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.dal.partitions import PartitionStore
from accesswatch.dal.reporting import FindingQueries
from accesswatch.models import ReportRequest
from accesswatch.observability import observability
from accesswatch.services.report import ReportSources, produce, publish

SETTINGS = ReportSettings.from_env()
logger, metrics, tracer = observability("report")
STORE = ObjectStore()


def sources() -> ReportSources:
    return ReportSources(
        cases=CaseStore(SETTINGS.cases_table),
        findings=FindingQueries(SETTINGS.findings_table),
        partitions=PartitionStore(STORE.s3, SETTINGS.curated_bucket),
        ledger=Ledger(SETTINGS.ledger_table),
        store=STORE,
        curated_bucket=SETTINGS.curated_bucket,
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=ReportRequest)
    period = request.period(datetime.now(UTC))
    logger.append_keys(period_from=period.start.isoformat(), period_to=period.end.isoformat(), source=request.source)
    report = produce(sources(), period, threshold=SETTINGS.small_count_threshold, systems=request.systems or None)
    keys = publish(report, STORE, SETTINGS.curated_bucket)
    metrics.add_metric(name="ReportsPublished", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ReportCellsWithheld", unit=MetricUnit.Count, value=report.withheld_cells())
    # The period reported: a period asked for beyond today is clipped to today (reports/coverage.py).
    reported = report.period
    logger.info("report published", extra={"files": len(keys), "withheld_cells": report.withheld_cells(),
                                           "reported_to": reported.end.isoformat()})
    return {"period": {"from": reported.start.isoformat(), "to": reported.end.isoformat()},
            "asked": {"from": period.start.isoformat(), "to": period.end.isoformat()},
            "keys": keys, "withheld_cells": report.withheld_cells()}
