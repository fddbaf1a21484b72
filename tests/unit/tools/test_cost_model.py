"""The cost model's arithmetic, checked by hand on round numbers; its inputs from the real template, the ASL
and the benchmark's results (cases per day from the real router, executions and notifications per case)."""

from __future__ import annotations

import json
import math
import re

import pytest

from accesswatch_tools.bench.cost import (
    CASE_LAMBDA_STATES,
    CASE_PATH_FOUNDED,
    CASE_PATH_UNFOUNDED,
    DETECTION_TRANSITIONS_PER_FILE,
    GIB,
    TIB,
    Measured,
    Template,
    UnitPrices,
    Workload,
    estimate,
    latest_results,
    measured_from_results,
    render,
)
from accesswatch_tools.embedded.template import PROJECT_ROOT, load_template

TEMPLATE = Template(
    memory_mb={"IngestFunction": 2048, "DetectFunction": 3072, "CaseStepFunction": 512, "CaseQueueFunction": 1024,
               "DetectionOutcomeFunction": 256, "ReferenceFunction": 1024},
    gsi_count={"FindingsTable": 3, "CasesTable": 1, "LedgerTable": 1},
    case_daily_budget=20, case_random_reviews=7,
)
# One working day a year of exactly 1M events in 4 files: round numbers all the way down.
WORKLOAD = Workload(events_per_working_day=1_000_000, working_days_per_year=1, quiet_days_per_year=0,
                    files_per_day=4, partition_rows=100_000, retention_years=2, founded_case_share=0.5,
                    footprints_per_year=10, footprint_years=1, reference_builds_per_year=1,
                    lambda_speed_factor=0.5, s3_bytes_per_s=1e6, put_latency_s=0.01, findings_per_batch_call=10.0, batch_latency_s=0.03,
                    case_step_seconds=0.5, case_items_per_case=4, case_queue_seconds=1, reference_build_seconds=10,
                    outcome_seconds=1, kms_requests_per_year=10_000, log_bytes_per_invocation=1024)
# 10k findings; 1,000 users with an immediate-tier finding; 100 users cross the threshold (budget: 20 a day);
# 5,000 (user, partition) settles; half the findings enter a case.
MEASURED = Measured(source="test", ingest_events_per_s=100_000, detect_events_per_s=1_000_000, index_load_s=0.5,
                    raw_bytes_per_event=100, curated_bytes_per_event=20, footprint_bytes_per_event=5,
                    findings_per_event=0.01, immediate_cases_per_event=0.001, threshold_users_per_event=0.0001,
                    settles_per_finding=0.5,
                    dynamodb_writes_per_finding={"FindingsTable": 1.5}, dynamodb_reads_per_finding={},
                    dynamodb_writes_per_settle={"CasesTable": 1}, dynamodb_reads_per_settle={"CasesTable": 3},
                    routing_calls_per_case=5,
                    dynamodb_writes_per_case={"CasesTable": 10}, dynamodb_reads_per_case={"CasesTable": 4},
                    dynamodb_writes_per_file={"LedgerTable": 2},
                    item_bytes={"FindingsTable": 1500, "CasesTable": 500, "RiskLedger": 3000})
PRICES = UnitPrices()
CASES = 1_000 + 20 + 7 * 52  # immediate + threshold within the budget + random review a year


@pytest.fixture(scope="module")
def report():
    return estimate(WORKLOAD, MEASURED, PRICES, TEMPLATE)


def item(report, service: str, starts: str):
    (found,) = [i for i in report.items if i.service == service and i.item.startswith(starts)]
    return found


def test_cases_executions_and_notifications_by_hand(report):
    v = report.cases
    assert (v.immediate_per_day, v.threshold_demand_per_day, v.threshold_per_day) == pytest.approx((1_000, 100, 20))
    assert v.random_review_per_day == pytest.approx(1.0)
    assert v.per_day == pytest.approx(1_021)
    assert (v.immediate_per_year, v.threshold_per_year, v.random_review_per_year) == pytest.approx((1_000, 20, 364))
    assert v.per_year == pytest.approx(CASES)
    # one case execution and one notification per case, whatever joined it
    counts = v.as_dict()
    assert counts["executions_per_year"] == counts["notifications_per_year"] == pytest.approx(CASES)
    assert item(report, "SNS", "case notifications").quantity == pytest.approx(CASES)
    assert item(report, "Step Functions", "case").quantity == pytest.approx(CASES * (0.5 * 8 + 0.5 * 12))
    text = render(report)
    assert "1,021 cases, 1,021 case executions and 1,021 notifications per working day" in text
    assert "1,384 cases, executions and notifications per year" in text


