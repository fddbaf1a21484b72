"""The console's operations page (issue 16) through the local endpoint's adapter on an embedded runtime with
the small synthetic world run through it: the operator sees every alarm of the stack from describe_alarms
(the runtime's CloudWatch adapter keeps their states), an alarm planted in ALARM by a metric listed first,
the dashboard's figures for 24 hours and 7 days from get_metric_data; every other role is refused; the page
holds no personal information."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.console import ConsoleBrowser, world_runtime
from test_pii import Catalogue

from accesswatch_tools.alarms.definitions import alarm_resources

pytestmark = pytest.mark.e2e

OTHER_ROLES = ("investigator", "er_adviser", "privacy_officer")
ROW = re.compile(r'<tr class="state-[a-z_]+" data-alarm="([^"]+)" data-state="([A-Z_]+)">')


@pytest.fixture(scope="module")
def runtime(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with world_runtime(small_world, tmp_path_factory.mktemp("console-operations")) as aws:
        yield aws


@pytest.fixture(scope="module")
def operator(runtime: Any) -> ConsoleBrowser:
    return ConsoleBrowser(runtime, "operator", "u-ops")


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _rows(html: str) -> list[tuple[str, str]]:
    return ROW.findall(html)


def _cell(html: str, figure: str, window: str) -> str:
    found = re.search(rf'id="figure-{figure}">.*?data-window="{window}">([^<]*)</td>', html, re.S)
    assert found, figure
    return found.group(1).strip()


def test_the_operator_sees_every_alarm_and_the_dashboards_figures(runtime: Any, operator: ConsoleBrowser) -> None:
    response = operator.get("/operations")
    html = _text(response)
    assert response.status_code == 200, html
    rows = _rows(html)
    assert len(rows) == len(alarm_resources(runtime.template))
    assert all(name.startswith("accesswatch-local-") for name, _ in rows)
    order = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}
    assert [order[state] for _, state in rows] == sorted(order[state] for _, state in rows)
    # the states are CloudWatch's as the runtime's adapter evaluated them, the same the CLI lists
    from accesswatch_tools.operate.alarms import alarm_rows

    assert dict(rows) == {r["name"]: r["state"] for r in alarm_rows(runtime)}
    for window in ("day", "week"):  # the world was just run: events accepted and partitions processed
        assert int(_cell(html, "events_accepted", window).replace(",", "")) > 0
        assert int(_cell(html, "partitions", window).replace(",", "")) > 0
        assert _cell(html, "files_failed", window) == "no data"
    assert _cell(html, "events_accepted", "day") == _cell(html, "events_accepted", "week")


def test_an_alarm_planted_by_a_metric_is_shown_first(runtime: Any, operator: ConsoleBrowser) -> None:
    name = runtime.template["Resources"]["AccessLogRejectedAlarm"]["Properties"]["AlarmName"]["Fn::Sub"]
    name = name.replace("${NamePrefix}", "accesswatch").replace("${Stage}", "local")
    assert dict(_rows(_text(operator.get("/operations"))))[name] == "OK"
    # an access-log file rejected, as the ingest function counts one (tests/e2e/test_ops_faults.py does it with a file)
    runtime.client("cloudwatch").put_metric_data(Namespace="AccessWatch", MetricData=[
        {"MetricName": "FilesRejected", "Dimensions": [{"Name": "service", "Value": "ingest"}], "Value": 1.0,
         "Unit": "Count"}])
    html = _text(operator.get("/operations"))
    rows = _rows(html)
    assert rows[0] == (name, "ALARM"), rows[:3]  # the latest change first among the alarms in ALARM
    assert re.search(rf'data-alarm="{re.escape(name)}".*?greater than 0', html, re.S)
    assert _cell(html, "files_rejected", "day") == "1"
    assert re.search(r'id="alarm-counts">.*?<strong class="overdue">\d+ in ALARM</strong>', html, re.S)


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_other_roles_are_refused(runtime: Any, role: str) -> None:
    response = ConsoleBrowser(runtime, role, f"u-{role}").get("/operations")
    assert response.status_code == 403
    assert "data-alarm=" not in _text(response)


def test_the_page_holds_no_personal_information(small_world: Path, operator: ConsoleBrowser) -> None:
    html = _text(operator.get("/operations"))
    catalogue = Catalogue.from_reference(small_world / "reference")
    assert catalogue.names and catalogue.addresses  # the detector has something to look for
    assert catalogue.leaks(html) == []
