"""End to end on the embedded runtime: a small world through the system, then report and footprint."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from support.oia_attacker import attack_release

from accesswatch.dal.cases import CaseStore
from accesswatch.quarters import Period, nz_date, quarter_end
from accesswatch.reports.coverage import NO_DATA
from accesswatch.reports.model import WITHHELD
from accesswatch.rules import CATALOG, TIER_OF
from accesswatch_tools.operate.footprint import footprint, write_footprint
from accesswatch_tools.operate.report import write_report
from accesswatch_tools.operate.world_run import run_world

pytestmark = pytest.mark.e2e


def decide_some_cases(store: CaseStore, now: datetime) -> dict[str, dict[str, str]]:
    """What investigators and ER would record (written straight to the case items): case -> rule -> verdict.

    A case with findings of several rules is decided per rule, as an investigator does: founded for its
    strongest rule, unfounded (the rule too broad) for the others; a single-rule case gets one decision."""
    decided: dict[str, dict[str, str]] = {}
    stamp = now.isoformat().replace("+00:00", "Z")
    ranked = sorted((c for c in store.scan_cases() if c["status"] == "investigating"), key=lambda c: c["case_id"])
    for n, case in enumerate(ranked[: max(len(ranked) - 2, 0)]):  # two stay with their investigators
        rules = sorted(case["rules"], key=lambda r: (TIER_OF.get(r) != "immediate", r))
        if n % 3 == 0:
            verdicts = dict.fromkeys(rules, "unfounded")
            store.update(case["case_id"], status="closed_unfounded", decision="unfounded", decided_at=stamp,
                         closed_at=stamp, decision_reason="legitimate_work",
                         rule_decisions={r: {"decision": "unfounded", "reason": "legitimate_work"} for r in rules})
        else:
            verdicts = {r: "founded" if i == 0 else "unfounded" for i, r in enumerate(rules)}
            fields: dict[str, Any] = {"status": "awaiting_outcome", "decision": "founded", "decided_at": stamp,
                                      "er_type": "inappropriate_access" if n % 2 else "privacy_breach",
                                      "er_opened_at": stamp,
                                      "rule_decisions": {r: {"decision": v, **({"reason": "rule_too_broad"}
                                                                              if v == "unfounded" else {})}
                                                         for r, v in verdicts.items()}}
            if n % 5 != 1:
                fields |= {"status": "outcome_recorded", "outcome": "written_warning" if n % 4 else "dismissal",
                           "outcome_at": stamp}
            store.update(case["case_id"], **fields)
        decided[case["case_id"]] = verdicts
    return decided


def add_cases_table_one_leaves_out(store: CaseStore, user_ids: list[str], now: datetime) -> list[str]:
    """A random-review case an investigator has, and a detection case not yet taken up (as the case router
    and the weekly draw write them, through ``save_findings``): neither is counted in Table 1."""
    stamp = now.isoformat().replace("+00:00", "Z")
    base = {"tier": "accumulate", "opened_at": stamp, "parts": [], "score": 0.0, "priority": "low"}
    review = {**base, "case_id": "CASE-E2E-REVIEW", "user_id": user_ids[0], "status": "investigating",
              "source": "random_review", "trigger": "random_review"}
    waiting = {**base, "case_id": "CASE-E2E-WAITING", "user_id": user_ids[1], "status": "notified",
               "source": "detection", "trigger": "threshold"}
    for case in (review, waiting):
        store.save_findings(case, expected_version=None)
    return [review["case_id"], waiting["case_id"]]


def world_staff(world: Path) -> pl.DataFrame:
    """The staff snapshot the world delivered (CSV or JSON Lines, maybe gzipped)."""
    path = next((world / "reference").glob("staff.*"))
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    if ".jsonl" in path.name:
        rows = [json.loads(line) for line in data.decode("utf-8-sig").splitlines() if line.strip()]
        return pl.DataFrame(rows, infer_schema_length=None).select(pl.all().cast(pl.String))
    return pl.read_csv(io.BytesIO(data), infer_schema=False)


def all_events(aws: Any) -> pl.DataFrame:
    """Every accepted event, read straight from the curated bucket (not through PartitionStore)."""
    s3 = aws.client("s3")
    bucket = aws.resource_name("CuratedBucket")
    frames = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            frames.append(pl.read_parquet(io.BytesIO(body)))
    return pl.concat(frames)


def test_report_and_footprint_from_a_small_world(aws: Any, small_world: Path, tmp_path: Path) -> None:
    outcome = run_world(aws, small_world / "reference", small_world / "logs", tmp_path / "run")
    assert outcome.ok, outcome.problems
    now = datetime.now(UTC)
    cases = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    findings = [json.loads(line) for line in (tmp_path / "run" / "findings.jsonl").read_text().splitlines()]
    live = [f for f in findings if f["rule_status"] == "live"]
    investigated = sum(1 for c in cases.scan_cases() if c["source"] == "detection" and c["status"] == "investigating")
    decided = decide_some_cases(cases, now)
    assert len(decided) >= 10 and any(len(v) > 1 for v in decided.values()), "the world should give mixed cases"
    left_out = add_cases_table_one_leaves_out(cases, sorted({f["user_id"] for f in live}), now)
    events = all_events(aws)
    first = min(events["nz_date"].to_list())
    today = nz_date(now)
    asked = Period(date(first.year, 1, 1), quarter_end(today))  # ends after today: the report runs to today

    report, written = write_report(aws, asked, tmp_path / "out")
    period = report.period
    assert period == Period(asked.start, today)
    names = {p.name for p in written}
    assert {"table1_investigations.csv", "table2_er_by_type.csv", "table3_er_by_outcome.csv",
            "instances_by_quarter.csv", "unique_users.csv", "report.json", "report.xlsx"} <= names
    release = json.loads((tmp_path / "out" / "reports" / "report.json").read_text())
    tables = {t["id"]: {r["key"]: r["values"] for r in t["rows"]} for t in release["tables"]}
    coverage = {t["id"]: {r["key"]: r.get("coverage") for r in t["rows"]} for t in release["tables"]}

    # Coverage: the days with logs per system are the partitions'; a quarter without logs is "no data" (null),
    # the quarter with the world's days is partial, and the current quarter is unfinished, running to today.
    logged = {s: sorted(set(events.filter(pl.col("system") == s)["nz_date"].to_list()))
              for s in set(events["system"].to_list())}
    assert {s: v["days_with_logs"] for s, v in release["coverage"]["systems"].items() if v["days_with_logs"]} == {
        s: len(v) for s, v in logged.items()}
    assert release["coverage"]["requested"] == {"from": asked.start.isoformat(), "to": asked.end.isoformat()}
    with_logs = {quarter_end(d).isoformat() for v in logged.values() for d in v}
    without = [q.isoformat() for q in period.quarters if q.isoformat() not in with_logs]
    assert without, "the world's logs should leave quarters without logs in the period"
    for q in without:
        assert set(tables["instances_by_rule"][q].values()) == {None}, q
        assert set(tables["unique_users"][q].values()) == {None}, q
        assert coverage["instances_by_rule"][q].startswith("no data: no logs"), q
    for q in with_logs:
        assert coverage["instances_by_rule"][q].startswith("partial: "), q
    current = quarter_end(today).isoformat()
    assert f"unfinished, runs to {today.isoformat()}" in coverage["instances_by_rule"][current]
    assert coverage["table1_investigations"][current] == f"partial: unfinished, runs to {today.isoformat()}"
    assert "coverage.csv" in names

    # Table 1: the detection cases that went to investigation (all opened now), decided since or not; not the
    # random-review case nor the case no investigator has yet.
    assert investigated >= 10 and len(left_out) == 2
    assert tables["table1_investigations"]["total"]["investigations_opened"] == investigated
    assert tables["table1_investigations"][quarter_end(nz_date(now)).isoformat()]["investigations_opened"] == (
        investigated)
    # Tables 2 and 3: the completed ER cases decided above.
    completed = sum(1 for n in range(len(decided)) if n % 3 and n % 5 != 1)
    assert tables["table2_er_by_type"]["total"]["total"] in (completed, WITHHELD)
    # Table 4: each live finding under the verdict its case recorded for the finding's rule.
    case_of = {fid: c["case_id"] for c in cases.scan_cases() for fid in c["finding_ids"]}
    by_decision = Counter(decided.get(case_of.get(f["finding_id"], ""), {}).get(f["rule"], "undecided")
                          for f in live)
    assert by_decision["founded"] and by_decision["unfounded"] and by_decision["undecided"]
    for verdict in ("founded", "unfounded", "undecided"):
        assert tables["instances_by_decision"]["total"][verdict] in (by_decision[verdict], WITHHELD), verdict
    # Table 5, long form: every published count is the number of live findings of that rule and quarter.
    expected: Counter[tuple[str, str]] = Counter()
    for f in live:
        day = nz_date(datetime.fromisoformat(f["occurred_at"]))
        expected[(quarter_end(day).isoformat(), f["rule"])] += 1
    long = (tmp_path / "out" / "reports" / "instances_by_quarter.csv").read_text().splitlines()
    assert long[0] == "quarter_ending,rule,count"
    checked = 0
    for line in long[1:]:
        quarter, rule, count = line.split(",")
        if count == NO_DATA:  # a quarter without logs: nothing could be found there
            assert expected[(quarter, rule)] == 0 and quarter in without, (quarter, rule)
        elif count != WITHHELD:
            assert int(count) == expected[(quarter, rule)], (quarter, rule)
            checked += 1
    assert checked and tables["instances_by_rule"]["total"]["total"] == len(live)
    # Table 8: users per quarter, from the partitions themselves.
    staff = world_staff(small_world)
    service = set(staff.filter(pl.col("account_type").str.strip_chars() == "service")["user_id"])
    per_quarter: dict[str, set[str]] = defaultdict(set)
    for user, day in events.select("user_id", "nz_date").iter_rows():
        per_quarter[quarter_end(day).isoformat()].add(user)
    for quarter, users in per_quarter.items():
        row = tables["unique_users"][quarter]
        assert row["including_automated"] in (len(users), WITHHELD)
        if row["automated"] != WITHHELD:
            assert row["automated"] == len(users & service)
    # Table 9: decisions recorded above, each rule with its own verdict, and the demotion flag.
    per_rule = Counter((rule, verdict) for verdicts in decided.values() for rule, verdict in verdicts.items())
    assert any(per_rule[(rule, "founded")] and per_rule[(rule, "unfounded")] for rule, _ in per_rule)
    for rule, row in tables["rule_precision"].items():
        for verdict in ("founded", "unfounded"):
            assert row[verdict] in (per_rule[(rule, verdict)], WITHHELD), (rule, verdict)
        founded, decisions = per_rule[(rule, "founded")], per_rule[(rule, "founded")] + per_rule[(rule, "unfounded")]
        flag = "yes" if decisions >= 20 and founded < 0.1 * decisions else "no"
        assert row["flagged_for_demotion"] == (WITHHELD if WITHHELD in (row["founded"], row["decided"]) else flag)
    # Nothing withheld can be recovered from what this release publishes.
    assert attack_release(release, {r.id: r.severity.value for r in CATALOG}).recovered() == {}

    # The report function writes the same release into the curated bucket.
    result = aws.client("lambda").invoke(FunctionName=aws.resource_name("ReportFunction"),
                                         Payload=json.dumps({"from": asked.start.isoformat(),
                                                             "to": asked.end.isoformat()}))
    payload = json.loads(result["Payload"].read())
    assert "FunctionError" not in result, payload
    s3 = aws.client("s3")
    stored = json.loads(s3.get_object(Bucket=aws.resource_name("CuratedBucket"),
                                      Key=f"reports/{period.start}_{period.end}/report.json")["Body"].read())
    assert stored["tables"] == release["tables"]
    assert sorted(k.rsplit("/", 1)[1] for k in payload["keys"]) == sorted(names)
    scheduled = aws.client("lambda").invoke(FunctionName=aws.resource_name("ReportFunction"),
                                            Payload=json.dumps({"source": "schedule"}))
    assert "FunctionError" not in scheduled, scheduled["Payload"].read()

    # Footprint of the client with the most findings: every access to them, each finding on its event.
    client = Counter(f["client_id"] for f in live).most_common(1)[0][0]
    frame = footprint(aws, client, period.start - timedelta(days=400), period.end)
    theirs = events.filter(pl.col("client_id") == client).unique(subset=["system", "event_id"])
    assert sorted(frame["event_id"].to_list()) == sorted(theirs["event_id"].to_list())
    roles = dict(staff.unique(subset=["user_id"], keep="first").select("user_id", "role").iter_rows())
    raised: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        if f["client_id"] == client:
            raised[f["event_id"]].add(f["rule"])
    for row in frame.iter_rows(named=True):
        assert set(filter(None, row["findings"].split(";"))) == raised.get(row["event_id"], set())
        assert row["role"] == roles.get(row["user_id"]), row["user_id"]
    assert not any("name" in c for c in frame.columns)
    write_footprint(frame, tmp_path / "footprint.csv")
    assert (tmp_path / "footprint.csv").read_text().splitlines()[0].startswith("occurred_at,occurred_at_nz,")
    named = footprint(aws, client, period.start - timedelta(days=400), period.end, with_names=True)
    assert "staff_family_name" in named.columns