def test_lambda_duration_by_hand(report):
    # ingest: 1M events at 100k/s x 0.5 = 20 s, plus 1M x 120 bytes at 1 MB/s = 120 s; 2 GB
    assert item(report, "Lambda", "IngestFunction").quantity == pytest.approx((20 + 120) * 2)
    # detect: 1M at 1M/s x 0.5 = 2 s, 4 files x 3 partitions (250k events, 100k rows each) x 0.5 s index
    # load = 6 s, 20 MB read at 1 MB/s = 20 s; 10k findings read and written in batches of 10 at 30 ms = 30 s;
    # calls at 10 ms: 10k findings x 0.5 case_id = 5,000, 5,000 settles x 4 = 20,000, 1,000 immediate cases x 5
    # = 5,000: 300 s; 3 GB
    assert item(report, "Lambda", "DetectFunction").quantity == pytest.approx((2 + 6 + 20 + 30 + 300) * 3)
    # case steps: half unfounded (5 Lambda states), half founded (8): 6.5 invocations a case x 0.5 s x 0.5 GB
    unfounded = sum(s in CASE_LAMBDA_STATES for s in CASE_PATH_UNFOUNDED)
    founded = sum(s in CASE_LAMBDA_STATES for s in CASE_PATH_FOUNDED)
    assert (unfounded, founded) == (5, 8)
    assert item(report, "Lambda", "CaseStepFunction").quantity == pytest.approx(CASES * 6.5 * 0.5 * 0.5)
    # case queue: after 4 files, 1 daily run, 52 weekly draws at 1 s; 384 queued/review cases x 5 calls x 10 ms
    assert item(report, "Lambda", "CaseQueueFunction").quantity == pytest.approx((57 + 384 * 5 * 0.01) * 1)
    assert item(report, "Lambda", "requests").quantity == pytest.approx(4 + 12 + CASES * 6.5 + 4 + 57 + 6)


def test_storage_requests_and_transitions_by_hand(report):
    s3 = item(report, "S3", "storage")
    assert s3.quantity == pytest.approx(1e6 * 120 * 2 / GIB * 12)
    assert s3.per_year == pytest.approx(s3.quantity * 0.025)
    # 4 files of 25 MB each: one PUT each; 12 partitions, 4 manifests, 4 quarantine objects
    assert item(report, "S3", "PUT").quantity == 4 + 12 + 8
    assert item(report, "S3", "GET").quantity == 8 + 12
    # findings: 10k x 1.5 writes x 2 WRU (1.5 KB) x (1 + 3 GSIs)
    assert item(report, "DynamoDB", "FindingsTable writes").quantity == pytest.approx(10_000 * 1.5 * 2 * 4)
    # routing: 5,000 settles x 1 ledger write x 3 WRU (3 KB), no index entry; 3 reads of 1 RRU
    assert item(report, "DynamoDB", "CasesTable writes (routing").quantity == pytest.approx(5_000 * 1 * 3)
    assert item(report, "DynamoDB", "CasesTable reads (routing").quantity == pytest.approx(5_000 * 3)
    # cases: 10 writes of 1 WRU x (1 + 1 GSI), 4 reads
    assert item(report, "DynamoDB", "CasesTable writes (cases").quantity == pytest.approx(CASES * 10 * 2)
    assert item(report, "DynamoDB", "CasesTable reads (cases").quantity == pytest.approx(CASES * 4)
    assert item(report, "DynamoDB", "LedgerTable writes").quantity == 4 * 2 * 1 * 2
    stored = (10_000 * 1500 * 4 + CASES * 500 * 4 * 2) * 2 / GIB
    assert item(report, "DynamoDB", "storage").quantity == pytest.approx(stored * 12)
    # detection: the Map state, the case queue and the outcome per file; 2 per child
    assert item(report, "Step Functions", "detection").quantity == 4 * 3 + 12 * 2
    # footprints: 1M events x 5 bytes = 5 MB < the 10 MB minimum per query
    assert item(report, "Athena", "footprint").quantity == pytest.approx(10 * 10 * 1024**2 / TIB)


