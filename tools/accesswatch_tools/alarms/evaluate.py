"""Evaluating a CloudWatch alarm definition over metric data: a pure function of its inputs.

moto records metric data but never evaluates alarms, so the embedded runtime's alarm states come
from here. The model, as CloudWatch documents it:

* every minute the alarm looks at its last ``EvaluationPeriods`` periods of ``Period`` seconds
  (sliding windows ending at a minute boundary; locally the window includes the current minute,
  so a fault shows at once rather than when its minute closes);
* each period's datapoint is the statistic (or metric math result) over that period; it breaches
  when the comparison with the threshold (or the anomaly band) holds;
* missing datapoints are treated as ``TreatMissingData`` says: ``breaching``, ``notBreaching``,
  ``ignore`` (keep the current state when nothing is there) or ``missing`` (INSUFFICIENT_DATA
  when nothing is there); alarms on ``AWS/DynamoDB`` metrics always ignore missing data;
* ALARM when at least ``DatapointsToAlarm`` datapoints breach; when some datapoints are missing
  and not treated, ALARM also when every present datapoint breaches and there are fewer of them
  than ``DatapointsToAlarm``; otherwise OK.

:func:`simulate` replays the alarm from its creation to ``now`` to find the current state and
when it last changed (needed for ``ignore``, which depends on the previous state).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from accesswatch_tools.alarms import mathexpr
from accesswatch_tools.alarms.definitions import COMPARISONS, AlarmDefinition, DefinitionError
from accesswatch_tools.alarms.series import MINUTE, MetricData, floor_minute


class State(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True)
class Datapoint:
    start: float
    value: float | None
    breaching: bool | None  # None: missing (or the anomaly band is still training)
    band: mathexpr.Band | None = None
    training_points: int | None = None  # set when the anomaly band is still training


@dataclass(frozen=True)
class Evaluation:
    state: State
    reason: str
    end: float  # the evaluated windows end here (exclusive)
    datapoints: tuple[Datapoint, ...] = ()


@dataclass(frozen=True)
class AlarmStatus:
    logical_id: str
    name: str
    state: State
    reason: str
    last_change: float
    evaluated_at: float
    history: tuple[Evaluation, ...] = field(default=(), repr=False)  # the transitions, oldest first

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "logical_id": self.logical_id, "state": self.state.value,
                "reason": self.reason, "last_change": iso(self.last_change)}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_end(now: float) -> float:
    """The end of the evaluation windows at ``now``: the end of the current minute."""
    return floor_minute(now) + MINUTE


class _Values:
    """Query values per period end, memoised for one alarm and one data set."""

    def __init__(self, alarm: AlarmDefinition, data: MetricData) -> None:
        self.alarm = alarm
        self.data = data
        self.cache: dict[tuple[str, float], mathexpr.Value] = {}

    def __call__(self, query_id: str, end: float) -> mathexpr.Value:
        key = (query_id, end)
        if key not in self.cache:
            self.cache[key] = self._compute(query_id, end)
        return self.cache[key]

    def _compute(self, query_id: str, end: float) -> mathexpr.Value:
        query = self.alarm.query(query_id)
        period = self.alarm.period
        if query.metric is not None:
            series = self.data.get(query.metric.key)
            return None if series is None else series.statistic(query.metric.stat, end - period, end)
        assert query.expression is not None
        return mathexpr.evaluate(query.expression, end, period, self)


_WORDS = {">": "greater than", ">=": "greater than or equal to", "<": "less than",
          "<=": "less than or equal to"}


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{value:.6g}"


def _datapoints(alarm: AlarmDefinition, values: _Values, end: float) -> list[Datapoint]:
    compared = alarm.compared_query
    points = []
    for i in range(alarm.evaluation_periods):
        period_end = end - i * alarm.period
        value = values(compared.id, period_end)
        if value is not None and not isinstance(value, float):
            raise DefinitionError(f"{alarm.logical_id}: query {compared.id} does not give a number")
        start = period_end - alarm.period
        if value is None:
            points.append(Datapoint(start, None, None))
            continue
        if alarm.threshold_metric_id is not None:
            band = values(alarm.threshold_metric_id, period_end)
            if isinstance(band, mathexpr.Untrained):
                points.append(Datapoint(start, value, None, training_points=band.points))
                continue
            assert isinstance(band, mathexpr.Band)
            above, below = value > band.upper, value < band.lower
            breaching = {"GreaterThanUpperThreshold": above, "LessThanLowerThreshold": below}.get(
                alarm.comparison, above or below)
            points.append(Datapoint(start, value, breaching, band=band))
        else:
            assert alarm.threshold is not None
            points.append(Datapoint(start, value, bool(COMPARISONS[alarm.comparison][1](value, alarm.threshold))))
    return points


def _condition(alarm: AlarmDefinition) -> str:
    if alarm.threshold_metric_id is not None:
        return {"GreaterThanUpperThreshold": "above the band", "LessThanLowerThreshold": "below the band"}.get(
            alarm.comparison, "outside the band")
    return f"{_WORDS[COMPARISONS[alarm.comparison][0]]} {alarm.threshold:g}"


def _shown(points: list[Datapoint]) -> str:
    def one(p: Datapoint) -> str:
        band = f" band {p.band.lower:.6g}..{p.band.upper:.6g}" if p.band is not None else ""
        return f"{_fmt(p.value)} @{iso(p.start)[:16]}Z{band}"

    shown = ", ".join(one(p) for p in points[:5])
    return shown + (f", ... {len(points) - 5} more" if len(points) > 5 else "")


def evaluate_at(alarm: AlarmDefinition, data: MetricData, end: float,
                previous: State = State.INSUFFICIENT_DATA, *, _values: _Values | None = None) -> Evaluation:
    """The alarm's state for the windows ending at ``end`` (a minute boundary)."""
    values = _values or _Values(alarm, data)
    points = _datapoints(alarm, values, end)
    n, m = alarm.evaluation_periods, alarm.datapoints_to_alarm
    span = f"{n} period(s) of {alarm.period}s"
    training = [p for p in points if p.training_points is not None]
    if training:
        have = max(p.training_points or 0 for p in training)
        return Evaluation(State.INSUFFICIENT_DATA,
                          f"anomaly detection band still training: {have} of {mathexpr.MIN_TRAINING_POINTS} "
                          f"periods of history needed before {iso(training[0].start)}", end, tuple(points))
    treat = alarm.effective_treat_missing_data
    missing = sum(1 for p in points if p.breaching is None)
    if treat == "breaching":
        flags = [True if p.breaching is None else p.breaching for p in points]
    elif treat == "notBreaching":
        flags = [False if p.breaching is None else p.breaching for p in points]
    else:
        flags = [p.breaching for p in points if p.breaching is not None]
    forced = treat != alarm.treat_missing_data  # AWS/DynamoDB
    how = {"breaching": "treated as breaching", "notBreaching": "treated as not breaching", "ignore": "ignored",
           "missing": "left out"}[treat]
    note = f"; missing data {how}" if missing else ""
    if forced and missing:
        note += " (AWS/DynamoDB alarms always ignore missing data; throttle events exist only when they happen)"
    if not flags:
        if treat == "ignore":
            return Evaluation(previous, f"no datapoints in the last {span}: state kept{note}", end, tuple(points))
        return Evaluation(State.INSUFFICIENT_DATA, f"no datapoints in the last {span}", end, tuple(points))
    breaching = sum(flags)
    alarmed = breaching >= m or (len(flags) < m and breaching == len(flags))
    state = State.ALARM if alarmed else State.OK
    return Evaluation(state, f"{breaching} of the last {len(flags)} datapoint(s) {_condition(alarm)} "
                      f"({m} needed for ALARM): [{_shown(points)}]{note}", end, tuple(points))


