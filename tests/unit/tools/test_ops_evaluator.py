"""The CloudWatch alarm evaluator, metric math and EMF parsing (pure: no AWS)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accesswatch_tools.alarms import mathexpr
from accesswatch_tools.alarms.definitions import DefinitionError, load_alarm
from accesswatch_tools.alarms.emf import EmfError, parse_emf, parse_emf_record
from accesswatch_tools.alarms.evaluate import (
    State,
    candidate_ends,
    evaluate_at,
    simulate,
    window_end,
)
from accesswatch_tools.alarms.intrinsics import ResolveError, deployment_resolver, symbolic_resolver
from accesswatch_tools.alarms.series import Aggregate, MetricKey, Series, metric_data

T0 = 1_750_000_000.0 - (1_750_000_000.0 % 3600)  # an hour boundary
KEY = MetricKey.of("AccessWatch", "FilesRejected", {"service": "ingest"})


def identity(value):
    return value


def simple_alarm(**overrides):
    props = {
        "AlarmName": "a", "Namespace": "AccessWatch", "MetricName": "FilesRejected",
        "Dimensions": [{"Name": "service", "Value": "ingest"}], "Statistic": "Sum", "Period": 300,
        "EvaluationPeriods": 1, "DatapointsToAlarm": 1, "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0, "TreatMissingData": "notBreaching",
    }
    props.update(overrides)
    return load_alarm("A", {"Type": "AWS::CloudWatch::Alarm", "Properties": props}, identity)


def data(*points, key=KEY):
    return metric_data((key, Aggregate.of(t, v)) for t, v in points)


# ------------------------------------------------------------------ series


def test_series_statistics_over_minutes():
    s = Series([Aggregate.of(T0 + 5, 2), Aggregate.of(T0 + 50, 4), Aggregate.of(T0 + 70, 10)])
    assert len(s) == 2  # two minutes
    assert s.statistic("Sum", T0, T0 + 60) == 6
    assert s.statistic("SampleCount", T0, T0 + 120) == 3
    assert s.statistic("Average", T0, T0 + 120) == pytest.approx(16 / 3)
    assert s.statistic("Minimum", T0, T0 + 120) == 2
    assert s.statistic("Maximum", T0, T0 + 60) == 4
    assert s.statistic("Sum", T0 + 120, T0 + 600) is None
    with pytest.raises(ValueError):
        s.statistic("p99", T0, T0 + 60)


def test_metric_keys_match_dimensions_exactly():
    assert MetricKey.of("N", "M", {"b": "2", "a": "1"}) == MetricKey.of("N", "M", {"a": "1", "b": "2"})
    assert MetricKey.of("N", "M", {"a": "1"}) != MetricKey.of("N", "M", {"a": "1", "b": "2"})


# ------------------------------------------------------------------ threshold alarms


def test_breach_goes_to_alarm_and_recovers_when_the_period_passes():
    alarm = simple_alarm()
    d = data((T0 + 30, 1))
    at = window_end(T0 + 30)
    result = evaluate_at(alarm, d, at)
    assert result.state is State.ALARM
    assert "1 of the last 1 datapoint(s) greater than 0" in result.reason
    # 5 minutes later the breaching minute has left the window: missing -> not breaching.
    assert evaluate_at(alarm, d, at + 300).state is State.OK


def test_zero_is_not_greater_than_zero():
    assert evaluate_at(simple_alarm(), data((T0, 0)), window_end(T0)).state is State.OK


@pytest.mark.parametrize(("operator", "value", "expected"), [
    ("GreaterThanOrEqualToThreshold", 5, State.ALARM),
    ("GreaterThanOrEqualToThreshold", 4.9, State.OK),
    ("LessThanThreshold", 4.9, State.ALARM),
    ("LessThanThreshold", 5, State.OK),
    ("LessThanOrEqualToThreshold", 5, State.ALARM),
    ("GreaterThanThreshold", 5, State.OK),
])
def test_comparison_operators(operator, value, expected):
    alarm = simple_alarm(ComparisonOperator=operator, Threshold=5)
    assert evaluate_at(alarm, data((T0, value)), window_end(T0)).state is expected


@pytest.mark.parametrize(("statistic", "expected"), [
    ("Sum", State.ALARM), ("Maximum", State.ALARM), ("Average", State.OK), ("Minimum", State.OK),
    ("SampleCount", State.OK),
])
def test_statistic_is_taken_over_the_period(statistic, expected):
    alarm = simple_alarm(Statistic=statistic, Threshold=6, Period=300)
    d = data((T0, 1), (T0 + 60, 2), (T0 + 120, 7))  # sum 10, max 7, avg 3.3, min 1, count 3
    assert evaluate_at(alarm, d, T0 + 300).state is expected


def test_m_out_of_n():
    alarm = simple_alarm(Period=60, EvaluationPeriods=3, DatapointsToAlarm=2, TreatMissingData="notBreaching")
    one = data((T0, 1))
    two = data((T0, 1), (T0 + 120, 1))
    assert evaluate_at(alarm, one, T0 + 180).state is State.OK
    assert evaluate_at(alarm, two, T0 + 180).state is State.ALARM


@pytest.mark.parametrize(("treat", "expected"), [
    ("breaching", State.ALARM), ("notBreaching", State.OK), ("missing", State.INSUFFICIENT_DATA),
])
def test_treat_missing_data_when_nothing_is_there(treat, expected):
    alarm = simple_alarm(TreatMissingData=treat)
    assert evaluate_at(alarm, {}, T0).state is expected


def test_ignore_keeps_the_previous_state():
    alarm = simple_alarm(TreatMissingData="ignore")
    assert evaluate_at(alarm, {}, T0, State.ALARM).state is State.ALARM
    assert evaluate_at(alarm, {}, T0, State.OK).state is State.OK
    assert evaluate_at(alarm, {}, T0).state is State.INSUFFICIENT_DATA


def test_missing_and_ignore_judge_on_the_datapoints_present():
    for treat in ("missing", "ignore"):
        alarm = simple_alarm(Period=60, EvaluationPeriods=3, DatapointsToAlarm=2, TreatMissingData=treat)
        # one present datapoint, breaching: fewer than M present and all breaching -> ALARM
        assert evaluate_at(alarm, data((T0 + 120, 3)), T0 + 180).state is State.ALARM
        # two present, one breaching -> OK
        assert evaluate_at(alarm, data((T0 + 60, 0), (T0 + 120, 3)), T0 + 180).state is State.OK


def test_dynamodb_alarms_always_ignore_missing_data():
    alarm = simple_alarm(Namespace="AWS/DynamoDB", MetricName="ReadThrottleEvents",
                         Dimensions=[{"Name": "TableName", "Value": "t"}], TreatMissingData="notBreaching")
    assert alarm.effective_treat_missing_data == "ignore"
    result = evaluate_at(alarm, {}, T0)
    assert result.state is State.INSUFFICIENT_DATA
    assert "AWS/DynamoDB" in result.reason


def test_heartbeat_26_hours_of_silence():
    alarm = simple_alarm(MetricName="FilesIngested", Statistic="Sum", Period=3600, EvaluationPeriods=26,
                         DatapointsToAlarm=26, ComparisonOperator="LessThanThreshold", Threshold=1,
                         TreatMissingData="breaching")
    d = data((T0, 1), key=MetricKey.of("AccessWatch", "FilesIngested", {"service": "ingest"}))
    assert evaluate_at(alarm, d, window_end(T0)).state is State.OK
    assert evaluate_at(alarm, d, window_end(T0) + 25 * 3600).state is State.OK
    assert evaluate_at(alarm, d, window_end(T0) + 26 * 3600).state is State.ALARM


# ------------------------------------------------------------------ metric math


def math_alarm():
    stat = {"Period": 3600, "Stat": "Sum"}
    return load_alarm("Q", {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "Metrics": [
            {"Id": "ratio", "Expression": "q / (a + q)", "ReturnData": True},
            {"Id": "q", "ReturnData": False, "MetricStat": {**stat, "Metric": {
                "Namespace": "AccessWatch", "MetricName": "LinesQuarantined",
                "Dimensions": [{"Name": "service", "Value": "ingest"}]}}},
            {"Id": "a", "ReturnData": False, "MetricStat": {**stat, "Metric": {
                "Namespace": "AccessWatch", "MetricName": "EventsAccepted",
                "Dimensions": [{"Name": "service", "Value": "ingest"}]}}},
        ],
        "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.05,
        "TreatMissingData": "notBreaching"}}, identity)


def test_quarantine_ratio_math():
    alarm = math_alarm()
    q = MetricKey.of("AccessWatch", "LinesQuarantined", {"service": "ingest"})
    a = MetricKey.of("AccessWatch", "EventsAccepted", {"service": "ingest"})
    healthy = metric_data([(q, Aggregate.of(T0, 4)), (a, Aggregate.of(T0, 996))])
    broken = metric_data([(q, Aggregate.of(T0, 100)), (a, Aggregate.of(T0, 900))])
    assert evaluate_at(alarm, healthy, T0 + 3600).state is State.OK
    result = evaluate_at(alarm, broken, T0 + 3600)
    assert result.state is State.ALARM and "0.1" in result.reason
    # 0/(0+0) has no value: missing, not a division error
    empty = metric_data([(q, Aggregate.of(T0, 0)), (a, Aggregate.of(T0, 0))])
    assert evaluate_at(alarm, empty, T0 + 3600).state is State.OK


def test_expression_parsing():
    node = mathexpr.parse("-q / (a + q) * 2")
    assert mathexpr.references(node) == {"q", "a"}
    assert mathexpr.is_band(mathexpr.parse("ANOMALY_DETECTION_BAND(m1, 3)"))
    for bad in ("FILL(m1)", "FILL(2, m1)", "FILL(m1, q)", "q +", "(q", "q $ a", "ANOMALY_DETECTION_BAND(2, 3)",
                "METRICS()"):
        with pytest.raises(mathexpr.ExpressionError):
            mathexpr.parse(bad)


def test_fill_gives_a_sum_where_one_operand_has_no_data():
    node = mathexpr.parse("FILL(a, 0) + FILL(b, 0)")
    assert mathexpr.references(node) == {"a", "b"}
    values = {"a": 3.0, "b": None}
    assert mathexpr.evaluate(node, 3600.0, 3600, lambda qid, _end: values[qid]) == 3.0
    assert mathexpr.evaluate(mathexpr.parse("a + b"), 3600.0, 3600, lambda qid, _end: values[qid]) is None
    values = {"a": None, "b": None}
    assert mathexpr.evaluate(node, 3600.0, 3600, lambda qid, _end: values[qid]) == 0.0


def test_definitions_refuse_what_cannot_be_evaluated_faithfully():
    with pytest.raises(DefinitionError):
        simple_alarm(Statistic=None, ExtendedStatistic="p99")
    with pytest.raises(DefinitionError):
        simple_alarm(Statistic="p99")
    with pytest.raises(DefinitionError):
        simple_alarm(DatapointsToAlarm=2)
    with pytest.raises(DefinitionError):
        simple_alarm(TreatMissingData="sometimes")
    with pytest.raises(DefinitionError):
        simple_alarm(Period=3600, EvaluationPeriods=24 * 8)  # beyond CloudWatch's 7-day evaluation range
    with pytest.raises(DefinitionError):
        simple_alarm(Period=300, EvaluationPeriods=300)  # beyond 1 day for periods under an hour


# ------------------------------------------------------------------ anomaly band


def band_alarm(width=2):
    return load_alarm("S", {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "Metrics": [
            {"Id": "m1", "ReturnData": True, "MetricStat": {"Period": 3600, "Stat": "Sum", "Metric": {
                "Namespace": "AccessWatch", "MetricName": "FindingsNew",
                "Dimensions": [{"Name": "service", "Value": "detect"}]}}},
            {"Id": "ad1", "Expression": f"ANOMALY_DETECTION_BAND(m1, {width})", "ReturnData": True},
        ],
        "ThresholdMetricId": "ad1", "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanUpperThreshold",
        "TreatMissingData": "notBreaching"}}, identity)


FINDINGS = MetricKey.of("AccessWatch", "FindingsNew", {"service": "detect"})


def test_findings_spike_against_the_baseline():
    alarm = band_alarm()
    history = [(T0 + h * 3600, 10 + (h % 3)) for h in range(24)]  # a steady 10-12 an hour
    now = T0 + 24 * 3600
    normal = data(*history, (now, 12), key=FINDINGS)
    spike = data(*history, (now, 60), key=FINDINGS)
    assert evaluate_at(alarm, normal, now + 60).state is State.OK
    result = evaluate_at(alarm, spike, now + 60)
    assert result.state is State.ALARM
    assert "above the band" in result.reason


def test_untrained_band_is_insufficient_data():
    alarm = band_alarm()
    result = evaluate_at(alarm, data((T0, 500), key=FINDINGS), T0 + 60)
    assert result.state is State.INSUFFICIENT_DATA
    assert "training" in result.reason
    # and no findings at all is simply missing data, treated as not breaching
    assert evaluate_at(alarm, {}, T0 + 60).state is State.OK


def test_band_has_a_floor_width():
    band = mathexpr.band_from_history([10.0] * 10, 2)
    assert isinstance(band, mathexpr.Band) and band.upper > 10 and band.lower < 10
    assert isinstance(mathexpr.band_from_history([1.0] * 5, 2), mathexpr.Untrained)


# ------------------------------------------------------------------ history replay


def test_simulate_reports_state_and_last_change():
    alarm = simple_alarm()
    d = data((T0 + 600, 2))
    status = simulate(alarm, d, since=T0, now=T0 + 660)
    assert status.state is State.ALARM
    assert status.last_change == pytest.approx(T0 + 660)
    later = simulate(alarm, d, since=T0, now=T0 + 3600)
    assert later.state is State.OK
    assert later.last_change == pytest.approx(T0 + 660 + 300)  # when the breaching minute left the window
    assert [e.state for e in later.history] == [State.OK, State.ALARM, State.OK]


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.lists(st.integers(min_value=0, max_value=240), max_size=8),
    values=st.lists(st.sampled_from([0.0, 1.0, 3.0]), min_size=8, max_size=8),
    period=st.sampled_from([60, 300, 900]),
    n=st.integers(min_value=1, max_value=4),
    m_off=st.integers(min_value=0, max_value=3),
    treat=st.sampled_from(["breaching", "notBreaching", "ignore", "missing"]),
)
def test_candidate_replay_equals_minute_by_minute(minutes, values, period, n, m_off, treat):
    """Evaluating only where inputs change gives the same states as evaluating every minute."""
    alarm = simple_alarm(Period=period, EvaluationPeriods=n, DatapointsToAlarm=max(1, n - m_off),
                         TreatMissingData=treat, ComparisonOperator="GreaterThanThreshold", Threshold=1)
    d = data(*((T0 + 60 * m, values[i]) for i, m in enumerate(minutes)))
    first, last = window_end(T0), window_end(T0 + 300 * 60)
    ends = candidate_ends(alarm, d, first, last)
    brute, state, e = [], State.INSUFFICIENT_DATA, first
    while e <= last:
        state = evaluate_at(alarm, d, e, state).state
        brute.append((e, state))
        e += 60
    replay = dict.fromkeys(ends)
    state = State.INSUFFICIENT_DATA
    for e in ends:
        state = evaluate_at(alarm, d, e, state).state
        replay[e] = state
    # between candidates the state holds: compare at every minute
    current = State.INSUFFICIENT_DATA
    for e, expected in brute:
        if e in replay:
            current = replay[e]
        assert current is expected, (e - first) / 60


# ------------------------------------------------------------------ intrinsics


def test_resolving_against_a_deployed_stack():
    template = {
        "Parameters": {"Stage": {"Type": "String", "Default": "prod"}},
        "Resources": {
            "Q": {"Type": "AWS::SQS::Queue"}, "F": {"Type": "AWS::Serverless::Function"},
            "A": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmName": {"Fn::Sub": "${AWS::StackName}-${Stage}-x"}}},
        },
    }
    resolve = deployment_resolver(template, physical={"Q": "https://sqs.r.amazonaws.com/1/my-q", "F": "fn-1"},
                                  parameters={"Stage": "local"}, stack_name="s", region="r", account_id="1")
    assert resolve({"Fn::GetAtt": ["Q", "QueueName"]}) == "my-q"
    assert resolve({"Fn::Sub": "${F.Arn}"}) == "arn:aws:lambda:r:1:function:fn-1"
    assert resolve({"Ref": "A"}) == "s-local-x"
    assert resolve({"Fn::Sub": "${!Literal}-${AWS::Region}"}) == "${Literal}-r"
    with pytest.raises(ResolveError):
        resolve({"Ref": "Nope"})
    with pytest.raises(ResolveError):
        resolve({"Fn::If": ["c", 1, 2]})
    symbolic = symbolic_resolver(template)
    assert symbolic({"Fn::Sub": "${AWS::StackName}-${Stage}"}) == "${AWS::StackName}-prod"


# ------------------------------------------------------------------ EMF


def emf_line(**members):
    record = {"_aws": {"Timestamp": 1_750_000_000_500, "CloudWatchMetrics": [{
        "Namespace": "AccessWatch", "Dimensions": [["service"]],
        "Metrics": [{"Name": "FilesIngested", "Unit": "Count"}, {"Name": "IngestLagSeconds", "Unit": "Seconds"}],
    }]}, "service": "ingest", "FilesIngested": [1.0, 2.0], "IngestLagSeconds": 0.5}
    record.update(members)
    return json.dumps(record)


def test_emf_lines_become_samples_and_other_lines_are_ignored():
    logs = "\n".join([
        '{"level": "INFO", "message": "file ingested", "object_key": "access-logs/cms/a.csv"}',
        "not json at all",
        emf_line(),
    ])
    samples = parse_emf(logs)
    key = MetricKey.of("AccessWatch", "FilesIngested", {"service": "ingest"})
    assert [(s.key, s.value) for s in samples if s.key.name == "FilesIngested"] == [(key, 1.0), (key, 2.0)]
    lag = [s for s in samples if s.key.name == "IngestLagSeconds"]
    assert lag[0].value == 0.5 and lag[0].unit == "Seconds" and lag[0].timestamp == pytest.approx(1_750_000_000.5)


def test_emf_powertools_output_round_trips(capsys):
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace="AccessWatch", service="detect")
    metrics.add_metric(name="FindingsNew", unit=MetricUnit.Count, value=7)
    metrics.flush_metrics()
    samples = parse_emf(capsys.readouterr().out)
    assert [(s.key, s.value) for s in samples] == [
        (MetricKey.of("AccessWatch", "FindingsNew", {"service": "detect"}), 7.0)]


@pytest.mark.parametrize("broken", [
    {"FilesIngested": "many"},
    {"service": None, "_aws": {"Timestamp": "soon", "CloudWatchMetrics": []}},
])
def test_invalid_emf_is_refused(broken):
    record = json.loads(emf_line())
    record.update(broken)
    with pytest.raises(EmfError):
        parse_emf_record(record)


def test_emf_dimension_member_must_exist():
    record = json.loads(emf_line())
    del record["service"]
    with pytest.raises(EmfError):
        parse_emf_record(record)
