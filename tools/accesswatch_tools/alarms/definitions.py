"""The alarms of template.yaml as evaluable definitions.

Read from the template (never restated in code): each ``AWS::CloudWatch::Alarm`` becomes an
:class:`AlarmDefinition` whose metric queries are either the single metric of a simple alarm or
the ``Metrics`` list of a metric-math / anomaly-detection alarm. Properties the local evaluator
does not model (extended statistics, composite alarms, unsupported math) are refused here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from accesswatch_tools.alarms import mathexpr
from accesswatch_tools.alarms.series import STATISTICS, MetricKey

ALARM_TYPE = "AWS::CloudWatch::Alarm"

COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (">=", lambda v, t: v >= t),
    "GreaterThanThreshold": (">", lambda v, t: v > t),
    "LessThanThreshold": ("<", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("<=", lambda v, t: v <= t),
}
BAND_COMPARISONS = {"GreaterThanUpperThreshold", "LessThanLowerThreshold",
                    "LessThanLowerOrGreaterThanUpperThreshold"}
TREAT_MISSING = {"breaching", "notBreaching", "ignore", "missing"}


class DefinitionError(ValueError):
    """An alarm in the template that the local evaluator cannot evaluate faithfully."""


@dataclass(frozen=True)
class MetricStat:
    key: MetricKey
    period: int
    stat: str


@dataclass(frozen=True)
class Query:
    id: str
    metric: MetricStat | None = None
    expression: mathexpr.Node | None = None
    expression_text: str = ""
    return_data: bool = True
    label: str = ""


@dataclass(frozen=True)
class AlarmDefinition:
    logical_id: str
    name: str
    description: str
    comparison: str
    threshold: float | None
    threshold_metric_id: str | None
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str
    period: int
    queries: tuple[Query, ...]
    actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()

    def query(self, query_id: str) -> Query:
        for q in self.queries:
            if q.id == query_id:
                return q
        raise KeyError(query_id)

    @property
    def metric_keys(self) -> set[MetricKey]:
        return {q.metric.key for q in self.queries if q.metric is not None}

    @property
    def compared_query(self) -> Query:
        """The query whose value is compared with the threshold (or band)."""
        returned = [q for q in self.queries if q.return_data and q.id != self.threshold_metric_id]
        if len(returned) != 1:
            raise DefinitionError(f"{self.logical_id}: exactly one query must return data, got {len(returned)}")
        return returned[0]

    @property
    def is_band(self) -> bool:
        return self.threshold_metric_id is not None

    @property
    def effective_treat_missing_data(self) -> str:
        """CloudWatch always ignores missing data for alarms on AWS/DynamoDB metrics."""
        if any(key.namespace == "AWS/DynamoDB" for key in self.metric_keys):
            return "ignore"
        return self.treat_missing_data

    def training_periods(self) -> int:
        return mathexpr.TRAINING_DAYS * 86400 // self.period if self.is_band else 0


def alarm_resources(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template.get("Resources", {}).items() if res.get("Type") == ALARM_TYPE}


def _metric_key(resolve: Callable[[Any], Any], metric: Mapping[str, Any]) -> MetricKey:
    dims = resolve(metric.get("Dimensions", []))
    return MetricKey.of(resolve(metric["Namespace"]), resolve(metric["MetricName"]),
                        {d["Name"]: str(d["Value"]) for d in dims})


def _stat(name: str, stat: Any) -> str:
    if stat not in STATISTICS:
        raise DefinitionError(f"{name}: statistic {stat!r} is not evaluated locally (use one of {STATISTICS})")
    return str(stat)


def load_alarm(logical_id: str, resource: Mapping[str, Any], resolve: Callable[[Any], Any]) -> AlarmDefinition:
    props = resource.get("Properties", {})
    for unsupported in ("ExtendedStatistic", "EvaluateLowSampleCountPercentile"):
        if unsupported in props:
            raise DefinitionError(f"{logical_id}: {unsupported} is not evaluated locally")
    comparison = str(props["ComparisonOperator"])
    threshold_metric_id = props.get("ThresholdMetricId")
    if comparison in BAND_COMPARISONS:
        if not threshold_metric_id:
            raise DefinitionError(f"{logical_id}: {comparison} needs ThresholdMetricId")
    elif comparison not in COMPARISONS:
        raise DefinitionError(f"{logical_id}: unknown ComparisonOperator {comparison}")
    elif "Threshold" not in props:
        raise DefinitionError(f"{logical_id}: no Threshold")
    queries: list[Query] = []
    if "Metrics" in props:
        for raw in props["Metrics"]:
            qid = str(raw["Id"])
            if "MetricStat" in raw:
                ms = raw["MetricStat"]
                metric = MetricStat(_metric_key(resolve, ms["Metric"]), int(resolve(ms["Period"])),
                                    _stat(logical_id, resolve(ms["Stat"])))
                queries.append(Query(qid, metric=metric, return_data=bool(raw.get("ReturnData", True)),
                                     label=str(raw.get("Label", ""))))
            elif "Expression" in raw:
                text = str(resolve(raw["Expression"]))
                try:
                    node = mathexpr.parse(text)
                except mathexpr.ExpressionError as exc:
                    raise DefinitionError(f"{logical_id}: {exc}") from None
                queries.append(Query(qid, expression=node, expression_text=text,
                                     return_data=bool(raw.get("ReturnData", True)), label=str(raw.get("Label", ""))))
            else:
                raise DefinitionError(f"{logical_id}: query {qid} has neither MetricStat nor Expression")
        periods = {q.metric.period for q in queries if q.metric is not None}
        if len(periods) != 1:
            raise DefinitionError(f"{logical_id}: metric math alarms need one period for every metric, got {periods}")
        period = periods.pop()
    else:
        period = int(resolve(props["Period"]))
        metric = MetricStat(_metric_key(resolve, props), period, _stat(logical_id, props.get("Statistic")))
        queries.append(Query("m1", metric=metric))
    ids = {q.id for q in queries}
    for q in queries:
        if q.expression is not None:
            unknown = mathexpr.references(q.expression) - ids
            if unknown:
                raise DefinitionError(f"{logical_id}: expression {q.expression_text!r} refers to unknown {unknown}")
    if threshold_metric_id is not None:
        band = next((q for q in queries if q.id == threshold_metric_id), None)
        if band is None or band.expression is None or not mathexpr.is_band(band.expression):
            raise DefinitionError(f"{logical_id}: ThresholdMetricId must name an ANOMALY_DETECTION_BAND expression")
    evaluation_periods = int(resolve(props["EvaluationPeriods"]))
    limit = 7 * 86400 if period >= 3600 else 86400  # CloudWatch's longest evaluation range
    if period * evaluation_periods > limit:
        raise DefinitionError(f"{logical_id}: Period x EvaluationPeriods exceeds {limit}s, which CloudWatch refuses")
    datapoints = int(resolve(props.get("DatapointsToAlarm", evaluation_periods)))
    if not 1 <= datapoints <= evaluation_periods:
        raise DefinitionError(f"{logical_id}: DatapointsToAlarm must be within 1..EvaluationPeriods")
    treat = str(props.get("TreatMissingData", "missing"))
    if treat not in TREAT_MISSING:
        raise DefinitionError(f"{logical_id}: unknown TreatMissingData {treat}")
    alarm = AlarmDefinition(
        logical_id=logical_id,
        name=str(resolve(props.get("AlarmName", logical_id))),
        description=str(resolve(props.get("AlarmDescription", ""))),
        comparison=comparison,
        threshold=float(resolve(props["Threshold"])) if "Threshold" in props else None,
        threshold_metric_id=str(threshold_metric_id) if threshold_metric_id else None,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints,
        treat_missing_data=treat,
        period=period,
        queries=tuple(queries),
        actions=tuple(str(a) for a in resolve(props.get("AlarmActions", []))),
        ok_actions=tuple(str(a) for a in resolve(props.get("OKActions", []))),
        insufficient_data_actions=tuple(str(a) for a in resolve(props.get("InsufficientDataActions", []))),
    )
    _ = alarm.compared_query  # exactly one compared query
    return alarm


def load_alarms(template: Mapping[str, Any], resolve: Callable[[Any], Any]) -> list[AlarmDefinition]:
    """Every alarm of the template, in template order."""
    return [load_alarm(name, res, resolve) for name, res in alarm_resources(template).items()]
