"""The cost model's arithmetic, checked by hand on round numbers; its inputs from the real template and ASL."""

from __future__ import annotations

import json
import math
import re

import pytest

from accesswatch.bench.cost import (
    CASE_LAMBDA_STATES,
    CASE_PATH_FOUNDED,
    CASE_PATH_UNFOUNDED,
    GIB,
    TIB,
    Measured,
    Template,
    UnitPrices,
    Workload,
    estimate,
    measured_from_results,
    render,
)
from accesswatch.local.template import PROJECT_ROOT

TEMPLATE = Template(
    memory_mb={"IngestFunction": 2048, "DetectFunction": 3072, "CaseStepFunction": 512,
               "DetectionOutcomeFunction": 256, "ReferenceFunction": 1024},
    gsi_count={"FindingsTable": 3, "CasesTable": 1, "LedgerTable": 1},
)
# One working day a year of exactly 1M events in 4 files: round numbers all the way down.
WORKLOAD = Workload(events_per_working_day=1_000_000, working_days_per_year=1, quiet_days_per_year=0,
                    files_per_day=4, partition_rows=100_000, retention_years=2, founded_case_share=0.5,
                    footprints_per_year=10, footprint_years=1, reference_builds_per_year=1,
                    lambda_speed_factor=0.5, s3_bytes_per_s=1e6, put_latency_s=0.01, detect_writer_threads=4,
                    assign_calls_per_finding=3, case_step_seconds=0.5, reference_build_seconds=10,
                    outcome_seconds=1, kms_requests_per_year=10_000, log_bytes_per_invocation=1024)
MEASURED = Measured(source="test", ingest_events_per_s=100_000, detect_events_per_s=1_000_000, index_load_s=0.5,
                    raw_bytes_per_event=100, curated_bytes_per_event=20, footprint_bytes_per_event=5,
                    findings_per_event=0.01, cases_per_finding=0.5,
                    dynamodb_writes_per_finding={"FindingsTable": 2, "CasesTable": 4},
                    dynamodb_reads_per_finding={"CasesTable": 3},
                    item_bytes={"FindingsTable": 1500, "CasesTable": 500})
PRICES = UnitPrices()


@pytest.fixture(scope="module")
def report():
    return estimate(WORKLOAD, MEASURED, PRICES, TEMPLATE)


def item(report, service: str, starts: str):
    (found,) = [i for i in report.items if i.service == service and i.item.startswith(starts)]
    return found


def test_lambda_duration_by_hand(report):
    # ingest: 1M events at 100k/s x 0.5 = 20 s, plus 1M x 120 bytes at 1 MB/s = 120 s; 2 GB
    assert item(report, "Lambda", "IngestFunction").quantity == pytest.approx((20 + 120) * 2)
    # detect: 1M at 1M/s x 0.5 = 2 s, 4 files x 3 partitions (250k events, 100k rows each) x 0.5 s index
    # load = 6 s, 20 MB read at 1 MB/s = 20 s; 10k findings x (1/4 + 3) calls x 10 ms = 325 s; 3 GB
    assert item(report, "Lambda", "DetectFunction").quantity == pytest.approx((2 + 6 + 20 + 325) * 3)
    # case steps: 5k cases, half unfounded (5 Lambda states), half founded (8): 32.5k invocations x 0.5 s x 0.5 GB
    unfounded = sum(s in CASE_LAMBDA_STATES for s in CASE_PATH_UNFOUNDED)
    founded = sum(s in CASE_LAMBDA_STATES for s in CASE_PATH_FOUNDED)
    assert (unfounded, founded) == (5, 8)
    assert item(report, "Lambda", "CaseStepFunction").quantity == pytest.approx(32_500 * 0.5 * 0.5)
    assert item(report, "Lambda", "requests").quantity == 4 + 12 + 32_500 + 4 + 6


def test_storage_requests_and_transitions_by_hand(report):
    s3 = item(report, "S3", "storage")
    assert s3.quantity == pytest.approx(1e6 * 120 * 2 / GIB * 12)
    assert s3.per_year == pytest.approx(s3.quantity * 0.025)
    # 4 files of 25 MB each: one PUT each; 12 partitions, 4 manifests, 4 quarantine objects
    assert item(report, "S3", "PUT").quantity == 4 + 12 + 8
    assert item(report, "S3", "GET").quantity == 8 + 12
    # findings: 10k x 2 writes x 2 WRU (1.5 KB) x (1 + 3 GSIs); cases table: 10k x 4 x 1 WRU x 2
    assert item(report, "DynamoDB", "FindingsTable writes").quantity == 10_000 * 2 * 2 * 4
    assert item(report, "DynamoDB", "CasesTable writes").quantity == 10_000 * 4 * 1 * 2
    assert item(report, "DynamoDB", "CasesTable reads").quantity == 10_000 * 3
    stored = (10_000 * 1500 * 4 + 5_000 * 500 * 4 * 2) * 2 / GIB
    assert item(report, "DynamoDB", "storage").quantity == pytest.approx(stored * 12)
    assert item(report, "Step Functions", "detection").quantity == 4 * 2 + 12 * 2
    assert item(report, "Step Functions", "case").quantity == pytest.approx(
        5_000 * (0.5 * len(CASE_PATH_UNFOUNDED) + 0.5 * len(CASE_PATH_FOUNDED)))
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
    for name in ("storage (raw", "FindingsTable writes", "case transitions", "SNS"):
        a = next(i for i in one.items if i.item.startswith(name) or i.service == name)
        b = next(i for i in double.items if i.item.startswith(name) or i.service == name)
        assert b.quantity == pytest.approx(2 * a.quantity), name


