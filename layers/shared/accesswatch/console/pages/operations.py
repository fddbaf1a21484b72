"""Operations: every alarm of this stack (ALARM first; name, state, reason, since when) and the operations
dashboard's figures as numbers for the last 24 hours and the last 7 days.

Read with the AWS API, as the CloudWatch console does: ``describe_alarms`` (the alarms whose names start
with ``ALARM_NAME_PREFIX``, the template's ``<prefix>-<stage>-``) and ``get_metric_data`` (the
``AccessWatch`` metrics the template's ``OperationsDashboard`` graphs). On the local endpoint the
embedded runtime's CloudWatch holds the template's alarms with their evaluated states
(``accesswatch_tools.embedded.adapters.cloudwatch``). Nothing here is about a person: alarm names, states,
reasons and counts only, so the page records no access event and no audit record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from botocore.exceptions import BotoCoreError, ClientError

from accesswatch.alarm_states import alarm_row, described_alarms, worst_first
from accesswatch.console.roles import Permission
from accesswatch.console.web import allowed, page, sources

router = Router()
NAMESPACE = "AccessWatch"


@dataclass(frozen=True)
class Figure:
    id: str  # also the start of its GetMetricData query ids
    label: str
    metric: str
    service: str  # the EMF "service" dimension
    stat: str  # Sum, Maximum or Average
    places: int = 0


# The dashboard's AccessWatch metrics (template.yaml, OperationsDashboard), in its order.
FIGURES: tuple[Figure, ...] = (
    Figure("events_accepted", "Access-log events accepted", "EventsAccepted", "ingest", "Sum"),
    Figure("lines_quarantined", "Lines quarantined", "LinesQuarantined", "ingest", "Sum"),
    Figure("files_ingested", "Access-log files ingested", "FilesIngested", "ingest", "Sum"),
    Figure("files_rejected", "Access-log files rejected", "FilesRejected", "ingest", "Sum"),
    Figure("reference_rejected", "Reference snapshots rejected", "FilesRejected", "reference", "Sum"),
    Figure("files_failed", "Access-log files failed", "FilesFailed", "ingest", "Sum"),
    Figure("ingest_lag", "Ingest lag, longest (seconds)", "IngestLagSeconds", "ingest", "Maximum", 1),
    Figure("findings_new", "New findings", "FindingsNew", "detect", "Sum"),
    Figure("partitions", "Partitions processed", "PartitionsProcessed", "detect", "Sum"),
    Figure("cases_opened", "Cases opened", "CasesOpened", "detect", "Sum"),
    Figure("cases_closed", "Cases closed", "CasesClosed", "case-step", "Sum"),
    Figure("detection_failures", "Detection failures", "DetectionFailures", "detection-outcome", "Sum"),
    Figure("partition_avg", "Partition duration, average (seconds)", "PartitionDuration", "detect", "Average", 2),
    Figure("partition_max", "Partition duration, longest (seconds)", "PartitionDuration", "detect", "Maximum", 2),
)
# (key, heading, seconds): one GetMetricData call each, a single period as long as the window.
WINDOWS: tuple[tuple[str, str, int], ...] = (("day", "Last 24 hours", 86400), ("week", "Last 7 days", 7 * 86400))
_STATS = {"Sum": ("Sum",), "Maximum": ("Maximum",), "Average": ("Sum", "SampleCount")}


def figure_queries(period: int) -> list[dict[str, Any]]:
    """The GetMetricData queries of every figure over one window (an average asks for Sum and SampleCount,
    so that any split of the window into datapoints still gives the exact average)."""
    queries = []
    for figure in FIGURES:
        for stat in _STATS[figure.stat]:
            queries.append({"Id": f"{figure.id}_{stat.lower()}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": figure.metric,
                           "Dimensions": [{"Name": "service", "Value": figure.service}]},
                "Period": period, "Stat": stat}})
    return queries


def figure_values(results: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """Each figure's value from GetMetricData results (None: no datapoint in the window)."""
    values: dict[str, list[float]] = {}
    for result in results:
        values.setdefault(str(result["Id"]), []).extend(float(v) for v in result.get("Values", []))
    out: dict[str, float | None] = {}
    for figure in FIGURES:
        if figure.stat == "Sum":
            found = values.get(f"{figure.id}_sum")
            out[figure.id] = sum(found) if found else None
        elif figure.stat == "Maximum":
            found = values.get(f"{figure.id}_maximum")
            out[figure.id] = max(found) if found else None
        else:
            total, count = sum(values.get(f"{figure.id}_sum", [])), sum(values.get(f"{figure.id}_samplecount", []))
            out[figure.id] = total / count if count else None
    accepted, quarantined = out.get("events_accepted"), out.get("lines_quarantined")
    read = (accepted or 0.0) + (quarantined or 0.0)
    out["quarantine_ratio"] = (quarantined or 0.0) / read if read else None
    return out


def read_figures(cloudwatch: Any, now: datetime) -> dict[str, dict[str, float | None]]:
    """Every figure for every window: {window key: {figure id: value}}. Each window ends with the current
    minute (data is stored per minute; a datapoint of this minute counts), whole minutes, as CloudWatch
    aligns them."""
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    out = {}
    for key, _, seconds in WINDOWS:
        results: list[Mapping[str, Any]] = []
        paginator = cloudwatch.get_paginator("get_metric_data")
        for response in paginator.paginate(MetricDataQueries=figure_queries(seconds),
                                           StartTime=end - timedelta(seconds=seconds), EndTime=end):
            results.extend(response.get("MetricDataResults", []))
        out[key] = figure_values(results)
    return out


def alarm_table(alarms: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Alarms as rows, ALARM first, then INSUFFICIENT_DATA, then OK; the latest change first within a state."""
    rows = sorted((alarm_row(a) for a in alarms), key=lambda r: (r["last_change"], r["name"]), reverse=True)
    return worst_first(rows)


def _unreadable(exc: Exception) -> str:
    """What to tell the operator when CloudWatch could not be read: the error code, never its message."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__


@router.get("/operations")
def operations() -> Response:
    allowed(router, Permission.OPERATIONS)
    src = sources(router)
    cloudwatch = src.client("cloudwatch")
    prefix = src.settings.alarm_name_prefix
    now = datetime.now(UTC).replace(microsecond=0)
    alarms_error = figures_error = ""
    rows: list[dict[str, str]] = []
    figures: dict[str, dict[str, float | None]] = {}
    try:
        rows = alarm_table(described_alarms(cloudwatch, prefix=prefix or None).values())
    except (ClientError, BotoCoreError) as exc:
        alarms_error = _unreadable(exc)
    try:
        figures = read_figures(cloudwatch, now)
    except (ClientError, BotoCoreError) as exc:
        figures_error = _unreadable(exc)
    counts = {state: sum(1 for r in rows if r["state"] == state) for state in ("ALARM", "INSUFFICIENT_DATA", "OK")}
    return page(router, "operations.html", title="Operations", active="/operations", rows=rows, counts=counts,
                prefix=prefix, alarms_error=alarms_error, figures=figures, figures_error=figures_error,
                figure_list=FIGURES, windows=WINDOWS, as_of=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
