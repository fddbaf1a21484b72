"""Reports that tell zero from no data (issue 19, item 2): coverage of the logs per quarter and system,
the unfinished quarter, a period after today, small counts of automated accounts, and rule names."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from openpyxl import load_workbook
from support.oia_attacker import attack_release

from accesswatch.dal.partitions import PartitionObject
from accesswatch.quarters import Period
from accesswatch.reports.build import ReportInputs, build_report
from accesswatch.reports.coverage import NO_DATA, Coverage, clip_to_today, ranges_text
from accesswatch.reports.model import WITHHELD, Report
from accesswatch.reports.render import render_files, report_json

RULES = {"SELF_RECORD": ("high", "the client is the user's own record"),
         "SENSITIVE_LOOKUP": ("medium", "a sensitive screen without a covering assignment")}
YEAR = Period(date(2025, 1, 1), date(2025, 12, 31))
TODAY = date(2025, 11, 20)
GENERATED = datetime(2025, 11, 20, 2, 0, tzinfo=UTC)  # 20 November in New Zealand (15:00 NZDT)
SO_FAR = Period(date(2025, 1, 1), TODAY)


def days(first: str, last: str) -> frozenset[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return frozenset(a + timedelta(days=n) for n in range((b - a).days + 1))


def finding(n: int, nz_date: str, rule: str = "SELF_RECORD") -> dict[str, Any]:
    return {"finding_id": f"F{n}", "rule": rule, "severity": RULES[rule][0], "rule_status": "live",
            "user_id": f"u{n % 7}", "client_id": f"c{n}", "nz_date": nz_date, "case_id": None}


def demo_like(period: Period = SO_FAR, **inputs: Any) -> Report:
    """Logs (cms) from 24 March to 6 April 2025, as the demo world has them; nothing after."""
    log_days = {"cms": days("2025-03-24", "2025-04-06")}
    findings = [finding(n, "2025-03-28") for n in range(12)] + [finding(20 + n, "2025-04-02", "SENSITIVE_LOOKUP")
                                                              for n in range(30)]
    users = {date(2025, 3, 31): {f"u{n}" for n in range(40)} | {"svc1"},
             date(2025, 6, 30): {f"u{n}" for n in range(35)} | {"svc1", "svc2"}}
    cases = [{"case_id": f"C{n}", "source": "detection", "opened_at": "2025-10-02T00:00:00Z",
              "status": "investigating", "rules": ["SELF_RECORD"]} for n in range(6)]
    defaults: dict[str, Any] = dict(cases=cases, findings=findings, users_by_quarter=users,
                                    account_types={"svc1": "service", "svc2": "service"}, rules=RULES,
                                    coverage=Coverage(log_days, TODAY, ("cms",)))
    return build_report(ReportInputs(**(defaults | inputs)), period, threshold=5, generated_at=GENERATED)


def rows(report: Report, table_id: str) -> dict[str, dict[str, Any]]:
    table = report.table(table_id)
    return {r.key: {**{c.key: report.published(cell) for c, cell in zip(table.columns, r.cells, strict=True)},
                    "coverage": r.coverage} for r in table.rows}


def test_a_quarter_without_logs_is_no_data_not_zero() -> None:
    report = demo_like()
    by_rule = rows(report, "instances_by_rule")
    # September quarter: no logs at all, so no count, in every table of accesses and users
    for table in ("instances_by_decision", "instances_by_rule", "instances_by_severity", "people_involved",
                  "unique_users"):
        september = rows(report, table)["2025-09-30"]
        assert september.pop("coverage") == "no data: no logs", table
        assert set(september.values()) == {NO_DATA}, table
    assert by_rule["2025-03-31"]["SELF_RECORD"] == 12 and by_rule["2025-06-30"]["SELF_RECORD"] == 0  # a real 0
    assert by_rule["total"]["total"] == 42
    # case records do not depend on the quarter's logs: Table 1 shows its counts (and its zeros)
    table1 = rows(report, "table1_investigations")
    assert table1["2025-09-30"] == {"investigations_opened": 0, "coverage": "complete"}
    assert table1["2025-12-31"]["investigations_opened"] == 6
    assert any(n.startswith("no data: there are no access logs") for n in report.notes)

    files = render_files(report)
    csv_rows = {r["quarter_ending"]: r for r in csv.DictReader(io.StringIO(files["instances_by_rule.csv"].decode()))}
    assert csv_rows["2025-09-30"] == {"quarter_ending": "2025-09-30", "SELF_RECORD": NO_DATA,
                                      "SENSITIVE_LOOKUP": NO_DATA, "total": NO_DATA, "coverage": "no data: no logs"}
    long = list(csv.DictReader(io.StringIO(files["instances_by_quarter.csv"].decode())))
    assert {r["count"] for r in long if r["quarter_ending"] == "2025-09-30"} == {NO_DATA}
    document = json.loads(files["report.json"])
    table = next(t for t in document["tables"] if t["id"] == "instances_by_rule")
    september = next(r for r in table["rows"] if r["key"] == "2025-09-30")
    assert september["values"] == {"SELF_RECORD": None, "SENSITIVE_LOOKUP": None, "total": None}
    assert september["coverage"] == "no data: no logs"
    quarters = {q["quarter_ending"]: q for q in document["coverage"]["quarters"]}
    assert quarters["2025-09-30"]["status"] == "no_data" and quarters["2025-09-30"]["days_with_logs"] == 0
    assert document["coverage"]["systems"]["cms"] == {"days_with_logs": 14, "first": "2025-03-24",
                                                      "last": "2025-04-06",
                                                      "logs": [["2025-03-24", "2025-04-06"]]}
    assert document["no_data_cells"] == report.no_data_cells() > 0
    sheet = load_workbook(io.BytesIO(files["report.xlsx"]))["Table 5"]
    labels = [sheet.cell(r, 1).value for r in range(5, 10)]
    september_row = 5 + labels.index("30 September 2025")
    assert [sheet.cell(september_row, c).value for c in range(2, 5)] == [NO_DATA] * 3
    assert sheet.cell(4, 5).value == "Coverage (days with access logs)"
    assert sheet.cell(september_row, 5).value == "no data: no logs"
    assert "no data" in files["charts/instances_by_rule.svg"].decode()
    coverage = list(csv.DictReader(io.StringIO(files["coverage.csv"].decode())))
    assert {(r["quarter_ending"], r["system"]): r["status"] for r in coverage}[("2025-09-30", "cms")] == "no_data"
    # nothing withheld can be recovered; "no data" cells count as nothing counted
    assert attack_release(document, {r: s for r, (s, _) in RULES.items()}).recovered() == {}


def test_a_quarter_with_logs_on_some_days_is_partial_with_the_days() -> None:
    report = demo_like()
    march = rows(report, "instances_by_rule")["2025-03-31"]["coverage"]
    assert march == "partial: logs 2025-03-24 to 2025-03-31 (8 of 90 days)"
    assert rows(report, "unique_users")["2025-06-30"]["coverage"] == (
        "partial: logs 2025-04-01 to 2025-04-06 (6 of 91 days)")
    assert rows(report, "unique_users")["period"]["coverage"] == (
        "partial: logs 2025-03-24 to 2025-04-06 (14 of 324 days)")
    # two systems with different days: each is named
    two = demo_like(coverage=Coverage({"cms": days("2025-01-01", "2025-03-31"), "payments": days("2025-03-01",
                                                                                               "2025-03-10")},
                                      TODAY))
    assert rows(two, "instances_by_rule")["2025-03-31"]["coverage"] == (
        "partial: cms: logs 2025-01-01 to 2025-03-31 (90 of 90 days); "
        "payments: logs 2025-03-01 to 2025-03-10 (10 of 90 days)")
    # Table 8 counts the systems asked for: cms alone is complete in the March quarter
    cms_only = demo_like(systems=("cms",), coverage=two.coverage)
    assert rows(cms_only, "unique_users")["2025-03-31"]["coverage"] == "complete"
    assert ranges_text(days("2025-01-01", "2025-01-02") | {date(2025, 1, 5)}) == "2025-01-01 to 2025-01-02, 2025-01-05"


def test_the_unfinished_quarter_is_marked_with_the_day_it_runs_to() -> None:
    report = demo_like()
    december = rows(report, "instances_by_rule")["2025-12-31"]
    assert december["coverage"] == "no data: no logs; unfinished, runs to 2025-11-20"
    assert rows(report, "table1_investigations")["2025-12-31"]["coverage"] == "partial: unfinished, runs to 2025-11-20"
    assert "The quarter ending 31 December 2025 is not over: its figures run to 20 November 2025 (New Zealand " \
           "date) and are partial." in report.notes
    # with logs in it, the unfinished quarter is partial, not complete, even with logs on every day so far
    full = demo_like(coverage=Coverage({"cms": days("2025-01-01", "2025-11-20")}, TODAY))
    assert rows(full, "instances_by_rule")["2025-12-31"]["coverage"] == (
        "partial: unfinished, runs to 2025-11-20; logs on all 51 days")
    assert rows(full, "instances_by_rule")["2025-09-30"]["coverage"] == "complete"
    assert rows(full, "instances_by_rule")["2025-09-30"]["total"] == 0  # logs, and nothing found: a real zero
    # the workbook's About sheet lists it
    about = load_workbook(io.BytesIO(render_files(report)["report.xlsx"]))["About"]
    texts = [str(c.value) for c in about["A"] if c.value]
    assert "Quarter ending 31 December 2025: no data: no logs; unfinished, runs to 2025-11-20" in texts


def test_a_period_after_today_is_clipped_and_one_starting_after_today_refused() -> None:
    asked = Period(date(2025, 1, 1), date(2025, 12, 31))
    clipped, message = clip_to_today(asked, TODAY)
    assert clipped == Period(date(2025, 1, 1), TODAY)
    assert message is not None and "2025-12-31" in message and "runs to today, 2025-11-20" in message
    assert clip_to_today(Period(date(2025, 1, 1), date(2025, 9, 30)), TODAY) == (
        Period(date(2025, 1, 1), date(2025, 9, 30)), None)
    with pytest.raises(ValueError, match="starts after today"):
        clip_to_today(Period(date(2025, 11, 21), date(2025, 12, 31)), TODAY)
    with pytest.raises(ValueError, match="clip it first"):
        demo_like(period=asked)  # the builder never reports on days that have not happened


class FakePartitions:
    def __init__(self, objects: list[PartitionObject]) -> None:
        self.objects = objects

    def systems(self) -> list[str]:
        return sorted({o.system for o in self.objects} | {"payments"})

    def list(self, start: date, end: date, systems: Any = None) -> list[PartitionObject]:
        return [o for o in self.objects if start <= o.nz_date <= end and (not systems or o.system in systems)]

    def frames(self, objects: list[PartitionObject], columns: list[str]) -> list[pl.DataFrame]:
        return [pl.DataFrame({"user_id": [f"u{n}" for n in range(10)], "nz_date": [o.nz_date] * 10})
                for o in objects]


def test_the_service_reads_coverage_from_the_partitions_and_clips_the_period() -> None:
    from types import SimpleNamespace

    from accesswatch.services.report import produce

    objects = [PartitionObject(f"events/system=cms/nz_date={d}/x.parquet", "cms", d, "e", 1)
               for d in days("2025-03-24", "2025-04-06")]
    sources = SimpleNamespace(
        cases=SimpleNamespace(scan_cases=lambda: []),
        findings=SimpleNamespace(in_rule_quarter=lambda rule, quarter: []),
        partitions=FakePartitions(objects),
        ledger=SimpleNamespace(reference_pointer=lambda: None),
        store=None, curated_bucket="curated")
    report = produce(sources, Period(date(2025, 1, 1), date(2025, 12, 31)), threshold=5,  # type: ignore[arg-type]
                     generated_at=GENERATED)
    assert report.period == Period(date(2025, 1, 1), TODAY)
    assert report.coverage is not None and report.coverage.requested == Period(date(2025, 1, 1), date(2025, 12, 31))
    assert any(n.startswith("Period: the period asked for ends 2025-12-31") for n in report.notes)
    users = rows(report, "unique_users")
    assert users["2025-03-31"]["including_automated"] == 10
    # payments is known but has no logs: named as such
    assert users["2025-03-31"]["coverage"] == ("partial: cms: logs 2025-03-24 to 2025-03-31 (8 of 90 days); "
                                               "payments: no logs")
    assert set(list(users["2025-09-30"].values())[:3]) == {NO_DATA}
    document = report_json(report)
    assert document["coverage"]["requested"] == {"from": "2025-01-01", "to": "2025-12-31"}
    assert document["coverage"]["systems"]["payments"]["days_with_logs"] == 0


# ---------------------------------------------------------------------- suppression: natural persons only
def users_report(users: dict[date, set[str]], services: set[str]) -> Report:
    return build_report(ReportInputs([], [], users, dict.fromkeys(services, "service"), RULES),
                        Period(date(2025, 1, 1), date(2025, 6, 30)), threshold=5, generated_at=GENERATED)


def test_small_counts_of_automated_accounts_and_the_staff_only_figure_are_published() -> None:
    people = {f"u{n}" for n in range(40)}
    report = users_report({date(2025, 3, 31): people | {"svc1"}, date(2025, 6, 30): people | {"svc1", "svc2"}},
                          {"svc1", "svc2"})
    t8 = rows(report, "unique_users")
    assert t8["2025-03-31"] | {"coverage": None} == {"excluding_automated": 40, "automated": 1,
                                                     "including_automated": 41, "coverage": None}
    assert (t8["period"]["excluding_automated"], t8["period"]["automated"]) == (40, 2)
    assert report.withheld_cells() == 0
    assert "Counts of automated (service) accounts are not people's" in report.footnote


def test_a_small_count_of_people_beside_automated_accounts_is_protected_by_another_count() -> None:
    # 3 people and 2 service accounts: the 3 is withheld; 5 - 2 would give it away, so the 5 goes too (the 2 is
    # not a count of people, and withholding it would not help: the whole period and June would pin it)
    for june in ({f"u{n}" for n in range(30)}, {f"u{n}" for n in range(10, 40)} | {"svc3"}):
        report = users_report({date(2025, 3, 31): {"u1", "u2", "u3", "svc1", "svc2"}, date(2025, 6, 30): june},
                              {"svc1", "svc2", "svc3"})
        march = rows(report, "unique_users")["2025-03-31"]
        assert (march["excluding_automated"], march["automated"], march["including_automated"]) == (
            WITHHELD, 2, WITHHELD)
        # the attacker also knows that a whole-period count lies between the largest quarter and their sum
        assert attack_release(report_json(report), {r: s for r, (s, _) in RULES.items()}).recovered() == {}
    # a release in which the automated count is withheld beside the people's would be broken by the attacker
    document = report_json(report)
    table = next(t for t in document["tables"] if t["id"] == "unique_users")
    table["rows"][0]["values"]["automated"] = WITHHELD
    table["rows"][0]["values"]["including_automated"] = 5
    assert attack_release(document, {r: s for r, (s, _) in RULES.items()}).recovered()


# ---------------------------------------------------------------------- rule names
def test_the_workbook_heads_rules_by_name_with_the_id_in_a_note() -> None:
    report = demo_like(rule_names={"SELF_RECORD": "Own record (catalog)"})
    files = render_files(report)
    sheet = load_workbook(io.BytesIO(files["report.xlsx"]))["Table 5"]
    headings = {sheet.cell(4, c).value: sheet.cell(4, c).comment for c in range(2, 4)}
    assert set(headings) == {"Own record (catalog)", "Sensitive details, no assignment"}
    assert headings["Sensitive details, no assignment"].text == "Rule id: SENSITIVE_LOOKUP"
    assert headings["Own record (catalog)"].text == "Rule id: SELF_RECORD"
    # machine files keep the ids
    assert files["instances_by_rule.csv"].decode().splitlines()[0] == (
        "quarter_ending,SELF_RECORD,SENSITIVE_LOOKUP,total,coverage")
    table = next(t for t in json.loads(files["report.json"])["tables"] if t["id"] == "instances_by_rule")
    assert table["columns"][1] == {"key": "SENSITIVE_LOOKUP", "label": "Sensitive details, no assignment",
                                   "kind": "count"}
    # an id the names do not know is named by its description
    other = demo_like(rules={**RULES, "NEW_RULE": ("low", "a rule nobody has named yet")})
    assert [c.label for c in other.table("instances_by_rule").columns][-2] == "A rule nobody has named yet"


def test_the_cli_refuses_a_period_that_starts_after_today_before_connecting() -> None:
    import argparse

    from accesswatch.quarters import nz_today
    from accesswatch_tools.cli.commands import report as command
    from accesswatch_tools.cli.context import CliError

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    tomorrow = (nz_today() + timedelta(days=1)).isoformat()
    args = parser.parse_args(["report", "--from", tomorrow, "--to", tomorrow, "--out", "unused"])
    with pytest.raises(CliError, match="starts after today"):
        command.cmd_report(args)