def candidate_ends(alarm: AlarmDefinition, data: MetricData, first: float, last: float) -> list[float]:
    """The window ends in ``[first, last]`` at which the alarm's inputs can change.

    A minute ``d`` of data enters period ``k`` of the windows at ``d + 60 + k·Period``; between
    such moments every window sees the same data, so the state cannot change.
    """
    reach = alarm.evaluation_periods + alarm.training_periods()
    ends = {first, last}
    for key in alarm.metric_keys:
        series = data.get(key)
        if series is None:
            continue
        for minute in series.minutes:
            for k in range(reach + 1):
                e = minute + MINUTE + k * alarm.period
                if e > last:
                    break
                if e >= first:
                    ends.add(e)
    return sorted(ends)


def simulate(alarm: AlarmDefinition, data: MetricData, since: float, now: float | None = None) -> AlarmStatus:
    """Replay the alarm from its creation (``since``) to ``now``: its state, reason and last change."""
    now = time.time() if now is None else now
    first, last = window_end(since), window_end(max(now, since))
    values = _Values(alarm, data)
    state, reason, changed = State.INSUFFICIENT_DATA, "alarm created", since
    transitions: list[Evaluation] = []
    for end in candidate_ends(alarm, data, first, last):
        result = evaluate_at(alarm, data, end, state, _values=values)
        if result.state != state:
            changed = min(end, now)
            transitions.append(result)
        state, reason = result.state, result.reason
    return AlarmStatus(alarm.logical_id, alarm.name, state, reason, changed, now, tuple(transitions))


def simulate_all(alarms: list[AlarmDefinition], data: MetricData, since: float,
                 now: float | None = None) -> list[AlarmStatus]:
    now = time.time() if now is None else now
    return [simulate(alarm, data, since, now) for alarm in alarms]