def test_totals_are_the_sum_of_the_lines(report):
    assert report.per_year == pytest.approx(sum(i.quantity * i.unit_price for i in report.items))
    assert report.per_million_events == pytest.approx(report.per_year / 1.0)  # exactly 1M events a year
    assert sum(report.by_service().values()) == pytest.approx(report.per_year)
    text = render(report)
    assert f"{report.per_year:,.0f}" in text and "| Step Functions |" in text


def test_event_driven_lines_scale_with_events():
    double = estimate(Workload(**{**WORKLOAD.__dict__, "events_per_working_day": 2_000_000}), MEASURED, PRICES,
                      TEMPLATE)
    one = estimate(WORKLOAD, MEASURED, PRICES, TEMPLATE)
    for name in ("storage (raw", "FindingsTable writes", "CasesTable writes (routing"):
        a = next(i for i in one.items if i.item.startswith(name))
        b = next(i for i in double.items if i.item.startswith(name))
        assert b.quantity == pytest.approx(2 * a.quantity), name


def test_cases_scale_with_events_up_to_the_budget():
    """Immediate-tier cases follow events; threshold cases stop at the daily budget; random review is fixed."""
    double = estimate(Workload(**{**WORKLOAD.__dict__, "events_per_working_day": 2_000_000}), MEASURED, PRICES,
                      TEMPLATE).cases
    assert (double.immediate_per_year, double.threshold_per_year, double.random_review_per_year) == pytest.approx(
        (2_000, 20, 364))
    assert double.threshold_demand_per_year == pytest.approx(200)
    # below the budget every user who crossed gets a case
    few = estimate(WORKLOAD, Measured(**{**MEASURED.__dict__, "threshold_users_per_event": 0.00001}), PRICES,
                   TEMPLATE).cases
    assert few.threshold_per_day == pytest.approx(10) and few.threshold_per_year == pytest.approx(10)
    # a year of working and quiet days: immediate cases follow the events, the budget counts every day
    year = Workload(**{**WORKLOAD.__dict__, "working_days_per_year": 250, "quiet_days_per_year": 115,
                       "quiet_day_share": 0.1})
    v = estimate(year, MEASURED, PRICES, TEMPLATE).cases
    assert v.immediate_per_year == pytest.approx(1_000 * 261.5)
    assert v.threshold_per_year == pytest.approx(20 * 365)  # 100 a working day cross: the budget binds


def test_template_inputs_come_from_the_real_template():
    template = Template.load()
    assert template.gsi_count["FindingsTable"] == 3
    for function in ("IngestFunction", "DetectFunction", "CaseStepFunction", "CaseQueueFunction",
                     "DetectionOutcomeFunction", "ReferenceFunction"):
        assert template.memory_mb[function] >= 128
    parameters = load_template()["Parameters"]
    assert template.case_daily_budget == int(parameters["CaseDailyBudget"]["Default"])
    assert template.case_random_reviews == int(parameters["CaseRandomReviews"]["Default"])


def _states(name: str) -> dict:
    text = (PROJECT_ROOT / "statemachines" / name).read_text(encoding="utf-8")
    return json.loads(re.sub(r"\$\{\w+\}", "1", text))


