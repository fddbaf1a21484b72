"""The template's alarms and dashboard: complete, actionable, evaluable, and documented in the runbook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from accesswatch_tools.alarms.definitions import alarm_resources, load_alarms
from accesswatch_tools.alarms.intrinsics import symbolic_resolver
from accesswatch_tools.embedded.template import load_template, resources_of_type

TEMPLATE = load_template()
ALARMS = alarm_resources(TEMPLATE)
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
STATE_MACHINES = resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine")
QUEUES = resources_of_type(TEMPLATE, "AWS::SQS::Queue")
TABLES = resources_of_type(TEMPLATE, "AWS::DynamoDB::Table")


def props(logical_id: str) -> dict:
    return ALARMS[logical_id]["Properties"]


def alarms_on(namespace: str, metric: str, dimension: str, value: object) -> list[str]:
    """Simple alarms on a metric whose dimension is exactly ``value`` (an intrinsic)."""
    return [name for name, res in ALARMS.items()
            if res["Properties"].get("Namespace") == namespace and res["Properties"].get("MetricName") == metric
            and res["Properties"].get("Dimensions") == [{"Name": dimension, "Value": value}]]


def expect_one_zero_threshold(names: list[str], what: str) -> None:
    assert len(names) == 1, f"{what}: expected one alarm, found {names}"
    p = props(names[0])
    assert (p["ComparisonOperator"], float(p["Threshold"])) == ("GreaterThanThreshold", 0.0), what


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_has_errors_and_throttles_alarms(function):
    expect_one_zero_threshold(alarms_on("AWS/Lambda", "Errors", "FunctionName", {"Ref": function}), f"{function} errors")
    expect_one_zero_threshold(alarms_on("AWS/Lambda", "Throttles", "FunctionName", {"Ref": function}),
                              f"{function} throttles")


@pytest.mark.parametrize("queue", sorted(QUEUES))
def test_every_dead_letter_queue_alarms_above_zero(queue):
    names = alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                      {"Fn::GetAtt": [queue, "QueueName"]})
    expect_one_zero_threshold(names, queue)
    assert props(names[0])["Statistic"] == "Maximum"


@pytest.mark.parametrize("machine", sorted(STATE_MACHINES))
@pytest.mark.parametrize("metric", ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"])
def test_every_state_machine_alarms_on_failed_timed_out_aborted(machine, metric):
    expect_one_zero_threshold(alarms_on("AWS/States", metric, "StateMachineArn", {"Ref": machine}), f"{machine} {metric}")


@pytest.mark.parametrize("table", sorted(TABLES))
@pytest.mark.parametrize("metric", ["ReadThrottleEvents", "WriteThrottleEvents"])
def test_every_table_alarms_on_throttling(table, metric):
    expect_one_zero_threshold(alarms_on("AWS/DynamoDB", metric, "TableName", {"Ref": table}), f"{table} {metric}")


def test_heartbeat_fires_after_26_hours_without_an_access_log():
    p = props("AccessLogHeartbeatAlarm")
    assert (p["Namespace"], p["MetricName"]) == ("AccessWatch", "FilesIngested")
    assert p["Dimensions"] == [{"Name": "service", "Value": "ingest"}]
    assert p["Period"] * p["EvaluationPeriods"] == 26 * 3600
    assert p["DatapointsToAlarm"] == p["EvaluationPeriods"]
    assert (p["ComparisonOperator"], p["Threshold"], p["TreatMissingData"]) == ("LessThanThreshold", 1, "breaching")


def test_quarantine_ratio_is_quarantined_over_lines_read():
    p = props("QuarantineRatioAlarm")
    by_id = {m["Id"]: m for m in p["Metrics"]}
    returned = [m for m in p["Metrics"] if m.get("ReturnData", True)]
    assert len(returned) == 1 and returned[0]["Expression"].replace(" ", "") == "q/(a+q)"
    assert by_id["q"]["MetricStat"]["Metric"]["MetricName"] == "LinesQuarantined"
    assert by_id["a"]["MetricStat"]["Metric"]["MetricName"] == "EventsAccepted"
    assert p["Threshold"] == {"Ref": "QuarantineRatioThreshold"}
    assert 0 < float(TEMPLATE["Parameters"]["QuarantineRatioThreshold"]["Default"]) < 1


def test_findings_spike_is_an_anomaly_band_on_new_findings():
    p = props("FindingsSpikeAlarm")
    by_id = {m["Id"]: m for m in p["Metrics"]}
    assert by_id[p["ThresholdMetricId"]]["Expression"].startswith("ANOMALY_DETECTION_BAND(m1")
    assert by_id["m1"]["MetricStat"]["Metric"]["MetricName"] == "FindingsNew"
    assert p["ComparisonOperator"] == "GreaterThanUpperThreshold"


def test_rejected_files_and_ingest_lag_alarm():
    expect_one_zero_threshold(alarms_on("AccessWatch", "FilesRejected", "service", "ingest"), "access logs rejected")
    expect_one_zero_threshold(alarms_on("AccessWatch", "FilesRejected", "service", "reference"), "snapshots rejected")
    lag = alarms_on("AccessWatch", "IngestLagSeconds", "service", "ingest")
    assert len(lag) == 1 and props(lag[0])["Statistic"] == "Maximum"


def test_every_alarm_notifies_ops_and_has_a_unique_name():
    names = []
    for name, res in ALARMS.items():
        p = res["Properties"]
        assert p["AlarmActions"] == [{"Ref": "OpsTopic"}], name
        assert p["OKActions"] == [{"Ref": "OpsTopic"}], name
        assert p["AlarmName"]["Fn::Sub"].startswith("${NamePrefix}-${Stage}-"), name
        names.append(p["AlarmName"]["Fn::Sub"])
    assert len(names) == len(set(names))


def test_every_alarm_is_evaluable_locally():
    """The evaluator refuses what it cannot evaluate faithfully: every template alarm must load."""
    alarms = load_alarms(TEMPLATE, symbolic_resolver(TEMPLATE))
    assert [a.logical_id for a in alarms] == list(ALARMS)


def _service_of_functions() -> dict[str, str]:
    services = {}
    for name, res in FUNCTIONS.items():
        app = Path(res["Properties"]["CodeUri"]) / "app.py"
        match = re.search(r'observability\("([^"]+)"\)', (TEMPLATE_ROOT / app).read_text())
        assert match, f"{app} does not configure observability"
        services[name] = match.group(1)
    return services


TEMPLATE_ROOT = Path(__file__).resolve().parents[2]


def test_accesswatch_alarm_metrics_are_published_by_the_service_they_name():
    """An alarm on a metric nobody publishes would sit quietly: each names a real metric of a real service."""
    services = _service_of_functions()
    sources = {services[name]: "\n".join(p.read_text() for p in (TEMPLATE_ROOT / res["Properties"]["CodeUri"]).rglob("*.py"))
               for name, res in FUNCTIONS.items()}
    for alarm in load_alarms(TEMPLATE, symbolic_resolver(TEMPLATE)):
        for key in alarm.metric_keys:
            if key.namespace != "AccessWatch":
                continue
            service = dict(key.dimensions)["service"]
            assert service in sources, f"{alarm.logical_id}: no function has service {service}"
            assert f'"{key.name}"' in sources[service], f"{alarm.logical_id}: {service} never publishes {key.name}"


def test_every_alarm_has_a_runbook_entry_and_no_entry_is_stale():
    doc = (TEMPLATE_ROOT / "docs" / "operations.md").read_text()
    headings = set(re.findall(r"^#### (\w+)\s*$", doc, flags=re.MULTILINE))
    assert headings == set(ALARMS), (sorted(set(ALARMS) - headings), sorted(headings - set(ALARMS)))
    for name, res in ALARMS.items():
        assert f"Runbook: docs/operations.md#{name.lower()}" in res["Properties"]["AlarmDescription"], name
        section = doc.split(f"#### {name}\n", 1)[1].split("\n#### ", 1)[0]
        assert len(section.split()) >= 15, f"runbook entry for {name} says too little"


def dashboard_body() -> dict:
    sub = TEMPLATE["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "X", sub)), sub


def test_dashboard_is_valid_and_shows_every_alarm_and_resource():
    body, text = dashboard_body()
    alarm_widgets = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert alarm_widgets
    for name, res in ALARMS.items():
        suffix = res["Properties"]["AlarmName"]["Fn::Sub"]
        assert f":alarm:{suffix}\"" in text, f"dashboard lacks {name}"
    for resource in [*FUNCTIONS, *STATE_MACHINES, *TABLES]:
        assert "${" + resource + "}" in text, f"dashboard has no graph of {resource}"
    for queue in QUEUES:
        assert "${" + queue + ".QueueName}" in text
    for metric in ("EventsAccepted", "LinesQuarantined", "FilesRejected", "IngestLagSeconds", "FindingsNew",
                   "PartitionsProcessed", "PartitionDuration", "CasesOpened", "CasesClosed"):
        assert f'"{metric}"' in text, metric
    for widget in body["widgets"]:
        assert {"x", "y", "width", "height", "properties"} <= set(widget)
        assert 0 <= widget["x"] and widget["x"] + widget["width"] <= 24
