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
from _oia_attacker import attack_release

from accesswatch.cli.commands.footprint import footprint, write_footprint
from accesswatch.cli.commands.report import write_report
from accesswatch.cli.local import run_world
from accesswatch.dal.cases import CaseStore
from accesswatch.quarters import Period, nz_date, quarter_end
from accesswatch.reports.model import WITHHELD
from accesswatch.rules import CATALOG

pytestmark = pytest.mark.e2e


def decide_some_cases(store: CaseStore, now: datetime) -> dict[str, str]:
    """What investigators and ER would record (written straight to the case items)."""
    decided = {}
    stamp = now.isoformat().replace("+00:00", "Z")
    for n, case in enumerate(sorted(store.scan_cases(), key=lambda c: c["case_id"])[:30]):
        if n % 3 == 0:
            store.update(case["case_id"], status="closed_unfounded", decision="unfounded", decided_at=stamp,
                         closed_at=stamp)
            decided[case["case_id"]] = "unfounded"
        else:
            fields: dict[str, Any] = {"status": "awaiting_outcome", "decision": "founded", "decided_at": stamp,
                                      "er_type": "inappropriate_access" if n % 2 else "privacy_breach",
                                      "er_opened_at": stamp}
            if n % 5 != 1:
                fields |= {"status": "outcome_recorded", "outcome": "written_warning" if n % 4 else "dismissal",
                           "outcome_at": stamp}
            store.update(case["case_id"], **fields)
            decided[case["case_id"]] = "founded"
    return decided


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
    decided = decide_some_cases(cases, now)
    findings = [json.loads(line) for line in (tmp_path / "run" / "findings.jsonl").read_text().splitlines()]
    live = [f for f in findings if f["rule_status"] == "live"]
    events = all_events(aws)
    first = min(events["nz_date"].to_list())
    period = Period(date(first.year, 1, 1), quarter_end(nz_date(now)))

    report, written = write_report(aws, period, tmp_path / "out")
    names = {p.name for p in written}
    assert {"table1_investigations.csv", "table2_er_by_type.csv", "table3_er_by_outcome.csv",
            "instances_by_quarter.csv", "unique_users.csv", "report.json", "report.xlsx"} <= names
    release = json.loads((tmp_path / "out" / "reports" / "report.json").read_text())
    tables = {t["id"]: {r["key"]: r["values"] for r in t["rows"]} for t in release["tables"]}

    # Table 1: every case of this run came from detection, opened now.
    opened = sum(1 for c in cases.scan_cases() if c["source"] == "detection")
    assert tables["table1_investigations"]["total"]["investigations_opened"] in (opened, WITHHELD)
    assert tables["table1_investigations"][quarter_end(nz_date(now)).isoformat()]["investigations_opened"] in (
        opened, WITHHELD)
    # Tables 2 and 3: the completed ER cases decided above.
    completed = sum(1 for n in range(30) if n % 3 and n % 5 != 1)
    assert tables["table2_er_by_type"]["total"]["total"] in (completed, WITHHELD)
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
        if count != WITHHELD:
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
    # Table 9: decisions recorded above, per rule.
    per_rule: Counter[tuple[str, str]] = Counter()
    for case in cases.scan_cases():
        if case["case_id"] in decided:
            for rule in case["rules"]:
                per_rule[(rule, decided[case["case_id"]])] += 1
    for rule, row in tables["rule_precision"].items():
        for verdict in ("founded", "unfounded"):
            assert row[verdict] in (per_rule[(rule, verdict)], WITHHELD), (rule, verdict)
    # Nothing withheld can be recovered from what this release publishes.
    assert attack_release(release, {r.id: r.severity.value for r in CATALOG}).recovered() == {}

    # The report function writes the same release into the curated bucket.
    result = aws.client("lambda").invoke(FunctionName=aws.resource_name("ReportFunction"),
                                         Payload=json.dumps({"from": period.start.isoformat(),
                                                             "to": period.end.isoformat()}))
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