def test_case_paths_are_paths_of_the_real_case_state_machine():
    states = _states("case.asl.json")["States"]
    for path in (CASE_PATH_UNFOUNDED, CASE_PATH_FOUNDED):
        for here, there in zip(path, path[1:], strict=False):
            state = states[here]
            successors = {state.get("Next"), state.get("Default"), *(c.get("Next") for c in state.get("Choices", []))}
            assert there in successors, (here, there)
        assert states[path[-1]]["Type"] == "Succeed"
        # one notification per case execution: its Notify state, and no other publish on the way
        assert [s for s in path if states[s].get("Resource") == "arn:aws:states:::sns:publish"] == ["Notify"]
    lambda_states = {n for n, s in states.items() if s.get("Resource", "").startswith("arn:aws:states:::lambda:invoke")}
    assert CASE_LAMBDA_STATES == lambda_states & (set(CASE_PATH_UNFOUNDED) | set(CASE_PATH_FOUNDED))


def test_detection_transitions_per_file_follow_the_real_detection_state_machine():
    machine = _states("detection.asl.json")
    path, state = [], machine["StartAt"]
    while state:
        path.append(state)
        state = machine["States"][state].get("Next")
    assert path == ["DetectPartitions", "OpenQueuedCases", "RecordSuccess"]
    assert DETECTION_TRANSITIONS_PER_FILE == len(path)


def test_measured_inputs_are_read_from_a_results_document():
    measured = measured_from_results({"date": "2026-01-02", "cost_inputs": {
        "ingest_events_per_s": 123.0, "unknown": 1, "immediate_cases_per_event": 0.002,
        "dynamodb_writes_per_settle": {"CasesTable": 0.9}}})
    assert measured.ingest_events_per_s == 123.0 and measured.source == "bench results 2026-01-02"
    assert measured.immediate_cases_per_event == 0.002 and measured.dynamodb_writes_per_settle == {"CasesTable": 0.9}
    assert math.isclose(measured.detect_events_per_s, Measured().detect_events_per_s)


def test_a_document_from_before_per_user_cases_keeps_the_default_case_inputs():
    """Its per-finding cases-table calls were one case per (user, client) pair: they do not apply."""
    old = measured_from_results({"date": "2026-11-25", "cost_inputs": {
        "findings_per_event": 0.02, "cases_per_finding": 0.69,
        "dynamodb_writes_per_finding": {"FindingsTable": 1.7, "CasesTable": 9.6}}})
    assert old.findings_per_event == 0.02
    assert old.dynamodb_writes_per_finding == Measured().dynamodb_writes_per_finding
    assert "predates per-user cases" in old.source


def test_the_latest_results_reproduce_the_measured_day():
    """The model's cases per working day are the cases stage's, scaled from its day to 5M events."""
    results = latest_results(PROJECT_ROOT / "benchmarks" / "results")
    assert results is not None
    day = results["stages"].get("cases_day")
    if day is None:
        pytest.skip("the latest results predate the cases stage")
    template = Template.load()
    volume = estimate(measured=measured_from_results(results), template=template).cases
    scale = Workload().events_per_working_day / day["events"]
    assert volume.immediate_per_day == pytest.approx(day["cases_opened_immediate"] * scale)
    assert volume.threshold_demand_per_day == pytest.approx(day["users_queued"] * scale)
    assert volume.threshold_per_day == pytest.approx(min(template.case_daily_budget, day["users_queued"] * scale))
    assert day["executions"] == day["notifications"] == day["cases_opened"]


