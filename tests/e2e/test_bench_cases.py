"""The benchmark's cases stage on a small synthesised world: the real router and queue on the template's
tables, in both modes, against an independent count of what the contract says the day's cases are."""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest

from accesswatch.cases.scoring import ScoringSettings
from accesswatch.rules import TIER_OF
from accesswatch_tools.bench.runner import cases_summary, nz_day_of, run_stage
from accesswatch_tools.bench.stages import item_kind, template_scoring_environment
from accesswatch_tools.embedded.template import load_template

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from accesswatch_tools.world import generate

    root = tmp_path_factory.mktemp("bench-cases")
    generate(root / "world", staff=300, clients=4_000, days=1, seed=5, events_per_user_day=80)
    parts, index = root / "partitions", root / "reference.index"
    run_stage("ingest", {"inputs": [str(root / "world" / "logs")], "keep": str(parts), "partition_rows": 4_000},
              log=io.StringIO())
    run_stage("index", {"reference": str(root / "world" / "reference"), "out": str(index)}, log=io.StringIO())
    return {"partitions": parts, "index": index}


@pytest.fixture(scope="module")
def expected(day: dict[str, Path]) -> dict[str, int]:
    """What the contract makes of the day's findings, counted without DynamoDB: every user with an
    immediate-tier finding has one case (nothing is decided within the day)."""
    from accesswatch.detection import detect
    from accesswatch.reference import ReferenceIndex

    index = ReferenceIndex.from_bytes(day["index"].read_bytes())
    found = pl.concat([detect(pl.read_parquet(p), index) for p in sorted(day["partitions"].glob("*.parquet"))],
                      how="diagonal_relaxed")
    live = found.filter(pl.col("rule_status") == "live").with_columns(
        pl.col("rule").replace_strict(TIER_OF, default="record").alias("tier"))
    immediate = live.filter(pl.col("tier") == "immediate")
    return {"findings": found.height, "live": live.height, "immediate_findings": immediate.height,
            "immediate_users": immediate["user_id"].n_unique(),
            "pairs": live.select(pl.struct("user_id", "client_id").n_unique()).item()}


def _cases(day: dict[str, Path], mode: str) -> dict:
    return run_stage("cases", {"index": str(day["index"]), "partitions": str(day["partitions"]),
                               "day": nz_day_of(day["partitions"]), "mode": mode}, log=io.StringIO())


@pytest.fixture(scope="module")
def per_user(day: dict[str, Path]) -> dict:
    return _cases(day, "per_user")


@pytest.fixture(scope="module")
def per_partition(day: dict[str, Path]) -> dict:
    return _cases(day, "per_partition")


@pytest.mark.parametrize("mode", ["per_user", "per_partition"])
def test_the_day_keeps_the_contract(mode: str, request: pytest.FixtureRequest, expected: dict[str, int]) -> None:
    got = request.getfixturevalue(mode)
    assert got["mode"] == mode
    assert got["findings"] == expected["findings"] and got["live_findings"] == expected["live"]
    assert got["immediate_findings"] == expected["immediate_findings"] > 0
    assert got["user_client_pairs"] == expected["pairs"]
    assert got["users_with_more_than_one_open_case"] == 0
    assert got["findings_in_more_than_one_case"] == 0
    assert got["immediate_findings_in_cases"] == got["immediate_findings"]
    assert got["staging_findings_in_cases"] == 0 and got["cases_from_one_accumulate_finding"] == 0
    # one execution and one notification per case; a finding that joins starts nothing
    assert got["executions"] == got["notifications"] == got["cases_opened"]
    assert got["cases_opened"] == got["cases_opened_immediate"] + got["cases_opened_threshold"]
    assert got["cases_opened_threshold"] <= got["budget"]
    assert cases_summary(got)["contract_ok"]
    # every user with an immediate-tier finding has exactly one case; threshold cases only for others
    assert got["cases_opened_immediate"] + got["cases_opened_threshold"] >= expected["immediate_users"]
    assert got["users_with_open_case"] == got["cases_opened"]


def test_per_user_opens_one_immediate_case_per_user_with_an_immediate_finding(per_user: dict,
                                                                             expected: dict[str, int]) -> None:
    assert per_user["cases_opened_immediate"] == expected["immediate_users"]
    assert per_user["users_routed"] <= per_user["user_partition_settles"]


def test_both_modes_open_the_same_cases(per_user: dict, per_partition: dict) -> None:
    """Routing the day at once or partition by partition (with the queue drained after each file) gives the
    same users a case while the budget does not bind; only which tier opened a case may differ (a user
    queued and opened early, whose immediate-tier finding comes later, joins that case)."""
    if max(per_user["queue_waiting_at_end"], per_partition["queue_waiting_at_end"]) == 0:
        assert per_partition["cases_opened"] == per_user["cases_opened"]
        assert per_partition["findings_in_cases"] == per_user["findings_in_cases"]
    else:
        assert abs(per_partition["cases_opened"] - per_user["cases_opened"]) <= per_user["budget"]
    # deployed routing reads each user's pointer and ledger once per partition: more calls than per user
    settle_calls = [sum(r["routing_dynamodb_calls"]["per_settle"].values()) for r in (per_user, per_partition)]
    assert settle_calls[1] >= settle_calls[0]


def test_scoring_comes_from_the_template_defaults() -> None:
    env = template_scoring_environment()
    parameters = load_template()["Parameters"]
    assert env["CASE_THRESHOLD"] == str(parameters["CaseThreshold"]["Default"])
    assert env["CASE_DAILY_BUDGET"] == str(parameters["CaseDailyBudget"]["Default"])
    assert ScoringSettings.from_env(env).case_daily_budget == int(parameters["CaseDailyBudget"]["Default"])


def test_item_kinds_name_no_user_or_case() -> None:
    assert item_kind({"Key": {"pk": "CASE#CASE-1", "sk": "HIST#2025-01-01#x"}}) == "CASE#/HIST#"
    assert item_kind({"Item": {"pk": "USER#u123", "sk": "OPEN"}}) == "USER#/OPEN"
    assert item_kind({"Key": {"pk": {"S": "RISK#u123"}, "sk": {"S": "LEDGER"}}}) == "RISK#/LEDGER"
    assert item_kind({"Key": {"pk": "QUEUE", "sk": "u123"}}) == "QUEUE/*"
    assert item_kind({"Key": {"finding_id": "f"}}) == "item"
    assert json.dumps(item_kind({"Key": {"pk": "BUDGET", "sk": "2025-03-31"}})) == '"BUDGET/*"'
