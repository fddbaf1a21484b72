"""What the release counts, and how it is written: CSV, JSON and an OIA-style workbook."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook

from accesswatch.quarters import Period
from accesswatch.reports.build import (
    DEFAULT_MIN_DECISIONS,
    ER_TYPES,
    OUTCOMES,
    ReportInputs,
    build_report,
    completion,
    decision,
    investigated,
)
from accesswatch.reports.model import WITHHELD, Report
from accesswatch.reports.render import render_files, report_json
from accesswatch.reports.safe import safe_cell, safe_text

RULES = {"SELF_RECORD": ("high", "own record"), "SENSITIVE_LOOKUP": ("medium", "sensitive screen")}
YEAR = Period(date(2024, 4, 1), date(2025, 3, 31))
GENERATED = datetime(2025, 4, 2, tzinfo=UTC)


def case(case_id: str, opened_at: str, **fields: Any) -> dict[str, Any]:
    return {"case_id": case_id, "source": "detection", "opened_at": opened_at, "status": "investigating",
            "rules": ["SELF_RECORD"], **fields}


def finding(n: int, nz_date: str, *, rule: str = "SELF_RECORD", case_id: str | None = None, user: str = "u1",
            client: str = "c1", status: str = "live") -> dict[str, Any]:
    return {"finding_id": f"F{n}", "rule": rule, "severity": RULES[rule][0], "rule_status": status,
            "user_id": user, "client_id": client, "nz_date": nz_date, "case_id": case_id}


def values(report: Report, table_id: str) -> dict[str, dict[str, Any]]:
    table = report.table(table_id)
    return {r.key: {c.key: report.published(cell) for c, cell in zip(table.columns, r.cells, strict=True)}
            for r in table.rows}


def build(cases: list[dict[str, Any]] = (), findings: list[dict[str, Any]] = (),  # type: ignore[assignment]
          users: dict[date, set[str]] | None = None, *, threshold: int = 0, period: Period = YEAR,
          min_decisions: int = DEFAULT_MIN_DECISIONS) -> Report:
    return build_report(ReportInputs(list(cases), list(findings), users or {}, {"svc": "service"}, RULES,
                                     min_decisions=min_decisions),
                        period, threshold=threshold, generated_at=GENERATED)


def test_table_one_counts_investigations_from_detection_by_new_zealand_quarter() -> None:
    report = build([
        case("a", "2025-03-31T23:30:00+13:00"),  # March quarter in New Zealand
        case("b", "2025-03-31T10:30:00Z"),  # the same NZ evening, written in UTC
        case("c", "2024-12-31T11:00:00Z"),  # 1 January NZ: March quarter
        case("d", "2024-12-31T10:59:00Z"),  # still 31 December NZ
        case("e", "2025-01-05T00:00:00Z", source="complaint"),  # not from detection
        case("f", "2025-01-06T00:00:00Z", source="manager_concern"),
        case("g", "2025-03-31T11:00:00Z"),  # 1 April NZ: after the period
    ])
    t1 = values(report, "table1_investigations")
    assert t1["2025-03-31"] == {"investigations_opened": 3}
    assert t1["2024-12-31"] == {"investigations_opened": 1}
    assert t1["total"] == {"investigations_opened": 4}
    assert list(t1) == ["2024-06-30", "2024-09-30", "2024-12-31", "2025-03-31", "total"]


def test_table_one_counts_only_detection_cases_that_went_to_investigation() -> None:
    opened = "2024-08-01T00:00:00Z"
    counted = [case(f"in-{status}", opened, status=status)
               for status in ("investigating", "decided", "closed_unfounded", "er_case", "awaiting_outcome",
                              "outcome_recorded", "closed_founded")]
    not_counted = [
        *(case(f"early-{status}", opened, status=status) for status in ("opened", "triaged", "notified")),
        case("no-status", opened, status=None),
        # the weekly random review of staff below the threshold is not detection, even once investigated
        case("review", opened, source="random_review", trigger="random_review", status="investigating"),
        case("review-closed", opened, source="random_review", trigger="random_review", status="closed_unfounded",
             decision="unfounded", decided_at=opened),
        case("no-source", opened, source=None),
    ]
    assert all(investigated(c) for c in counted)
    assert not any(investigated(c) for c in not_counted)
    t1 = values(build(counted + not_counted), "table1_investigations")
    assert t1["2024-09-30"] == {"investigations_opened": len(counted)} == {"investigations_opened": 7}
    assert t1["total"] == {"investigations_opened": 7}
    notes = " ".join(build().table("table1_investigations").notes)
    assert "went to investigation" in notes and "random review" in notes and "one staff member" in notes


def test_table_ten_counts_investigations_not_from_detection_by_source_apart_from_table_one() -> None:
    opened = "2024-08-01T00:00:00Z"
    cases = [
        *(case(f"det{i}", opened) for i in range(6)),
        *(case(f"comp{i}", opened, source="complaint", trigger="complaint") for i in range(3)),
        case("conc", "2025-01-10T00:00:00Z", source="manager_concern", status="closed_founded", outcome="dismissal",
             outcome_at="2025-02-01T00:00:00Z", er_type="privacy_breach", decision="founded"),
        case("priv", opened, source="privacy_request", status="notified"),  # not yet taken up: not counted
        case("rev", opened, source="random_review", trigger="random_review"),
        case("old", opened, source=None),  # a record without a source: its own column, never detection
    ]
    t10 = values(build(cases), "table10_investigations_by_source")
    assert t10["2024-09-30"] == {"random_review": 1, "complaint": 3, "manager_concern": 0, "privacy_request": 0,
                                 "not_recorded": 1}
    assert t10["2025-03-31"]["manager_concern"] == 1 and t10["total"]["complaint"] == 3
    t1 = values(build(cases), "table1_investigations")
    assert t1["2024-09-30"]["investigations_opened"] == 6 and t1["total"]["investigations_opened"] == 6
    # Small counts of other sources are withheld within Table 10 and never take Table 1's figures with them.
    small = build(cases, threshold=5)
    assert values(small, "table10_investigations_by_source")["2024-09-30"]["complaint"] == WITHHELD
    assert values(small, "table1_investigations")["2024-09-30"]["investigations_opened"] == 6
    assert values(small, "table1_investigations")["total"]["investigations_opened"] == 6
    notes = " ".join(build().table("table10_investigations_by_source").notes)
    assert "joins that case" in notes and "Table 1" in notes


def test_completed_er_cases_by_type_and_outcome_count_the_same_cases() -> None:
    done = dict(decision="founded", decided_at="2024-07-01T00:00:00Z", er_type="privacy_breach")
    report = build([
        case("a", "2024-07-01T00:00:00Z", **done, outcome="written_warning", outcome_at="2024-08-01T00:00:00Z"),
        case("b", "2024-07-01T00:00:00Z", **done, outcome="dismissal", outcome_at="2024-12-31T10:00:00Z"),
        # recorded before outcome_at existed: closed_at stands in
        case("c", "2024-07-01T00:00:00Z", **{**done, "er_type": None}, outcome="dismissal",
             closed_at="2025-01-02T00:00:00Z", status="closed_founded"),
        case("d", "2024-07-01T00:00:00Z", **done, status="awaiting_outcome"),  # no outcome yet: not completed
    ])
    t2, t3 = values(report, "table2_er_by_type"), values(report, "table3_er_by_outcome")
    assert t2["2024-09-30"]["privacy_breach"] == 1 and t2["2024-12-31"]["privacy_breach"] == 1
    assert t2["2025-03-31"]["not_recorded"] == 1
    assert t3["2024-12-31"]["dismissal"] == 1 and t3["2025-03-31"]["dismissal"] == 1
    assert [t2[k]["total"] for k in t2] == [t3[k]["total"] for k in t3] == [0, 1, 1, 1, 3]
    assert [c.key for c in report.table("table2_er_by_type").columns] == [*ER_TYPES, "not_recorded", "total"]
    assert [c.key for c in report.table("table3_er_by_outcome").columns] == [*OUTCOMES, "total"]


def test_case_facts_fall_back_on_status_for_older_records() -> None:
    assert decision({"status": "closed_unfounded", "closed_at": "2025-01-01T00:00:00Z"}) == ("unfounded",
                                                                                             date(2025, 1, 1))
    assert decision({"status": "er_case", "er_opened_at": "2025-02-01T00:00:00+13:00"})[0] == "founded"
    assert decision({"status": "investigating"}) == ("undecided", None)
    assert decision({"decision": "founded", "decided_at": "2025-03-31T11:30:00Z"}) == ("founded", date(2025, 4, 1))
    assert completion({"outcome": "dismissal"}) is None  # no date: cannot be placed in a quarter
    assert completion({"er_type": "privacy_breach"}) is None


def test_accesses_by_rule_severity_and_decision_share_their_totals() -> None:
    cases = [case("A", "2024-05-01T00:00:00Z", decision="founded", decided_at="2024-05-02T00:00:00Z"),
             case("B", "2024-05-01T00:00:00Z", decision="unfounded", decided_at="2024-05-02T00:00:00Z",
                  rules=["SENSITIVE_LOOKUP"])]
    findings = [finding(1, "2024-05-01", case_id="A"), finding(2, "2024-05-01", case_id="A", client="c2"),
                finding(3, "2024-08-01", rule="SENSITIVE_LOOKUP", case_id="B", user="u2"),
                finding(4, "2024-08-02", rule="SENSITIVE_LOOKUP", user="u2"),  # no case yet
                finding(5, "2024-08-02", rule="SENSITIVE_LOOKUP", status="staging"),  # a rule on trial
                finding(6, "2025-04-01", case_id="A")]  # after the period
    report = build(cases, findings)
    by_rule, by_sev = values(report, "instances_by_rule"), values(report, "instances_by_severity")
    by_decision = values(report, "instances_by_decision")
    assert by_rule["2024-06-30"] == {"SELF_RECORD": 2, "SENSITIVE_LOOKUP": 0, "total": 2}
    assert by_rule["2024-09-30"] == {"SELF_RECORD": 0, "SENSITIVE_LOOKUP": 2, "total": 2}
    assert by_sev["total"] == {"high": 2, "medium": 2, "total": 4}
    assert by_decision["total"] == {"founded": 2, "unfounded": 1, "undecided": 1, "total": 4}
    people = values(report, "people_involved")
    assert people["2024-06-30"] == {"staff": 1, "clients": 2}
    assert people["period"] == {"staff": 2, "clients": 2}
    precision = values(report, "rule_precision")
    assert precision["SELF_RECORD"] == {"founded": 1, "unfounded": 0, "decided": 1, "precision": 1.0,
                                        "flagged_for_demotion": "no"}
    assert precision["SENSITIVE_LOOKUP"]["precision"] == 0.0


def test_unique_users_with_and_without_automated_accounts() -> None:
    users = {date(2024, 6, 30): {"u1", "u2", "svc"}, date(2024, 9, 30): {"u2", "u3"}}
    t8 = values(build(users=users), "unique_users")
    assert t8["2024-06-30"] == {"excluding_automated": 2, "automated": 1, "including_automated": 3}
    assert t8["2024-09-30"] == {"excluding_automated": 2, "automated": 0, "including_automated": 2}
    assert t8["period"] == {"excluding_automated": 3, "automated": 1, "including_automated": 4}


def mixed_case(case_id: str, day: str, verdicts: dict[str, str] | None, overall: str = "founded",
               **fields: Any) -> dict[str, Any]:
    """A case with findings of both rules, decided per rule (``verdicts``) or, like older records, once."""
    extra: dict[str, Any] = {"decision": overall, "decided_at": f"{day}T01:00:00Z",
                             "rules": ["SELF_RECORD", "SENSITIVE_LOOKUP"], **fields}
    if verdicts is not None:
        extra["rule_decisions"] = {r: {"decision": v, **({"reason": "rule_too_broad"} if v == "unfounded" else {})}
                                   for r, v in verdicts.items()}
    return case(case_id, f"{day}T00:00:00Z", **extra)


def test_a_case_decided_per_rule_counts_each_rules_own_verdict() -> None:
    # Founded for SELF_RECORD, unfounded for the SENSITIVE_LOOKUP findings that came with it: before per-rule
    # verdicts the SENSITIVE_LOOKUP findings counted as founded and the rule scored 1.00.
    mixed = mixed_case("M", "2024-05-01", {"SELF_RECORD": "founded", "SENSITIVE_LOOKUP": "unfounded"})
    older = mixed_case("O", "2024-05-01", None)  # one decision, before per-rule verdicts: counts for both rules
    findings = [finding(1, "2024-05-01", case_id="M"),
                finding(2, "2024-05-01", rule="SENSITIVE_LOOKUP", case_id="M", client="c2"),
                finding(3, "2024-05-01", rule="SENSITIVE_LOOKUP", case_id="M", client="c3"),
                finding(4, "2024-05-01", rule="SENSITIVE_LOOKUP", case_id="O", user="u2")]
    report = build([mixed, older], findings)
    precision = values(report, "rule_precision")
    assert precision["SELF_RECORD"] == {"founded": 2, "unfounded": 0, "decided": 2, "precision": 1.0,
                                        "flagged_for_demotion": "no"}
    assert precision["SENSITIVE_LOOKUP"] == {"founded": 1, "unfounded": 1, "decided": 2, "precision": 0.5,
                                             "flagged_for_demotion": "no"}
    by_decision = values(report, "instances_by_decision")
    assert by_decision["2024-06-30"] == {"founded": 2, "unfounded": 2, "undecided": 0, "total": 4}
    # the per-rule verdict wins over the case's decision, also when the case is unfounded overall
    flipped = mixed_case("U", "2024-05-01", {"SELF_RECORD": "founded", "SENSITIVE_LOOKUP": "unfounded"},
                         overall="unfounded", status="closed_unfounded")
    precision = values(build([flipped]), "rule_precision")
    assert (precision["SELF_RECORD"]["founded"], precision["SENSITIVE_LOOKUP"]["unfounded"]) == (1, 1)
    assert precision["SELF_RECORD"]["unfounded"] == precision["SENSITIVE_LOOKUP"]["founded"] == 0
    # an undecided case counts nowhere in Table 9, and its findings are "not yet decided"
    open_case = case("P", "2024-05-01T00:00:00Z", rules=["SELF_RECORD", "SENSITIVE_LOOKUP"])
    report = build([open_case], [finding(9, "2024-05-01", rule="SENSITIVE_LOOKUP", case_id="P")])
    assert values(report, "rule_precision")["SENSITIVE_LOOKUP"]["decided"] == 0
    assert values(report, "instances_by_decision")["total"]["undecided"] == 1


def decided_cases(rule: str, founded: int, unfounded: int, day: str = "2024-08-01") -> list[dict[str, Any]]:
    stamp = f"{day}T00:00:00Z"
    return [case(f"{rule}-{i}", stamp, rules=[rule], decision="founded" if i < founded else "unfounded",
                 decided_at=stamp) for i in range(founded + unfounded)]


def test_a_rule_under_ten_percent_with_enough_decisions_is_flagged_for_demotion() -> None:
    assert DEFAULT_MIN_DECISIONS == 20
    # 1 of 20 founded (5 %): flagged. 1 of 19 (5.3 %): too few decisions. 2 of 20 (10 %): not under 10 %.
    report = build(decided_cases("SENSITIVE_LOOKUP", 1, 19) + decided_cases("SELF_RECORD", 1, 18))
    precision = values(report, "rule_precision")
    assert precision["SENSITIVE_LOOKUP"]["decided"] == 20 and precision["SENSITIVE_LOOKUP"]["precision"] == 0.05
    assert precision["SENSITIVE_LOOKUP"]["flagged_for_demotion"] == "yes"
    assert precision["SELF_RECORD"]["decided"] == 19 and precision["SELF_RECORD"]["flagged_for_demotion"] == "no"
    table = report.table("rule_precision")
    assert any("at least 20 decisions" in n and "under 10%" in n for n in table.notes)
    assert "Flagged for demotion to staging in this release: SENSITIVE_LOOKUP." in table.notes
    assert values(build(decided_cases("SENSITIVE_LOOKUP", 2, 18)), "rule_precision")["SENSITIVE_LOOKUP"][
        "flagged_for_demotion"] == "no"
    none_flagged = build(decided_cases("SENSITIVE_LOOKUP", 0, 19)).table("rule_precision")
    assert not any(n.startswith("Flagged for demotion to staging in this release") for n in none_flagged.notes)
    # per-rule verdicts decide it: 20 mixed cases founded for SELF_RECORD, unfounded for SENSITIVE_LOOKUP
    mixed = [mixed_case(f"M{i}", "2024-08-01", {"SELF_RECORD": "founded", "SENSITIVE_LOOKUP": "unfounded"})
             for i in range(20)]
    precision = values(build(mixed), "rule_precision")
    assert precision["SENSITIVE_LOOKUP"]["flagged_for_demotion"] == "yes"
    assert precision["SELF_RECORD"]["flagged_for_demotion"] == "no"
    # the minimum is the scoring setting's, passed in
    assert values(build(decided_cases("SELF_RECORD", 0, 19), min_decisions=19), "rule_precision")[
        "SELF_RECORD"]["flagged_for_demotion"] == "yes"
    # a deployment's setting (only that variable is read: another bad CASE_* setting is not the report's business)
    from accesswatch.config import ConfigError
    from accesswatch.services.report import min_decisions

    assert min_decisions({}) == 20
    assert min_decisions({"CASE_PRECISION_MIN_DECISIONS": "30", "CASE_THRESHOLD": "not a number"}) == 30
    with pytest.raises(ConfigError):
        min_decisions({"CASE_PRECISION_MIN_DECISIONS": "0"})
    # decisions outside the period do not count towards the flag
    late = decided_cases("SENSITIVE_LOOKUP", 0, 20, day="2025-04-02")
    assert values(build(late + decided_cases("SENSITIVE_LOOKUP", 0, 5)), "rule_precision")["SENSITIVE_LOOKUP"] == {
        "founded": 0, "unfounded": 5, "decided": 5, "precision": 0.0, "flagged_for_demotion": "no"}


def test_the_demotion_flag_is_in_every_output() -> None:
    report = build(decided_cases("SENSITIVE_LOOKUP", 1, 24) + decided_cases("SELF_RECORD", 6, 0))
    files = render_files(report)
    rows = {r["rule"]: r for r in csv.DictReader(io.StringIO(files["rule_precision.csv"].decode()))}
    assert rows["SENSITIVE_LOOKUP"]["flagged_for_demotion"] == "yes" and rows["SENSITIVE_LOOKUP"]["decided"] == "25"
    assert rows["SELF_RECORD"]["flagged_for_demotion"] == "no"
    document = json.loads(files["report.json"])
    table = next(t for t in document["tables"] if t["id"] == "rule_precision")
    assert {"key": "flagged_for_demotion", "label": "Flagged for demotion to staging", "kind": "flag"} in table[
        "columns"]
    assert {r["key"]: r["values"]["flagged_for_demotion"] for r in table["rows"]} == {
        "SELF_RECORD": "no", "SENSITIVE_LOOKUP": "yes"}
    assert any("demotion to staging" in n for n in table["notes"])
    sheet = load_workbook(io.BytesIO(files["report.xlsx"]))["Table 9"]
    assert sheet.cell(4, 6).value == "Flagged for demotion to staging"
    flags = {sheet.cell(r, 1).comment.text: sheet.cell(r, 6) for r in range(5, 7)}  # rows named, ids in notes
    assert flags["Rule id: SENSITIVE_LOOKUP"].value == "yes" and flags["Rule id: SENSITIVE_LOOKUP"].font.b
    assert flags["Rule id: SELF_RECORD"].value == "no" and not flags["Rule id: SELF_RECORD"].font.b
    assert {sheet.cell(r, 1).value for r in range(5, 7)} == {"Own record", "Sensitive details, no assignment"}
    assert any("demotion to staging" in str(c.value) for c in sheet["A"])


def test_the_demotion_flag_is_withheld_with_its_counts() -> None:
    # 1 founded of 20: flagged, but the 1 is withheld; a published "yes" would pin it (under 10 % of 20 is 1).
    report = build(decided_cases("SENSITIVE_LOOKUP", 1, 19) + decided_cases("SELF_RECORD", 0, 30), threshold=5)
    precision = values(report, "rule_precision")
    assert precision["SENSITIVE_LOOKUP"]["founded"] == WITHHELD
    assert precision["SENSITIVE_LOOKUP"]["flagged_for_demotion"] == WITHHELD
    assert precision["SENSITIVE_LOOKUP"]["precision"] == WITHHELD
    # published counts give a published flag
    assert precision["SELF_RECORD"] == {"founded": 0, "unfounded": 30, "decided": 30, "precision": 0.0,
                                        "flagged_for_demotion": "yes"}
    notes = report.table("rule_precision").notes
    assert "Flagged for demotion to staging in this release: SELF_RECORD." in notes  # not the withheld one
    # an unflagged rule with a withheld count is withheld too, so "S" says nothing about the flag
    precision = values(build(decided_cases("SENSITIVE_LOOKUP", 4, 16), threshold=5), "rule_precision")
    assert precision["SENSITIVE_LOOKUP"]["flagged_for_demotion"] == WITHHELD


def test_small_counts_are_withheld_and_a_partial_quarter_is_noted() -> None:
    cases = [case(str(i), "2025-01-10T00:00:00Z") for i in range(3)]
    cases += [case(f"x{i}", "2025-02-20T00:00:00Z") for i in range(9)]
    report = build(cases, threshold=5, period=Period(date(2025, 1, 15), date(2025, 3, 31)))
    t1 = values(report, "table1_investigations")
    assert t1 == {"2025-03-31": {"investigations_opened": 9}, "total": {"investigations_opened": 9}}
    report = build(cases, threshold=5, period=Period(date(2024, 12, 1), date(2025, 3, 31)))
    t1 = values(report, "table1_investigations")
    # 0 is shown; 12 would give the withheld count away through the total, so it goes too.
    assert t1["2024-12-31"] == {"investigations_opened": 0}
    assert t1["2025-03-31"]["investigations_opened"] == 12
    assert any("part of the quarter" in n for n in report.notes)
    precision = values(build([case("a", "2025-01-10T00:00:00Z", decision="founded",
                                   decided_at="2025-01-10T00:00:00Z")], threshold=5), "rule_precision")
    assert precision["SELF_RECORD"] == {"founded": WITHHELD, "unfounded": 0, "decided": WITHHELD,
                                        "precision": WITHHELD, "flagged_for_demotion": WITHHELD}


def test_text_cells_cannot_start_a_formula() -> None:
    for text in ("=1+2", "+SUM(A1)", "-2+3", "@cmd", "\t=x", " =x", "\uff1dx"):
        assert safe_text(text).startswith("'")
    assert safe_text("Written warning") == "Written warning"
    assert safe_cell(-3) == -3 and safe_cell(None) is None and safe_cell(0.5) == 0.5
    evil = '=HYPERLINK("http://x","y")'
    report = build([case("a", "2024-07-01T00:00:00Z", er_type=evil, outcome="@SUM(1)",
                         outcome_at="2024-08-01T00:00:00Z")])
    files = render_files(report)
    rows = list(csv.reader(io.StringIO(files["table2_er_by_type.csv"].decode())))
    assert "'" + evil in rows[0]
    workbook = load_workbook(io.BytesIO(files["report.xlsx"]))
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(("=", "+", "-", "@")), cell.value


@pytest.fixture(scope="module")
def release() -> Report:
    cases = [case(f"c{i}", f"2024-{4 + i % 9:02d}-10T00:00:00Z", decision="founded" if i % 3 else "unfounded",
                  decided_at=f"2024-{4 + i % 9:02d}-11T00:00:00Z") for i in range(40)]
    findings = [finding(i, f"2024-{4 + i % 9:02d}-10", case_id=f"c{i % 40}",
                        rule="SELF_RECORD" if i % 4 else "SENSITIVE_LOOKUP") for i in range(90)]
    users = {q: {f"u{j}" for j in range(30 + i)} | {"svc"} for i, q in enumerate(YEAR.quarters)}
    return build(cases, findings, users, threshold=5)


def test_machine_files(release: Report) -> None:
    files = render_files(release)
    for name in ("table1_investigations.csv", "table2_er_by_type.csv", "table3_er_by_outcome.csv",
                 "instances_by_quarter.csv", "unique_users.csv", "report.json", "report.xlsx"):
        assert name in files
    table1 = list(csv.DictReader(io.StringIO(files["table1_investigations.csv"].decode())))
    assert [r["quarter_ending"] for r in table1] == ["2024-06-30", "2024-09-30", "2024-12-31", "2025-03-31", "total"]
    long = list(csv.DictReader(io.StringIO(files["instances_by_quarter.csv"].decode())))
    assert list(long[0]) == ["quarter_ending", "rule", "count"]
    assert len(long) == 4 * len(RULES)
    published = [int(r["count"]) for r in long if r["count"] != WITHHELD]
    assert sum(published) <= 90
    users = list(csv.DictReader(io.StringIO(files["unique_users.csv"].decode())))
    # one automated account is not a natural person's count (s9(2)(a)): published, and so is the staff-only figure
    assert users[0] == {"quarter_ending": "2024-06-30", "excluding_automated": "30", "automated": "1",
                        "including_automated": "31", "coverage": "complete"}
    document = json.loads(files["report.json"])
    assert document == report_json(release) | {"generated_at": GENERATED.isoformat()}
    assert document["period"] == {"from": "2024-04-01", "to": "2025-03-31",
                                  "quarters": ["2024-06-30", "2024-09-30", "2024-12-31", "2025-03-31"]}
    assert "9(2)(a)" in document["footnote"]
    from xml.etree import ElementTree

    for table in release.tables:
        svg = ElementTree.fromstring(files[f"charts/{table.id}.svg"])
        assert svg.tag.endswith("svg") and len(svg.findall("{http://www.w3.org/2000/svg}rect")) > 1


def test_the_workbook_has_a_sheet_chart_and_footnote_per_table(release: Report) -> None:
    workbook = load_workbook(io.BytesIO(render_files(release)["report.xlsx"]))
    assert workbook.sheetnames == ["About"] + [f"Table {n}" for n in range(1, 11)]
    about = workbook["About"]
    assert "Official Information Act" in about["A1"].value
    assert any("Table 9:" in str(c.value) for c in about["A"])
    for table in release.tables:
        sheet = workbook[table.sheet_name]
        assert sheet["A1"].value == f"Table {table.number}: {table.title}"
        assert sheet["A2"].value == "Period: 1 April 2024 to 31 March 2025"
        assert [c.value for c in sheet[4]][: len(table.columns) + 1] == [table.row_label,
                                                                         *(c.label for c in table.columns)]
        texts = [str(c.value) for c in sheet["A"] if c.value]
        assert any("section 9(2)(a) of the Official Information Act 1982" in t for t in texts)
        assert "Footnote" in texts and "Notes" in texts
        assert len(sheet._charts) == 1, table.id
        chart = sheet._charts[0]
        assert len(chart.series) == len(table.charted_series())
        # published cells are numbers (Table 9's flag: yes / no), withheld ones the marker
        flags = [j for j, c in enumerate(table.columns, start=2) if c.kind == "flag"]
        body = [c.value for row in sheet.iter_rows(min_row=5, max_row=4 + len(table.rows), min_col=2,
                                                   max_col=len(table.columns) + 1)
                for c in row if c.value is not None and c.column not in flags]
        assert all(isinstance(v, int | float) or v == WITHHELD for v in body)
        for j in flags:
            assert {sheet.cell(r, j).value for r in range(5, 5 + len(table.rows))} <= {"yes", "no", WITHHELD}
    table1 = workbook["Table 1"]
    assert table1["A5"].value == "30 June 2024" and table1["A9"].value == "Total"


def test_the_tables_columns_are_the_case_workflows_types_and_outcomes() -> None:
    from accesswatch.cases import workflow

    assert set(ER_TYPES) == set(workflow.ER_TYPES)
    assert set(OUTCOMES) == set(workflow.OUTCOMES)