def test_runner_cost_inputs_from_a_cases_stage():
    """What the runner hands the cost model: cases per event by tier, routing calls by what they scale with."""
    from accesswatch_tools.bench.runner import cases_summary, cost_inputs

    cases_day = {
        "mode": "per_user", "wall_s": 10.0, "events": 1_000_000, "findings": 20_000, "live_findings": 10_000,
        "immediate_findings": 600, "accumulate_findings": 9_400, "users_routed": 2_000,
        "user_client_pairs": 9_900, "user_partition_settles": 5_000, "cases_opened": 520,
        "cases_opened_immediate": 500, "cases_opened_threshold": 20, "users_queued": 70, "queue_waiting_at_end": 50,
        "budget": 20, "executions": 520, "notifications": 520, "findings_joined": 0, "findings_ledgered": 6_000,
        "findings_in_cases": 4_000, "immediate_findings_in_cases": 600, "users_in_ledger": 1_500,
        "users_with_more_than_one_open_case": 0,
        "findings_in_more_than_one_case": 0, "staging_findings_in_cases": 0, "cases_from_one_accumulate_finding": 0,
        "item_bytes_by_kind": {"CASE#/CASE": 600.0, "RISK#/LEDGER": 1200.0},
        "routing_dynamodb_calls": {"per_settle": {"CasesTable writes": 1_500, "CasesTable reads": 6_000},
                                   "per_case": {"CasesTable writes": 2_080, "CasesTable reads": 1_040},
                                   "per_finding": {"FindingsTable writes": 4_000}},
    }
    results = {"stages": {
        "ingest_day": {"accepted": 1_000_000, "events_per_s": 1.0, "input_bytes": 9e7, "parquet_bytes": 1.6e7},
        "detect_day": {"events_per_s": 2.0, "index_load_s": 0.03, "findings": 20_000, "events": 1_000_000},
        "e2e_slice": {"cases": 10, "handler_invocations": {"CaseStepFunction": 30}, "item_bytes": {"FindingsTable": 700},
                      "dynamodb_by_handler": {"CaseStepFunction": {"writes": {"CasesTable": 80},
                                                                   "reads": {"CasesTable": 30}}}},
        "cases_day": cases_day}}
    got = cost_inputs(results)
    assert got["immediate_cases_per_event"] == pytest.approx(500 / 1e6)
    assert got["threshold_users_per_event"] == pytest.approx(70 / 1e6)
    assert got["settles_per_finding"] == pytest.approx(5_000 / 20_000)
    assert got["dynamodb_writes_per_finding"] == {"FindingsTable": pytest.approx(1 + 4_000 / 20_000)}
    # per_user settles each user once: the calls are per user settled
    assert got["dynamodb_writes_per_settle"] == {"CasesTable": pytest.approx(1_500 / 2_000)}
    assert got["dynamodb_reads_per_settle"] == {"CasesTable": pytest.approx(6_000 / 2_000)}
    assert got["routing_calls_per_case"] == pytest.approx(3_120 / 520)
    # a case's own calls plus its workflow's up to the wait for a person (8 writes, 3 reads a case on the slice)
    assert got["dynamodb_writes_per_case"] == {"CasesTable": pytest.approx(2_080 / 520 + 8)}
    assert got["dynamodb_reads_per_case"] == {"CasesTable": pytest.approx(1_040 / 520 + 3)}
    assert got["case_step_invocations_per_case"] == 3
    assert got["item_bytes"] == {"FindingsTable": 700, "CasesTable": 600.0, "RiskLedger": 1200.0}
    measured = measured_from_results({"date": "x", "cost_inputs": got})
    assert measured.immediate_cases_per_event == pytest.approx(5e-4)
    # deployed mode: the calls are per (user, partition) settle
    per_partition = cost_inputs({**results, "stages": {**results["stages"],
                                                       "cases_day": {**cases_day, "mode": "per_partition"}}})
    assert per_partition["dynamodb_writes_per_settle"] == {"CasesTable": pytest.approx(1_500 / 5_000)}
    summary = cases_summary(cases_day)
    assert summary["reduction_vs_pairs"] == pytest.approx(9_900 / 520) and summary["contract_ok"]
    assert not cases_summary({**cases_day, "immediate_findings_in_cases": 599, "immediate_findings": 600})["contract_ok"]