def test_template_inputs_come_from_the_real_template():
    template = Template.load()
    assert template.gsi_count["FindingsTable"] == 3
    for function in ("IngestFunction", "DetectFunction", "CaseStepFunction", "DetectionOutcomeFunction",
                     "ReferenceFunction"):
        assert template.memory_mb[function] >= 128


def test_case_paths_are_paths_of_the_real_case_state_machine():
    text = (PROJECT_ROOT / "statemachines" / "case.asl.json").read_text(encoding="utf-8")
    states = json.loads(re.sub(r"\$\{\w+\}", "1", text))["States"]
    for path in (CASE_PATH_UNFOUNDED, CASE_PATH_FOUNDED):
        for here, there in zip(path, path[1:], strict=False):
            state = states[here]
            successors = {state.get("Next"), state.get("Default"), *(c.get("Next") for c in state.get("Choices", []))}
            assert there in successors, (here, there)
        assert states[path[-1]]["Type"] == "Succeed"
    lambda_states = {n for n, s in states.items() if s.get("Resource", "").startswith("arn:aws:states:::lambda:invoke")}
    assert CASE_LAMBDA_STATES == lambda_states & (set(CASE_PATH_UNFOUNDED) | set(CASE_PATH_FOUNDED))


def test_measured_inputs_are_read_from_a_results_document():
    measured = measured_from_results({"date": "2026-01-02", "cost_inputs": {"ingest_events_per_s": 123.0,
                                                                            "unknown": 1}})
    assert measured.ingest_events_per_s == 123.0 and measured.source == "bench results 2026-01-02"
    assert math.isclose(measured.detect_events_per_s, Measured().detect_events_per_s)


def test_backfill_plan_by_hand():
    from accesswatch.bench.cost import BackfillLimits, backfill_plan

    limits = BackfillLimits(ingest_concurrency=2, detect_concurrency=4, dynamodb_table_wru_per_s=100,
                            dynamodb_partition_wru_per_s=10, concurrent_quarters=2, step_functions_transitions_per_s=5)
    plan = backfill_plan(2, with_cases=True, workload=WORKLOAD, measured=MEASURED, prices=PRICES, limits=limits,
                         template=TEMPLATE)
    # 2M events in 8 files of 250k events (3 partitions each); 20k findings, 10k cases
    assert (plan["events"], plan["files"], plan["partitions"]) == (2e6, 8, 24)
    assert (plan["findings"], plan["cases"]) == pytest.approx((20_000, 10_000))
    # a file: 250k events at 100k/s x 0.5 = 5 s, 30 MB through S3 at 1 MB/s = 30 s
    assert plan["ingest_seconds_per_file"] == pytest.approx(35)
    hours = plan["stage_hours"]
    assert hours["ingest (Lambda)"] == pytest.approx(8 * 35 / 2 / 3600)
    # findings: 2 writes of 2 WRU each, 4 items with the GSIs, 100 WRU/s; the hot GSI key: 2 x 2 WRU at 10/s x 2
    assert hours["findings writes (table limit)"] == pytest.approx(20_000 * 4 * 4 / 100 / 3600)
    assert hours["findings writes (hot GSI key per rule and quarter)"] == pytest.approx(20_000 * 4 / 20 / 3600)
    assert hours["case executions (state transitions)"] == pytest.approx(
        10_000 * (0.5 * len(CASE_PATH_UNFOUNDED) + 0.5 * len(CASE_PATH_FOUNDED)) / 5 / 3600)
    assert plan["wall_hours"] == max(hours.values())
    without = backfill_plan(2, with_cases=False, workload=WORKLOAD, measured=MEASURED, prices=PRICES, limits=limits,
                            template=TEMPLATE)
    assert without["cases"] == 0 and without["one_off_usd"] < plan["one_off_usd"]
    assert without["stage_hours"]["findings writes (table limit)"] == pytest.approx(20_000 * 2 * 4 / 100 / 3600)
