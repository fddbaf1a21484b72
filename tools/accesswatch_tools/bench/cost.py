"""What accesswatch costs on AWS: per million events and per year at ministry scale.

Every unit price is in :class:`UnitPrices` and every assumption about the workload in
:class:`Workload`; what was measured on the benchmark machine is in :class:`Measured` (filled from a
``benchmarks/results/*.json`` file when there is one). :func:`estimate` is plain arithmetic over the three,
line by line, so that each figure can be checked by hand (``tests/unit/tools/test_cost_model.py`` does).

Prices are USD on-demand list prices for ap-southeast-2 (Sydney) without free tiers, as published
on the AWS pricing pages at ``PRICES_AS_OF``; they were not re-read when the benchmark ran (the
machine has no network). Check them with the AWS Pricing Calculator before budgeting.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

REGION = "ap-southeast-2"
PRICES_AS_OF = "2025-06"
GIB = 1024**3
TIB = 1024**4


@dataclass(frozen=True)
class UnitPrices:
    """USD, ap-southeast-2, on-demand list prices (no free tier, no savings plan)."""

    lambda_gb_second: float = 0.0000166667  # x86, first pricing tier
    lambda_request: float = 0.20 / 1e6
    s3_standard_gb_month: float = 0.025  # first 50 TB
    s3_put_request: float = 0.0055 / 1000  # PUT, COPY, POST, LIST
    s3_get_request: float = 0.00044 / 1000  # GET, SELECT and the rest
    dynamodb_write_request_unit: float = 0.7116 / 1e6  # on-demand (after the Nov 2024 reduction)
    dynamodb_read_request_unit: float = 0.1423 / 1e6
    dynamodb_gb_month: float = 0.285  # Standard table class
    dynamodb_pitr_gb_month: float = 0.228  # continuous backups (the template enables PITR)
    step_functions_transition: float = 0.025 / 1000  # Standard workflows
    athena_tb_scanned: float = 5.00
    athena_min_bytes_per_query: int = 10 * 1024**2
    sns_publish: float = 0.50 / 1e6
    kms_key_month: float = 1.00
    kms_request: float = 0.03 / 10_000
    logs_ingested_gb: float = 0.57  # CloudWatch Logs, standard class


@dataclass(frozen=True)
class Workload:
    """The ministry, as assumed (not measured): change these to re-estimate."""

    users: int = 8_044  # including service accounts
    clients: int = 500_000
    events_per_working_day: int = 5_000_000
    working_days_per_year: int = 250
    quiet_days_per_year: int = 115  # weekends and holidays
    quiet_day_share: float = 0.10  # a quiet day's traffic relative to a working day (mostly service accounts)
    files_per_day: int = 13  # log files delivered per day (all systems)
    partition_rows: int = 250_000  # template parameter PartitionRows
    retention_years: float = 3.0  # raw logs, curated partitions and findings are kept this long
    founded_case_share: float = 0.10  # cases that go on to an Employment Relations case
    footprints_per_year: int = 2_000  # client footprints (privacy / OIA requests) run through Athena
    footprint_years: float = 3.0  # how far back a footprint looks
    reference_builds_per_year: int = 365  # one set of reference snapshots a day
    multipart_part_bytes: int = 64 * 1024**2  # raw uploads above this go in parts (one PUT each)
    log_bytes_per_invocation: int = 2_000  # structured log lines written per Lambda invocation
    kms_requests_per_year: int = 200_000  # bucket keys and DynamoDB table keys keep this small
    lambda_speed_factor: float = 0.7  # a Lambda process's speed relative to one process on the bench machine
    s3_bytes_per_s: float = 80e6  # one Lambda streaming from / to S3
    put_latency_s: float = 0.006  # one conditional PutItem/UpdateItem/GetItem round trip from Lambda
    findings_per_batch_call: float = 20.0  # FindingStore.stage/flush: a BatchGetItem per 100, a BatchWriteItem per 25
    batch_latency_s: float = 0.02  # one BatchGetItem / BatchWriteItem round trip from Lambda
    case_step_seconds: float = 0.15  # one case-step invocation (a few DynamoDB calls)
    case_items_per_case: int = 5  # the case and its history entries (opened, triaged, notified, joins)
    case_queue_seconds: float = 0.5  # one case-queue invocation (the queue read; queued users opened)
    reference_build_seconds: float = 60.0  # six snapshots validated and one index compiled
    outcome_seconds: float = 0.2  # the detection outcome function, once per file

    @property
    def events_per_year(self) -> float:
        return self.events_per_working_day * (self.working_days_per_year
                                              + self.quiet_days_per_year * self.quiet_day_share)

    @property
    def files_per_year(self) -> float:
        return self.files_per_day * (self.working_days_per_year + self.quiet_days_per_year)

    @property
    def days_per_year(self) -> int:
        return self.working_days_per_year + self.quiet_days_per_year


@dataclass(frozen=True)
class Measured:
    """What the benchmark measured (defaults: the run recorded in docs/performance.md).

    Cases (data contract v2: one case per staff member) come from the benchmark's cases stage, the
    ministry day's findings through the real router and case queue on the template's tables:
    immediate-tier cases and users whose score crossed the threshold, per event; the router's
    DynamoDB calls by what they scale with. A user is *settled* once per partition in which they have
    routed findings (their open-case pointer and risk ledger read, the ledger written or the case
    joined); a finding that enters a case gets its ``case_id``; opening a case writes the pointer, the
    case and its first history entry. What a case's workflow adds up to the wait for a person (the
    case-step function) is measured per case on the end-to-end slice."""

    source: str = "defaults (bench run of 2026-11-29)"
    ingest_events_per_s: float = 400_000.0  # ingest_stream incl. Parquet encoding, one process
    detect_events_per_s: float = 1_500_000.0  # detect(), whole catalog, one process
    index_load_s: float = 0.05  # ReferenceIndex.from_bytes at ministry scale
    raw_bytes_per_event: float = 92.0  # the day's files as delivered (mix of csv, csv.gz, jsonl, jsonl.gz)
    curated_bytes_per_event: float = 16.0  # Parquet (zstd) partitions
    footprint_bytes_per_event: float = 4.8  # the client_id column of the Parquet partitions
    findings_per_event: float = 0.0215  # findings (all rules of the catalog) per accepted event
    immediate_cases_per_event: float = 6.7e-4  # users with an immediate-tier finding on the day, per event
    threshold_users_per_event: float = 4.0e-5  # users whose 7-day score crossed the threshold, per event
    settles_per_finding: float = 0.5  # (user, partition) pairs with routed findings, per finding
    dynamodb_writes_per_finding: dict[str, float] = field(default_factory=lambda: {"FindingsTable": 1.3})
    dynamodb_reads_per_finding: dict[str, float] = field(default_factory=dict)
    dynamodb_writes_per_settle: dict[str, float] = field(default_factory=lambda: {"CasesTable": 0.5})
    dynamodb_reads_per_settle: dict[str, float] = field(default_factory=lambda: {"CasesTable": 3.0})
    routing_calls_per_case: float = 5.0  # the router's and the queue's calls that come with a case opened
    dynamodb_writes_per_case: dict[str, float] = field(default_factory=lambda: {"CasesTable": 12.0})
    dynamodb_reads_per_case: dict[str, float] = field(default_factory=lambda: {"CasesTable": 6.0})
    dynamodb_writes_per_file: dict[str, float] = field(default_factory=lambda: {
        "LedgerTable": 2.0, "IdempotencyTable": 2.0})  # the ingest ledger and the idempotency record
    item_bytes: dict[str, float] = field(default_factory=lambda: {
        "FindingsTable": 680.0, "CasesTable": 550.0, "RiskLedger": 900.0, "LedgerTable": 670.0})
    case_step_invocations_per_case: float = 3.0  # up to the wait for a person


@dataclass(frozen=True)
class Template:
    """What template.yaml says that the cost depends on."""

    memory_mb: dict[str, int]
    gsi_count: dict[str, int]
    case_daily_budget: int = 20  # CaseDailyBudget: new accumulate-tier cases per NZ day
    case_random_reviews: int = 2  # CaseRandomReviews: review cases drawn per week

    @classmethod
    def load(cls) -> Template:
        from accesswatch_tools.embedded.template import load_template, resources_of_type

        template = load_template()
        default_memory = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
        memory = {name: int(res["Properties"].get("MemorySize", default_memory))
                  for name, res in resources_of_type(template, "AWS::Serverless::Function").items()}
        gsis = {name: len(res["Properties"].get("GlobalSecondaryIndexes", []))
                for name, res in resources_of_type(template, "AWS::DynamoDB::Table").items()}
        parameters = template.get("Parameters", {})
        return cls(memory, gsis, int(parameters["CaseDailyBudget"]["Default"]),
                   int(parameters["CaseRandomReviews"]["Default"]))


# The case state machine's paths up to their end (statemachines/case.asl.json; a test checks them).
CASE_PATH_UNFOUNDED = ("Triage", "Notify", "RecordNotified", "AwaitDecision", "RecordDecision",
                       "RouteDecision", "CloseUnfounded", "CaseClosed")
CASE_PATH_FOUNDED = ("Triage", "Notify", "RecordNotified", "AwaitDecision", "RecordDecision", "RouteDecision",
                     "OpenErCase", "AwaitOutcome", "RecordOutcome", "RouteOutcome", "CloseFounded", "CaseClosed")
CASE_LAMBDA_STATES = frozenset({"Triage", "RecordNotified", "AwaitDecision", "RecordDecision", "CloseUnfounded",
                                "OpenErCase", "AwaitOutcome", "RecordOutcome", "CloseFounded"})  # Await*: with a task token
# The detection state machine: the Map state, the case queue and the outcome per file, one task state per child.
DETECTION_TRANSITIONS_PER_FILE = 3
WEEKS_PER_YEAR = 52
DETECTION_TRANSITIONS_PER_CHILD = 2  # the child execution's start and its DetectPartition task (conservative)


@dataclass(frozen=True)
class CaseVolume:
    """Cases per working day and per year, by how they open; one case execution and one notification each.

    Immediate-tier cases scale with events (measured per event on a day that starts from empty tables:
    an upper bound, since a user whose case is still open joins it instead). Threshold cases are capped
    by the daily budget: the queue carries the rest to the next days, so a year opens at most the
    budget times its days. Random-review cases: the configured number a week."""

    immediate_per_day: float
    threshold_demand_per_day: float  # users whose score crossed the threshold
    threshold_per_day: float
    random_review_per_day: float
    immediate_per_year: float
    threshold_demand_per_year: float
    threshold_per_year: float
    random_review_per_year: float

    @property
    def per_day(self) -> float:
        return self.immediate_per_day + self.threshold_per_day + self.random_review_per_day

    @property
    def per_year(self) -> float:
        return self.immediate_per_year + self.threshold_per_year + self.random_review_per_year

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "cases_per_day": self.per_day, "executions_per_day": self.per_day,
                "notifications_per_day": self.per_day, "cases_per_year": self.per_year,
                "executions_per_year": self.per_year, "notifications_per_year": self.per_year}


def case_volume(w: Workload, m: Measured, t: Template) -> CaseVolume:
    day_equivalents = w.events_per_year / w.events_per_working_day  # working days, and quiet days at their share
    immediate = m.immediate_cases_per_event * w.events_per_working_day
    demand = m.threshold_users_per_event * w.events_per_working_day
    reviews_per_year = float(t.case_random_reviews * WEEKS_PER_YEAR)
    return CaseVolume(
        immediate_per_day=immediate, threshold_demand_per_day=demand,
        threshold_per_day=min(float(t.case_daily_budget), demand), random_review_per_day=t.case_random_reviews / 7,
        immediate_per_year=immediate * day_equivalents, threshold_demand_per_year=demand * day_equivalents,
        threshold_per_year=min(demand * day_equivalents, float(t.case_daily_budget * w.days_per_year)),
        random_review_per_year=reviews_per_year)


@dataclass(frozen=True)
class LineItem:
    service: str
    item: str
    quantity: float  # per year
    unit: str
    unit_price: float
    note: str = ""
    per_case: bool = False  # scales with cases opened (not with events or findings)

    @property
    def per_year(self) -> float:
        return self.quantity * self.unit_price


@dataclass
class CostReport:
    workload: Workload
    measured: Measured
    prices: UnitPrices
    items: list[LineItem]
    cases: CaseVolume

    @property
    def per_year(self) -> float:
        return sum(i.per_year for i in self.items)

    @property
    def per_million_events(self) -> float:
        return self.per_year / (self.workload.events_per_year / 1e6)

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i in self.items:
            out[i.service] = out.get(i.service, 0.0) + i.per_year
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": REGION, "prices_as_of": PRICES_AS_OF,
            "events_per_year": self.workload.events_per_year,
            "per_year_usd": round(self.per_year, 2), "per_million_events_usd": round(self.per_million_events, 4),
            "cases": self.cases.as_dict(),
            "by_service_usd": {k: round(v, 2) for k, v in self.by_service().items()},
            "items": [{**asdict(i), "per_year": round(i.per_year, 2)} for i in self.items],
            "workload": asdict(self.workload), "measured": asdict(self.measured), "prices": asdict(self.prices),
        }


def _wru(item_bytes: float) -> int:
    """Write request units of one standard write (1 KB units, rounded up)."""
    return max(1, math.ceil(item_bytes / 1024))


def _rru(item_bytes: float) -> float:
    """Read request units of one strongly consistent read (4 KB units, rounded up)."""
    return max(1, math.ceil(item_bytes / 4096))


def estimate(workload: Workload | None = None, measured: Measured | None = None, prices: UnitPrices | None = None,
             template: Template | None = None) -> CostReport:
    w, m, p = workload or Workload(), measured or Measured(), prices or UnitPrices()
    t = template or Template.load()
    events = w.events_per_year
    files = w.files_per_year
    # Partitions: each file's events cut into partitions of at most partition_rows (per NZ date).
    events_per_file = events / files
    partitions = files * max(1, math.ceil(events_per_file / w.partition_rows))
    findings = events * m.findings_per_event
    settles = findings * m.settles_per_finding
    volume = case_volume(w, m, t)
    cases = volume.per_year
    items: list[LineItem] = []

    def gb_s(function: str, seconds: float) -> float:
        return seconds * t.memory_mb[function] / 1024

    # ---- Lambda
    raw_bytes = events * m.raw_bytes_per_event
    curated_bytes = events * m.curated_bytes_per_event
    ingest_s = events / (m.ingest_events_per_s * w.lambda_speed_factor) + (raw_bytes + curated_bytes) / w.s3_bytes_per_s
    detect_compute_s = (events / (m.detect_events_per_s * w.lambda_speed_factor) + partitions * m.index_load_s
                        + curated_bytes / w.s3_bytes_per_s)
    # Findings are read and written in batches; routing is one user at a time: each settle reads the
    # user's pointer and ledger and writes one of them, each finding that enters a case gets its case_id.
    set_case_per_finding = max(0.0, m.dynamodb_writes_per_finding.get("FindingsTable", 1.0) - 1.0)
    calls_per_settle = sum(m.dynamodb_writes_per_settle.values()) + sum(m.dynamodb_reads_per_settle.values())
    detect_io_s = (findings / w.findings_per_batch_call * w.batch_latency_s
                   + (findings * set_case_per_finding + settles * calls_per_settle
                      + volume.immediate_per_year * m.routing_calls_per_case) * w.put_latency_s)
    unfounded, founded = 1 - w.founded_case_share, w.founded_case_share
    case_invocations = cases * (unfounded * sum(s in CASE_LAMBDA_STATES for s in CASE_PATH_UNFOUNDED)
                                + founded * sum(s in CASE_LAMBDA_STATES for s in CASE_PATH_FOUNDED))
    outcome_invocations = files
    # the case queue: after every detection execution (one per file), the daily schedule, the weekly draw
    queue_invocations = files + w.days_per_year + WEEKS_PER_YEAR
    queue_s = (queue_invocations * w.case_queue_seconds
               + (volume.threshold_per_year + volume.random_review_per_year) * m.routing_calls_per_case * w.put_latency_s)
    reference_s = w.reference_builds_per_year * w.reference_build_seconds
    lambda_gb_s = {
        "IngestFunction": gb_s("IngestFunction", ingest_s),
        "DetectFunction": gb_s("DetectFunction", detect_compute_s + detect_io_s),
        "CaseStepFunction": gb_s("CaseStepFunction", case_invocations * w.case_step_seconds),
        "CaseQueueFunction": gb_s("CaseQueueFunction", queue_s),
        "DetectionOutcomeFunction": gb_s("DetectionOutcomeFunction", outcome_invocations * w.outcome_seconds),
        "ReferenceFunction": gb_s("ReferenceFunction", reference_s),
    }
    for function, quantity in lambda_gb_s.items():
        items.append(LineItem("Lambda", f"{function} duration", quantity, "GB-s", p.lambda_gb_second,
                              f"{t.memory_mb[function]} MB", per_case=function == "CaseStepFunction"))
    requests = (files + partitions + case_invocations + outcome_invocations + queue_invocations
                + w.reference_builds_per_year * 6)
    items.append(LineItem("Lambda", "requests", requests, "requests", p.lambda_request,
                          "ingest per file, detect per partition, case steps, case queue, outcomes, reference snapshots"))

    # ---- S3
    stored_gb = (raw_bytes + curated_bytes) * w.retention_years / GIB
    items.append(LineItem("S3", "storage (raw logs + curated Parquet, full retention)", stored_gb * 12, "GB-month",
                          p.s3_standard_gb_month, f"{w.retention_years:g} years kept"))
    raw_puts = files * max(1.0, math.ceil(raw_bytes / files / w.multipart_part_bytes))
    curated_puts = partitions + files * 2  # partitions, one manifest and one quarantine object per file
    items.append(LineItem("S3", "PUT requests", raw_puts + curated_puts, "requests", p.s3_put_request,
                          "raw uploads (multipart), partitions, manifests, quarantine"))
    gets = files * 2 + partitions  # ingest reads the file, the Map reads the manifest, detect reads its partition
    items.append(LineItem("S3", "GET requests", gets, "requests", p.s3_get_request))

    # ---- DynamoDB
    for table, per_finding in sorted(m.dynamodb_writes_per_finding.items()):
        size = m.item_bytes.get(table, 1024.0)
        units = findings * per_finding * _wru(size) * (1 + t.gsi_count.get(table, 0))
        items.append(LineItem("DynamoDB", f"{table} writes", units, "WRU", p.dynamodb_write_request_unit,
                              f"{per_finding:.3g} writes/finding x {_wru(size)} WRU x (1 + {t.gsi_count.get(table, 0)} GSI)"))
    # Routing per user and partition writes the risk ledger or the user's pointer: items without the
    # case attributes that the cases table's index keys on, so no index write.
    for table, per_settle in sorted(m.dynamodb_writes_per_settle.items()):
        size = m.item_bytes.get("RiskLedger", 1024.0)
        items.append(LineItem("DynamoDB", f"{table} writes (routing: risk ledgers)", settles * per_settle * _wru(size),
                              "WRU", p.dynamodb_write_request_unit,
                              f"{settles / 1e6:.1f} M user-partition settles x {per_settle:.3g} writes x {_wru(size)} WRU"))
    for table, per_case in sorted(m.dynamodb_writes_per_case.items()):
        size = m.item_bytes.get(table, 1024.0)
        units = cases * per_case * _wru(size) * (1 + t.gsi_count.get(table, 0))
        items.append(LineItem("DynamoDB", f"{table} writes (cases: opening, joins, workflow)", units, "WRU",
                              p.dynamodb_write_request_unit, f"{per_case:.3g} writes/case x {_wru(size)} WRU x"
                              f" (1 + {t.gsi_count.get(table, 0)} GSI)", per_case=True))
    for table, per_file in sorted(m.dynamodb_writes_per_file.items()):
        size = m.item_bytes.get(table, 1024.0)
        units = files * per_file * _wru(size) * (1 + t.gsi_count.get(table, 0))
        items.append(LineItem("DynamoDB", f"{table} writes", units, "WRU", p.dynamodb_write_request_unit,
                              f"{per_file:g} writes/file x {_wru(size)} WRU x (1 + {t.gsi_count.get(table, 0)} GSI)"))
    for table, per_finding in sorted(m.dynamodb_reads_per_finding.items()):
        size = m.item_bytes.get(table, 1024.0)
        items.append(LineItem("DynamoDB", f"{table} reads", findings * per_finding * _rru(size), "RRU",
                              p.dynamodb_read_request_unit, "strongly consistent"))
    for table, per_settle in sorted(m.dynamodb_reads_per_settle.items()):
        size = m.item_bytes.get("RiskLedger", 1024.0)
        items.append(LineItem("DynamoDB", f"{table} reads (routing: pointers and risk ledgers)",
                              settles * per_settle * _rru(size), "RRU", p.dynamodb_read_request_unit,
                              "strongly consistent"))
    for table, per_case in sorted(m.dynamodb_reads_per_case.items()):
        size = m.item_bytes.get(table, 1024.0)
        items.append(LineItem("DynamoDB", f"{table} reads (cases)", cases * per_case * _rru(size), "RRU",
                              p.dynamodb_read_request_unit, "strongly consistent", per_case=True))
    table_gb = (findings * m.item_bytes["FindingsTable"] * (1 + t.gsi_count.get("FindingsTable", 0))
                + cases * m.item_bytes["CasesTable"] * w.case_items_per_case * (1 + t.gsi_count.get("CasesTable", 0))) \
        * w.retention_years / GIB
    items.append(LineItem("DynamoDB", "storage (full retention, indexes included)", table_gb * 12, "GB-month",
                          p.dynamodb_gb_month))
    items.append(LineItem("DynamoDB", "point-in-time recovery", table_gb * 12, "GB-month",
                          p.dynamodb_pitr_gb_month))

    # ---- Step Functions
    detection = files * DETECTION_TRANSITIONS_PER_FILE + partitions * DETECTION_TRANSITIONS_PER_CHILD
    items.append(LineItem("Step Functions", "detection transitions (Distributed Map children included)", detection,
                          "transitions", p.step_functions_transition))
    case_transitions = cases * (unfounded * len(CASE_PATH_UNFOUNDED) + founded * len(CASE_PATH_FOUNDED))
    items.append(LineItem("Step Functions", "case transitions", case_transitions, "transitions",
                          p.step_functions_transition, f"{cases:,.0f} case executions a year; "
                          f"{len(CASE_PATH_UNFOUNDED)} states unfounded, {len(CASE_PATH_FOUNDED)} founded", per_case=True))

    # ---- Athena (client footprints)
    scanned = max(p.athena_min_bytes_per_query,
                  events * w.footprint_years * m.footprint_bytes_per_event) * w.footprints_per_year
    items.append(LineItem("Athena", "footprint queries", scanned / TIB, "TB scanned", p.athena_tb_scanned,
                          f"{w.footprints_per_year} footprints over {w.footprint_years:g} years (client_id column)"))

    # ---- the rest
    items.append(LineItem("SNS", "case notifications", cases, "publishes", p.sns_publish,
                          "one per case execution (its Notify state); a finding joining a case publishes nothing",
                          per_case=True))
    items.append(LineItem("KMS", "customer-managed key", 12, "key-months", p.kms_key_month))
    items.append(LineItem("KMS", "requests", w.kms_requests_per_year, "requests", p.kms_request))
    items.append(LineItem("CloudWatch Logs", "ingestion", requests * w.log_bytes_per_invocation / GIB, "GB",
                          p.logs_ingested_gb))
    return CostReport(w, m, p, items, volume)


# ---------------------------------------------------------------------------------------- inputs
def measured_from_results(results: dict[str, Any]) -> Measured:
    """A :class:`Measured` from a benchmark results document (fields it lacks keep their defaults)."""
    cost_inputs = results.get("cost_inputs", {})
    known = {f.name for f in fields(Measured)}
    values = {k: v for k, v in cost_inputs.items() if k in known}
    values["source"] = f"bench results {results.get('date', '?')}"
    if "immediate_cases_per_event" not in cost_inputs:
        # Before per-user cases a results document counted every cases-table call per finding (one case per
        # (user, client) pair): those figures do not apply; the case inputs keep their defaults.
        for name in ("dynamodb_writes_per_finding", "dynamodb_reads_per_finding", "item_bytes"):
            values.pop(name, None)
        values["source"] += " (case inputs: defaults; the document predates per-user cases)"
    return replace(Measured(), **values)


def latest_results(directory: Path) -> dict[str, Any] | None:
    files = sorted(p for p in directory.glob("*.json") if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*\.json", p.name))
    return json.loads(files[-1].read_text(encoding="utf-8")) if files else None


def render(report: CostReport) -> str:
    """The estimate as Markdown: totals, then every line with its quantity and unit price."""
    w, m = report.workload, report.measured
    lines = [
        f"AWS cost estimate, {REGION}, list prices as of {PRICES_AS_OF} (measured inputs: {m.source})",
        "",
        f"- workload: {w.users:,} users, {w.clients:,} clients, {w.events_per_working_day:,} events per working day,"
        f" {w.events_per_year / 1e9:.2f} billion events per year, {w.files_per_day} files per day",
        f"- findings per event {m.findings_per_event:.4f} -> {w.events_per_working_day * m.findings_per_event / 1e3:,.1f} k findings"
        f" per working day, {w.events_per_year * m.findings_per_event / 1e6:.1f} M per year",
        *case_lines(report),
        f"- **total: ${report.per_year:,.0f} per year, ${report.per_million_events:.3f} per million events**",
        "",
        "| service | per year (USD) | share |",
        "|---|---:|---:|",
    ]
    for service, cost in report.by_service().items():
        lines.append(f"| {service} | {cost:,.2f} | {cost / report.per_year:.1%} |")
    lines += ["", "| service | item | quantity per year | unit | unit price (USD) | per year (USD) | note |",
              "|---|---|---:|---|---:|---:|---|"]
    for i in report.items:
        lines.append(f"| {i.service} | {i.item} | {i.quantity:,.1f} | {i.unit} | {i.unit_price:.10g} |"
                     f" {i.per_year:,.2f} | {i.note} |")
    return "\n".join(lines) + "\n"


def case_lines(report: CostReport) -> list[str]:
    """Cases, case executions and notifications per working day and per year (one execution and one
    notification per case; findings that join a case or go to a risk ledger start none)."""
    v, t_budget = report.cases, report.cases.threshold_per_day
    return [
        f"- cases (contract v2, one per staff member; measured on the benchmark's ministry day by the real router):"
        f" **{v.per_day:,.0f} cases, {v.per_day:,.0f} case executions and {v.per_day:,.0f} notifications per working"
        f" day** ({v.immediate_per_day:,.0f} immediate-tier, {t_budget:,.0f} threshold of"
        f" {v.threshold_demand_per_day:,.0f} users crossing, {v.random_review_per_day:.2f} random review);"
        f" **{v.per_year:,.0f} cases, executions and notifications per year** ({v.immediate_per_year:,.0f} immediate,"
        f" {v.threshold_per_year:,.0f} threshold within the daily budget, {v.random_review_per_year:,.0f} random"
        f" review)",
        "- immediate-tier cases are counted as on a first day (from empty tables): an upper bound, since a user"
        " whose case is still open joins it instead of opening another",
    ]


# ---------------------------------------------------------------------------------------- backfill
@dataclass(frozen=True)
class BackfillLimits:
    """Service limits that bound a backfill (ap-southeast-2 defaults; most can be raised on request)."""

    lambda_concurrency: int = 1_000  # account-wide concurrent executions
    ingest_concurrency: int = 200  # reserved for the ingest function during the backfill
    detect_concurrency: int = 500  # Distributed Map children running at once, all files together
    dynamodb_table_wru_per_s: int = 40_000  # on-demand table maximum (default quota)
    dynamodb_partition_wru_per_s: int = 1_000  # one partition key (a GSI key included)
    concurrent_quarters: int = 12  # quarters backfilled side by side (findings' by_rule_quarter GSI keys)
    step_functions_transitions_per_s: int = 800  # state transitions, refill rate outside the three big regions
    s3_put_per_s_per_prefix: int = 3_500
    s3_get_per_s_per_prefix: int = 5_500


def backfill_plan(years: float = 3.0, *, with_cases: bool = False, workload: Workload | None = None,
                  measured: Measured | None = None, prices: UnitPrices | None = None,
                  limits: BackfillLimits | None = None, template: Template | None = None) -> dict[str, Any]:
    """Wall time and one-off cost of running ``years`` of logs through the system.

    Each stage runs concurrently with the others (files flow through), so the wall time is that of
    the slowest stage; each stage's time is its work divided by what its limit allows.

    With cases, history is routed as it would be live, but nobody decides a case while the backfill
    runs: each user's first immediate-tier finding opens their one case and every later finding joins
    it, so immediate-tier cases are at most one per user; threshold cases are capped by the daily
    budget of the NZ days the backfill runs on (the budget counts processing days, not event days).
    """
    w, m, p, lim = workload or Workload(), measured or Measured(), prices or UnitPrices(), limits or BackfillLimits()
    t = template or Template.load()
    yearly = estimate(w, m, p, t)
    events = w.events_per_year * years
    files = w.files_per_year * years
    events_per_file = events / files
    partitions_per_file = max(1, math.ceil(events_per_file / w.partition_rows))
    findings = events * m.findings_per_event
    raw_per_file = events_per_file * m.raw_bytes_per_event
    curated_per_file = events_per_file * m.curated_bytes_per_event
    ingest_file_s = events_per_file / (m.ingest_events_per_s * w.lambda_speed_factor) \
        + (raw_per_file + curated_per_file) / w.s3_bytes_per_s
    partition_events = events_per_file / partitions_per_file
    partition_findings = partition_events * m.findings_per_event
    set_case_per_finding = max(0.0, m.dynamodb_writes_per_finding.get("FindingsTable", 1.0) - 1.0)
    calls_per_settle = sum(m.dynamodb_writes_per_settle.values()) + sum(m.dynamodb_reads_per_settle.values())
    detect_partition_s = (partition_events / (m.detect_events_per_s * w.lambda_speed_factor) + m.index_load_s
                          + curated_per_file / partitions_per_file / w.s3_bytes_per_s
                          + partition_findings / w.findings_per_batch_call * w.batch_latency_s
                          + (partition_findings * (m.settles_per_finding * calls_per_settle + set_case_per_finding)
                             * w.put_latency_s if with_cases else 0.0))
    # Without cases (the proposed backfill mode) a finding is written once; with them, also given its case.
    finding_wru = _wru(m.item_bytes["FindingsTable"]) * (
        m.dynamodb_writes_per_finding.get("FindingsTable", 1.0) if with_cases else 1.0)
    stages = {
        "ingest (Lambda)": files * ingest_file_s / lim.ingest_concurrency,
        "detect (Distributed Map children)": files * partitions_per_file * detect_partition_s / lim.detect_concurrency,
        "findings writes (table limit)": findings * finding_wru * (1 + t.gsi_count.get("FindingsTable", 0))
        / lim.dynamodb_table_wru_per_s,
        # every finding of a quarter and rule shares one by_rule_quarter key: one partition's rate each
        "findings writes (hot GSI key per rule and quarter)": findings * finding_wru
        / (lim.dynamodb_partition_wru_per_s * lim.concurrent_quarters),
    }
    cases = immediate = threshold = 0.0
    if with_cases:
        immediate = min(float(w.users), m.immediate_cases_per_event * events)
        processing_days = max(1, math.ceil(max(stages.values()) / 86_400))
        threshold = min(m.threshold_users_per_event * events, float(t.case_daily_budget * processing_days))
        cases = immediate + threshold
        transitions = cases * ((1 - w.founded_case_share) * len(CASE_PATH_UNFOUNDED)
                               + w.founded_case_share * len(CASE_PATH_FOUNDED))
        stages["case executions (state transitions)"] = transitions / lim.step_functions_transitions_per_s
        # every open case carries its status into the cases table's by_status GSI: one key per status
        stages["case status writes (hot GSI key per status)"] = cases * 3 / lim.dynamodb_partition_wru_per_s
    excluded = {"storage", "point-in-time", "customer-managed key", "requests"}
    case_scale = cases / (yearly.cases.per_year * years) if yearly.cases.per_year else 0.0
    # The detect function's time and the findings' writes are the backfill's own (with or without cases),
    # not the yearly lines (which always route).
    partitions = files * partitions_per_file
    one_off = (partitions * detect_partition_s * t.memory_mb["DetectFunction"] / 1024 * p.lambda_gb_second
               + findings * finding_wru * (1 + t.gsi_count.get("FindingsTable", 0)) * p.dynamodb_write_request_unit)
    for i in yearly.items:
        if i.service in ("S3", "DynamoDB") and any(i.item.startswith(x) for x in excluded):
            continue  # storage is the yearly bill, not the backfill's
        if i.service in ("KMS", "Athena") or i.item in ("DetectFunction duration", "FindingsTable writes"):
            continue
        if not with_cases and (i.per_case or i.item.startswith("CasesTable") or "CaseQueue" in i.item):
            continue
        one_off += i.per_year * years * (case_scale if i.per_case else 1.0)
    bottleneck = max(stages, key=lambda k: stages[k])
    return {
        "years": years, "with_cases": with_cases, "events": events, "files": files,
        "partitions": partitions, "findings": findings, "cases": cases,
        "immediate_cases": immediate, "threshold_cases": threshold,
        "ingest_seconds_per_file": ingest_file_s, "detect_seconds_per_partition": detect_partition_s,
        "stage_hours": {k: v / 3600 for k, v in stages.items()},
        "bottleneck": bottleneck, "wall_hours": stages[bottleneck] / 3600,
        "one_off_usd": one_off, "limits": asdict(lim),
    }


def render_backfill(plan: dict[str, Any]) -> str:
    lines = [f"Backfill of {plan['years']:g} years ({plan['events'] / 1e9:.2f} billion events, {plan['files']:,.0f} files,"
             f" {plan['partitions']:,.0f} partitions, {plan['findings'] / 1e6:.1f} M findings"
             + (f", {plan['cases']:,.0f} cases: {plan['immediate_cases']:,.0f} immediate-tier, at most one per user,"
                f" and {plan['threshold_cases']:,.0f} within the daily budget" if plan["with_cases"]
                else ", no cases opened") + ")",
             "", "| stage | hours at the limits |", "|---|---:|"]
    lines += [f"| {k} | {v:,.2f} |" for k, v in plan["stage_hours"].items()]
    lines += ["", f"- wall time about **{plan['wall_hours']:,.1f} h**, bound by {plan['bottleneck']}",
              f"- one-off processing cost about **${plan['one_off_usd']:,.0f}** (storage then billed yearly)",
              f"- per file: ingest {plan['ingest_seconds_per_file']:.1f} s; per partition: detect"
              f" {plan['detect_seconds_per_partition']:.1f} s"]
    return "\n".join(lines) + "\n"
