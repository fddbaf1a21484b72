"""Report: the quarterly governance and OIA tables (scheduled after each New Zealand quarter)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.config import ReportSettings
from accesswatch.observability import observability

SETTINGS = ReportSettings.from_env()
logger, metrics, tracer = observability("report")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The quarterly tables are issue #6; until then this function refuses loudly rather than
    # pretending to have produced a report.
    raise NotImplementedError("quarterly reports are not built yet (issue #6)")
