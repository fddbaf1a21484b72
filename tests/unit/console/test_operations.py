"""The operations page, pure: its figures are the dashboard's, their GetMetricData queries and values,
the alarms' order, and the rendering (escaped, accessible)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from accesswatch.console.markup import render
from accesswatch.console.pages.operations import (
    FIGURES,
    WINDOWS,
    alarm_table,
    figure_queries,
    figure_values,
)
from accesswatch.console.principal import Principal
from accesswatch.console.roles import Role
from accesswatch_tools.embedded.template import load_template


def _dashboard_metrics() -> set[tuple[str, str]]:
    """(metric name, service) of every AccessWatch metric the template's dashboard graphs."""
    body = load_template()["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    found = set()
    for widget in json.loads(re.sub(r"\$\{[^}]+\}", "x", text))["widgets"]:
        previous: list[str] = []
        for line in widget.get("properties", {}).get("metrics", []):
            names = [item for item in line if isinstance(item, str)]
            if not names or names[0] == "...":
                continue
            names = [prev if item == "." else item for item, prev in zip(names, previous + names, strict=False)]
            previous = names
            if names[0] == "AccessWatch":
                found.add((names[1], names[3]))
    return found


def test_the_figures_are_the_dashboards_accesswatch_metrics() -> None:
    shown = {(f.metric, f.service) for f in FIGURES}
    assert shown == _dashboard_metrics()
    assert len({f.id for f in FIGURES}) == len(FIGURES)


def test_queries_are_valid_and_distinct() -> None:
    queries = figure_queries(86400)
    ids = [q["Id"] for q in queries]
    assert len(ids) == len(set(ids)) <= 500
    assert all(re.fullmatch(r"[a-z][a-zA-Z0-9_]*", i) for i in ids)
    assert {q["MetricStat"]["Period"] for q in queries} == {86400}
    average = [q for q in queries if q["Id"].startswith("partition_avg_")]
    assert sorted(q["MetricStat"]["Stat"] for q in average) == ["SampleCount", "Sum"]


def test_values_hold_whichever_way_the_window_is_split_into_datapoints() -> None:
    results: list[dict[str, Any]] = [
        {"Id": "events_accepted_sum", "Values": [90.0, 10.0]},
        {"Id": "lines_quarantined_sum", "Values": [25.0]},
        {"Id": "ingest_lag_maximum", "Values": [3.0, 7.5]},
        {"Id": "partition_avg_sum", "Values": [10.0, 2.0]},
        {"Id": "partition_avg_samplecount", "Values": [2.0, 2.0]},
        {"Id": "files_failed_sum", "Values": []},
    ]
    values = figure_values(results)
    assert values["events_accepted"] == 100.0
    assert values["ingest_lag"] == 7.5
    assert values["partition_avg"] == 3.0  # (10 + 2) / (2 + 2), not the mean of 5 and 1
    assert values["files_failed"] is None and values["cases_opened"] is None  # no datapoint: no data, not 0
    assert values["quarantine_ratio"] == 0.2  # 25 / (100 + 25)
    assert figure_values([])["quarantine_ratio"] is None


def _alarm(name: str, state: str, when: str, reason: str = "r") -> dict[str, object]:
    return {"AlarmName": name, "StateValue": state, "StateReason": reason,
            "StateUpdatedTimestamp": datetime.fromisoformat(when).replace(tzinfo=UTC)}


def test_alarms_in_alarm_come_first_the_latest_change_first() -> None:
    rows = alarm_table([_alarm("a-ok", "OK", "2026-11-01T00:00"), _alarm("b-alarm", "ALARM", "2026-11-02T00:00"),
                        _alarm("c-insufficient", "INSUFFICIENT_DATA", "2026-11-03T00:00"),
                        _alarm("d-alarm", "ALARM", "2026-11-04T00:00")])
    assert [r["name"] for r in rows] == ["d-alarm", "b-alarm", "c-insufficient", "a-ok"]
    assert rows[0]["last_change"] == "2026-11-04T00:00:00Z"


def _page(**overrides: object) -> str:
    values: dict[str, Any] = {
        "rows": alarm_table([_alarm("aw-local-ingest-errors", "ALARM", "2026-11-02T00:00", "<script>x</script>"),
                             _alarm("aw-local-detect-errors", "OK", "2026-11-01T00:00")]),
        "counts": {"ALARM": 1, "INSUFFICIENT_DATA": 0, "OK": 1}, "prefix": "aw-local-", "alarms_error": "",
        "figures": {key: figure_values([{"Id": "events_accepted_sum", "Values": [1234.0]}]) for key, _, _ in WINDOWS},
        "figures_error": "", "figure_list": FIGURES, "windows": WINDOWS, "as_of": "2026-11-30T10:00:00Z"}
    values.update(overrides)
    return render("operations.html", principal=Principal("op1", frozenset({Role.OPERATOR}), False),
                  title="Operations", active="/operations", **values)


def test_the_page_escapes_reasons_and_labels_its_tables() -> None:
    html = _page()
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert html.index('data-alarm="aw-local-ingest-errors"') < html.index('data-alarm="aw-local-detect-errors"')
    assert html.count("<caption>") == 2 and 'scope="col"' in html and 'scope="row"' in html
    assert re.search(r'id="figure-events_accepted">.*?1,234.*?1,234', html, re.S)
    assert re.search(r'id="figure-files_failed">.*?no data', html, re.S)
    assert "<h1>Operations</h1>" in html and html.index("<h2") > html.index("<h1>")


def test_unreadable_cloudwatch_is_said_by_its_error_code() -> None:
    html = _page(rows=[], alarms_error="AccessDenied", figures={}, figures_error="AccessDenied")
    assert 'id="alarms-error"' in html and 'id="figures-error"' in html and "AccessDenied" in html