def test_backfill_plan_by_hand():
    from accesswatch_tools.bench.cost import BackfillLimits, backfill_plan

    limits = BackfillLimits(ingest_concurrency=2, detect_concurrency=4, dynamodb_table_wru_per_s=100,
                            dynamodb_partition_wru_per_s=10, concurrent_quarters=2, step_functions_transitions_per_s=5)
    plan = backfill_plan(2, with_cases=True, workload=WORKLOAD, measured=MEASURED, prices=PRICES, limits=limits,
                         template=TEMPLATE)
    # 2M events in 8 files of 250k events (3 partitions each); 20k findings; nobody decides a case during the
    # backfill: 2,000 users' immediate-tier cases (one each) and the budget of the one day it runs: 20
    assert (plan["events"], plan["files"], plan["partitions"]) == (2e6, 8, 24)
    assert plan["findings"] == pytest.approx(20_000)
    assert (plan["immediate_cases"], plan["threshold_cases"], plan["cases"]) == pytest.approx((2_000, 20, 2_020))
    # a file: 250k events at 100k/s x 0.5 = 5 s, 30 MB through S3 at 1 MB/s = 30 s
    assert plan["ingest_seconds_per_file"] == pytest.approx(35)
    hours = plan["stage_hours"]
    assert hours["ingest (Lambda)"] == pytest.approx(8 * 35 / 2 / 3600)
    # findings: 1.5 writes of 2 WRU each, 4 items with the GSIs, 100 WRU/s; the hot GSI key: 1.5 x 2 WRU at 10/s x 2
    assert hours["findings writes (table limit)"] == pytest.approx(20_000 * 3 * 4 / 100 / 3600)
    assert hours["findings writes (hot GSI key per rule and quarter)"] == pytest.approx(20_000 * 3 / 20 / 3600)
    assert hours["case executions (state transitions)"] == pytest.approx(
        2_020 * (0.5 * len(CASE_PATH_UNFOUNDED) + 0.5 * len(CASE_PATH_FOUNDED)) / 5 / 3600)
    assert plan["wall_hours"] == max(hours.values())
    without = backfill_plan(2, with_cases=False, workload=WORKLOAD, measured=MEASURED, prices=PRICES, limits=limits,
                            template=TEMPLATE)
    assert without["cases"] == 0 and without["one_off_usd"] < plan["one_off_usd"]
    assert without["stage_hours"]["findings writes (table limit)"] == pytest.approx(20_000 * 2 * 4 / 100 / 3600)
    # at most one open case per user: a smaller ministry caps the backfill's immediate-tier cases
    small = backfill_plan(2, with_cases=True, workload=Workload(**{**WORKLOAD.__dict__, "users": 500}),
                          measured=MEASURED, prices=PRICES, limits=limits, template=TEMPLATE)
    assert small["immediate_cases"] == 500


def test_backfill_case_lines_scale_with_the_backfill_cases_not_with_years():
    from accesswatch_tools.bench.cost import backfill_plan

    yearly = estimate(WORKLOAD, MEASURED, PRICES, TEMPLATE)
    plan = backfill_plan(2, with_cases=True, workload=WORKLOAD, measured=MEASURED, prices=PRICES, template=TEMPLATE)
    without = backfill_plan(2, with_cases=False, workload=WORKLOAD, measured=MEASURED, prices=PRICES,
                            template=TEMPLATE)
    per_case = sum(i.per_year for i in yearly.items if i.per_case)
    other_case = sum(i.per_year for i in yearly.items if not i.per_case and (
        i.item.startswith("CasesTable") or "CaseQueue" in i.item))
    # the backfill's own detect time (24 partitions at 3 GB) and findings writes (20k findings, 2 WRU, 4 items:
    # 1.5 writes each with cases, 1 without)
    detect = 24 * (plan["detect_seconds_per_partition"] - without["detect_seconds_per_partition"]) * 3 \
        * PRICES.lambda_gb_second
    writes = 20_000 * (1.5 - 1) * 2 * 4 * PRICES.dynamodb_write_request_unit
    assert plan["one_off_usd"] - without["one_off_usd"] == pytest.approx(
        per_case * plan["cases"] / CASES + other_case * 2 + detect + writes)
    # without cases, a partition (a third of a 250k-event file): 83,333 events at 1M/s x 0.5, the index load,
    # 5 MB / 3 of Parquet at 1 MB/s, 833 findings put 4 at a time at 10 ms; with cases, also 833 x (0.5 settles
    # x 4 calls + 0.5 case_id) calls at 10 ms
    partition = 250_000 / 3
    assert without["detect_seconds_per_partition"] == pytest.approx(
        partition / 500_000 + 0.5 + 5 / 3 + partition * 0.01 / 10 * 0.03)
    assert plan["detect_seconds_per_partition"] - without["detect_seconds_per_partition"] == pytest.approx(
        partition * 0.01 * (0.5 * 4 + 0.5) * 0.01)
