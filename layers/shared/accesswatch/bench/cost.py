"""What accesswatch costs on AWS: per million events and per year at ministry scale.

Every unit price is in :class:`UnitPrices` and every assumption about the workload in
:class:`Workload`; what was measured on the benchmark machine is in :class:`Measured` (filled from a
``bench/results/*.json`` file when there is one). :func:`estimate` is plain arithmetic over the three,
line by line, so that each figure can be checked by hand (``tests/test_cost_model.py`` does).

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
    detect_writer_threads: int = 8  # FindingStore.put_all workers
    assign_calls_per_finding: float = 6.0  # DynamoDB calls of case assignment, made one pair at a time
    case_step_seconds: float = 0.15  # one case-step invocation (a few DynamoDB calls)
    case_items_per_case: int = 4  # the case, its pair pointer and history entries
    reference_build_seconds: float = 60.0  # six snapshots validated and one index compiled
    outcome_seconds: float = 0.2  # the detection outcome function, once per file

    @property
    def events_per_year(self) -> float:
        return self.events_per_working_day * (self.working_days_per_year
                                              + self.quiet_days_per_year * self.quiet_day_share)

    @property
    def files_per_year(self) -> float:
        return self.files_per_day * (self.working_days_per_year + self.quiet_days_per_year)


@dataclass(frozen=True)
class Measured:
    """What the benchmark measured (defaults: the run recorded in docs/performance.md)."""

    source: str = "defaults (bench run of 2026-11-25)"
    ingest_events_per_s: float = 400_000.0  # ingest_stream incl. Parquet encoding, one process
    detect_events_per_s: float = 1_500_000.0  # detect(), whole catalog, one process
    index_load_s: float = 0.05  # ReferenceIndex.from_bytes at ministry scale
    raw_bytes_per_event: float = 110.0  # the day's files as delivered (mix of csv, csv.gz, jsonl, jsonl.gz)
    curated_bytes_per_event: float = 30.0  # Parquet (zstd) partitions
    footprint_bytes_per_event: float = 4.0  # the client_id column of the Parquet partitions
    findings_per_event: float = 0.014  # findings (all rules of the catalog) per accepted event
    cases_per_finding: float = 0.85
    dynamodb_writes_per_finding: dict[str, float] = field(default_factory=lambda: {
        "FindingsTable": 1.7, "CasesTable": 9.6})
    dynamodb_reads_per_finding: dict[str, float] = field(default_factory=lambda: {
        "FindingsTable": 0.01, "CasesTable": 4.2})
    dynamodb_writes_per_file: dict[str, float] = field(default_factory=lambda: {
        "LedgerTable": 3.0, "IdempotencyTable": 1.0})  # the ingest ledger and the idempotency record
    item_bytes: dict[str, float] = field(default_factory=lambda: {
        "FindingsTable": 900.0, "CasesTable": 400.0, "LedgerTable": 600.0})
    case_step_invocations_per_case: float = 3.0  # up to the wait for a person


@dataclass(frozen=True)
class Template:
    """What template.yaml says that the cost depends on."""

    memory_mb: dict[str, int]
    gsi_count: dict[str, int]

    @classmethod
    def load(cls) -> Template:
        from accesswatch.local.template import load_template, resources_of_type

        template = load_template()
        default_memory = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
        memory = {name: int(res["Properties"].get("MemorySize", default_memory))
                  for name, res in resources_of_type(template, "AWS::Serverless::Function").items()}
        gsis = {name: len(res["Properties"].get("GlobalSecondaryIndexes", []))
                for name, res in resources_of_type(template, "AWS::DynamoDB::Table").items()}
        return cls(memory, gsis)


# The case state machine's paths up to their end (statemachines/case.asl.json; a test checks them).
CASE_PATH_UNFOUNDED = ("Triage", "Notify", "RecordNotified", "AwaitDecision", "RecordDecision",
                       "RouteDecision", "CloseUnfounded", "CaseClosed")
CASE_PATH_FOUNDED = ("Triage", "Notify", "RecordNotified", "AwaitDecision", "RecordDecision", "RouteDecision",
                     "OpenErCase", "AwaitOutcome", "RecordOutcome", "RouteOutcome", "CloseFounded", "CaseClosed")
CASE_LAMBDA_STATES = frozenset({"Triage", "RecordNotified", "AwaitDecision", "RecordDecision", "CloseUnfounded",
                                "OpenErCase", "AwaitOutcome", "RecordOutcome", "CloseFounded"})  # Await*: with a task token
# The detection state machine: the Map state and the outcome per file, one task state per child execution.
DETECTION_TRANSITIONS_PER_FILE = 2
DETECTION_TRANSITIONS_PER_CHILD = 2  # the child execution's start and its DetectPartition task (conservative)


@dataclass(frozen=True)
class LineItem:
    service: str
    item: str
    quantity: float  # per year
    unit: str
    unit_price: float
    note: str = ""

    @property
    def per_year(self) -> float:
        return self.quantity * self.unit_price


@dataclass
class CostReport:
    workload: Workload
    measured: Measured
    prices: UnitPrices
    items: list[LineItem]

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
    cases = findings * m.cases_per_finding
    items: list[LineItem] = []

    def gb_s(function: str, seconds: float) -> float:
        return seconds * t.memory_mb[function] / 1024

    # ---- Lambda
    raw_bytes = events * m.raw_bytes_per_event
    curated_bytes = events * m.curated_bytes_per_event
    ingest_s = events / (m.ingest_events_per_s * w.lambda_speed_factor) + (raw_bytes + curated_bytes) / w.s3_bytes_per_s
    detect_compute_s = (events / (m.detect_events_per_s * w.lambda_speed_factor) + partitions * m.index_load_s
                        + curated_bytes / w.s3_bytes_per_s)
    # Findings are written by put_all's threads; case assignment is one (user, client) pair at a time.
    detect_io_s = findings * (1 / w.detect_writer_threads + w.assign_calls_per_finding) * w.put_latency_s
    unfounded, founded = 1 - w.founded_case_share, w.founded_case_share
    case_invocations = cases * (unfounded * sum(s in CASE_LAMBDA_STATES for s in CASE_PATH_UNFOUNDED)
                                + founded * sum(s in CASE_LAMBDA_STATES for s in CASE_PATH_FOUNDED))
    outcome_invocations = files
    reference_s = w.reference_builds_per_year * w.reference_build_seconds
    lambda_gb_s = {
        "IngestFunction": gb_s("IngestFunction", ingest_s),
        "DetectFunction": gb_s("DetectFunction", detect_compute_s + detect_io_s),
        "CaseStepFunction": gb_s("CaseStepFunction", case_invocations * w.case_step_seconds),
        "DetectionOutcomeFunction": gb_s("DetectionOutcomeFunction", outcome_invocations * w.outcome_seconds),
        "ReferenceFunction": gb_s("ReferenceFunction", reference_s),
    }
    for function, quantity in lambda_gb_s.items():
        items.append(LineItem("Lambda", f"{function} duration", quantity, "GB-s", p.lambda_gb_second,
                              f"{t.memory_mb[function]} MB"))
    requests = files + partitions + case_invocations + outcome_invocations + w.reference_builds_per_year * 6
    items.append(LineItem("Lambda", "requests", requests, "requests", p.lambda_request,
                          "ingest per file, detect per partition, case steps, outcomes, reference snapshots"))

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
                              f"{per_finding:g} writes/finding x {_wru(size)} WRU x (1 + {t.gsi_count.get(table, 0)} GSI)"))
    for table, per_file in sorted(m.dynamodb_writes_per_file.items()):
        size = m.item_bytes.get(table, 1024.0)
        units = files * per_file * _wru(size) * (1 + t.gsi_count.get(table, 0))
        items.append(LineItem("DynamoDB", f"{table} writes", units, "WRU", p.dynamodb_write_request_unit,
                              f"{per_file:g} writes/file x {_wru(size)} WRU x (1 + {t.gsi_count.get(table, 0)} GSI)"))
    for table, per_finding in sorted(m.dynamodb_reads_per_finding.items()):
        size = m.item_bytes.get(table, 1024.0)
        items.append(LineItem("DynamoDB", f"{table} reads", findings * per_finding * _rru(size), "RRU",
                              p.dynamodb_read_request_unit, "strongly consistent"))
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
                          p.step_functions_transition, f"{len(CASE_PATH_UNFOUNDED)} states unfounded, "
                          f"{len(CASE_PATH_FOUNDED)} founded"))

    # ---- Athena (client footprints)
    scanned = max(p.athena_min_bytes_per_query,
                  events * w.footprint_years * m.footprint_bytes_per_event) * w.footprints_per_year
    items.append(LineItem("Athena", "footprint queries", scanned / TIB, "TB scanned", p.athena_tb_scanned,
                          f"{w.footprints_per_year} footprints over {w.footprint_years:g} years (client_id column)"))

    # ---- the rest
    items.append(LineItem("SNS", "case notifications", cases, "publishes", p.sns_publish))
    items.append(LineItem("KMS", "customer-managed key", 12, "key-months", p.kms_key_month))
    items.append(LineItem("KMS", "requests", w.kms_requests_per_year, "requests", p.kms_request))
    items.append(LineItem("CloudWatch Logs", "ingestion", requests * w.log_bytes_per_invocation / GIB, "GB",
                          p.logs_ingested_gb))
    return CostReport(w, m, p, items)


# ---------------------------------------------------------------------------------------- inputs
def measured_from_results(results: dict[str, Any]) -> Measured:
    """A :class:`Measured` from a benchmark results document (fields it lacks keep their defaults)."""
    cost_inputs = results.get("cost_inputs", {})
    known = {f.name for f in fields(Measured)}
    values = {k: v for k, v in cost_inputs.items() if k in known}
    values["source"] = f"bench results {results.get('date', '?')}"
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
        f"- findings per event {m.findings_per_event:.4f}, cases per finding {m.cases_per_finding:.2f}"
        f" -> {w.events_per_year * m.findings_per_event / 1e6:.1f} M findings and"
        f" {w.events_per_year * m.findings_per_event * m.cases_per_finding / 1e6:.1f} M cases per year",
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
    """
    w, m, p, lim = workload or Workload(), measured or Measured(), prices or UnitPrices(), limits or BackfillLimits()
    t = template or Template.load()
    yearly = estimate(w, m, p, t)
    events = w.events_per_year * years
    files = w.files_per_year * years
    events_per_file = events / files
    partitions_per_file = max(1, math.ceil(events_per_file / w.partition_rows))
    findings = events * m.findings_per_event
    cases = findings * m.cases_per_finding if with_cases else 0.0
    raw_per_file = events_per_file * m.raw_bytes_per_event
    curated_per_file = events_per_file * m.curated_bytes_per_event
    ingest_file_s = events_per_file / (m.ingest_events_per_s * w.lambda_speed_factor) \
        + (raw_per_file + curated_per_file) / w.s3_bytes_per_s
    partition_events = events_per_file / partitions_per_file
    partition_findings = partition_events * m.findings_per_event
    detect_partition_s = (partition_events / (m.detect_events_per_s * w.lambda_speed_factor) + m.index_load_s
                          + curated_per_file / partitions_per_file / w.s3_bytes_per_s
                          + partition_findings / w.detect_writer_threads * w.put_latency_s
                          + (partition_findings * m.cases_per_finding * w.assign_calls_per_finding * w.put_latency_s
                             if with_cases else 0.0))
    # Without cases (the proposed backfill mode) a finding is written once; with them, also given its case.
    finding_wru = _wru(m.item_bytes["FindingsTable"]) * (
        m.dynamodb_writes_per_finding.get("FindingsTable", 2.0) if with_cases else 1.0)
    stages = {
        "ingest (Lambda)": files * ingest_file_s / lim.ingest_concurrency,
        "detect (Distributed Map children)": files * partitions_per_file * detect_partition_s / lim.detect_concurrency,
        "findings writes (table limit)": findings * finding_wru * (1 + t.gsi_count.get("FindingsTable", 0))
        / lim.dynamodb_table_wru_per_s,
        # every finding of a quarter and rule shares one by_rule_quarter key: one partition's rate each
        "findings writes (hot GSI key per rule and quarter)": findings * finding_wru
        / (lim.dynamodb_partition_wru_per_s * lim.concurrent_quarters),
    }
    if with_cases:
        transitions = cases * ((1 - w.founded_case_share) * len(CASE_PATH_UNFOUNDED)
                               + w.founded_case_share * len(CASE_PATH_FOUNDED))
        stages["case executions (state transitions)"] = transitions / lim.step_functions_transitions_per_s
        # every open case carries its status into the cases table's by_status GSI: one key per status
        stages["case status writes (hot GSI key per status)"] = cases * 3 / lim.dynamodb_partition_wru_per_s
    excluded = {"storage", "point-in-time", "customer-managed key", "requests"}
    one_off = 0.0
    for i in yearly.items:
        if i.service in ("S3", "DynamoDB") and any(i.item.startswith(x) for x in excluded):
            continue  # storage is the yearly bill, not the backfill's
        if i.service in ("KMS", "Athena"):
            continue
        if not with_cases and (i.item.startswith("case ") or i.service == "SNS" or "CaseStep" in i.item
                               or i.item.startswith("CasesTable")):
            continue
        one_off += i.per_year * years
    bottleneck = max(stages, key=lambda k: stages[k])
    return {
        "years": years, "with_cases": with_cases, "events": events, "files": files,
        "partitions": files * partitions_per_file, "findings": findings, "cases": cases,
        "ingest_seconds_per_file": ingest_file_s, "detect_seconds_per_partition": detect_partition_s,
        "stage_hours": {k: v / 3600 for k, v in stages.items()},
        "bottleneck": bottleneck, "wall_hours": stages[bottleneck] / 3600,
        "one_off_usd": one_off, "limits": asdict(lim),
    }


def render_backfill(plan: dict[str, Any]) -> str:
    lines = [f"Backfill of {plan['years']:g} years ({plan['events'] / 1e9:.2f} billion events, {plan['files']:,.0f} files,"
             f" {plan['partitions']:,.0f} partitions, {plan['findings'] / 1e6:.1f} M findings"
             + (f", {plan['cases'] / 1e6:.1f} M cases" if plan["with_cases"] else ", no cases opened") + ")",
             "", "| stage | hours at the limits |", "|---|---:|"]
    lines += [f"| {k} | {v:,.2f} |" for k, v in plan["stage_hours"].items()]
    lines += ["", f"- wall time about **{plan['wall_hours']:,.1f} h**, bound by {plan['bottleneck']}",
              f"- one-off processing cost about **${plan['one_off_usd']:,.0f}** (storage then billed yearly)",
              f"- per file: ingest {plan['ingest_seconds_per_file']:.1f} s; per partition: detect"
              f" {plan['detect_seconds_per_partition']:.1f} s"]
    return "\n".join(lines) + "\n"
