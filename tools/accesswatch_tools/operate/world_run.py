"""``accesswatch run``: upload as production receives files, wait for the system, export what this run did.

The same on the embedded runtime, the local endpoint and a deployed stack (``--stack``): only the
deployment's boto3 clients and the DAL are used. What "this run" means: operate/run_scope.py."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accesswatch.cases.teamwork import case_of_execution
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import FileStatus, Ledger, _plain
from accesswatch.dal.objects import ObjectStore
from accesswatch.models import SourceObject
from accesswatch_tools.embedded.adapters import s3 as s3_adapters
from accesswatch_tools.embedded.template import resources_of_type
from accesswatch_tools.operate.deployment import Deployment, backoff, executions, wait_for_executions
from accesswatch_tools.operate.export import (
    collect_cases,
    collect_findings,
    collect_quarantine,
    export_case,
    export_finding,
    ledger_files,
    quarantine_of,
    summarise,
    write_jsonl,
)
from accesswatch_tools.operate.progress import Progress
from accesswatch_tools.operate.run_scope import (
    CASE_ALREADY_HELD,
    PARTITION_COLUMNS,
    RELEASED,
    UPLOADED,
    RunEvents,
    RunFile,
    case_line,
    case_role,
    combine_events,
    finding_line,
    match_findings,
    new_finding_ids,
    partition_events,
    summarise_run,
    user_windows,
)

# Reference kinds go up in this order so that the index is compiled once, when staff arrives last.
_REFERENCE_ORDER = ("watchlist", "assignments", "declarations", "relationships", "clients", "staff")
WAITING_ON_A_PERSON = frozenset({"investigating", "awaiting_outcome"})
UNFINISHED_FILE_STATES = frozenset({FileStatus.INGESTING.value, FileStatus.DETECTING.value,
                                    FileStatus.AWAITING_REFERENCE.value, FileStatus.FAILED.value})


@dataclass
class RunOutcome:
    summary: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def reference_files(reference_dir: Path) -> list[Path]:
    files = [p for p in reference_dir.iterdir() if p.is_file() and not p.name.startswith(".")]

    def order(p: Path) -> tuple[int, str]:
        kind = p.name.split(".", 1)[0].lower()
        return (_REFERENCE_ORDER.index(kind) if kind in _REFERENCE_ORDER else -1, p.name)

    return sorted(files, key=order)


def log_files(logs_dir: Path, system: str) -> list[tuple[Path, str]]:
    """(file, raw-bucket key): files at the top level go under ``system``, sub-folders name their own."""
    out = []
    for path in sorted(p for p in logs_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(logs_dir)
        key = f"access-logs/{system}/{rel.as_posix()}" if len(rel.parts) == 1 else f"access-logs/{rel.as_posix()}"
        out.append((path, key))
    return out


def upload(aws: Deployment, path: Path, key: str) -> SourceObject:
    """Upload as production receives files; returns the put (``settle`` waits for its ingestion).

    The file object itself is the body: botocore streams it (no copy of the file in memory here). On the
    embedded runtime, in process, the put returns once the notification is delivered (by the runtime's
    worker, embedded/adapters/s3.py), unless within ``uploads_not_waiting`` as ``run_world`` uploads; over
    HTTP to the local endpoint, as on AWS, it returns once stored."""
    bucket = aws.resource_name("RawBucket")
    with path.open("rb") as body:
        response = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return SourceObject(bucket, key, str(response.get("ETag", "")).strip('"'), response.get("VersionId"))


def s3_triggered_functions(aws: Deployment) -> set[str]:
    return {
        name for name, res in resources_of_type(aws.template, "AWS::Serverless::Function").items()
        if any(e.get("Type") == "S3" for e in res["Properties"].get("Events", {}).values())
    }


def notified(aws: Deployment, key: str) -> bool:
    """Whether a put of ``key`` to the raw bucket triggers a function (its S3 events' key filters)."""
    for res in resources_of_type(aws.template, "AWS::Serverless::Function").values():
        for event in res["Properties"].get("Events", {}).values():
            props = event.get("Properties", {})
            if event.get("Type") != "S3" or props.get("Bucket") != {"Ref": "RawBucket"}:
                continue
            rules = {r["Name"].lower(): r["Value"] for r in props.get("Filter", {}).get("S3Key", {}).get("Rules", [])}
            if key.startswith(rules.get("prefix", "")) and key.endswith(rules.get("suffix", "")):
                return True
    return False


def _ledger_items(aws: Deployment, ids: list[str], *, whole: bool = False) -> dict[str, dict[str, Any]]:
    """The ledger's file items of ``ids`` (ingest or put ids), read consistently, 100 keys per request: the
    status and execution only, or ``whole`` items."""
    dynamodb = aws.resource("dynamodb")
    table = aws.resource_name("LedgerTable")
    found: dict[str, dict[str, Any]] = {}
    projection: dict[str, Any] = {} if whole else {"ProjectionExpression": "pk, #s, execution_arn",
                                                   "ExpressionAttributeNames": {"#s": "status"}}
    for start in range(0, len(ids), 100):
        request: dict[str, Any] = {table: {"Keys": [{"pk": Ledger.file_pk(i)} for i in ids[start:start + 100]],
                                           "ConsistentRead": True, **projection}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(table, []):
                found[str(item["pk"]).removeprefix("FILE#")] = _plain(item) if whole else item
            request = response.get("UnprocessedKeys") or {}
    return found


def _recorded(item: dict[str, Any] | None) -> bool:
    """A put whose ingestion is recorded: any status but ingesting, and a detecting file's execution started
    (its ledger item says detecting before the execution starts, then names it)."""
    if item is None or item.get("status") == FileStatus.INGESTING.value:
        return False
    return item.get("status") != FileStatus.DETECTING.value or bool(item.get("execution_arn"))


def wait_for_ingestion(aws: Deployment, puts: Sequence[SourceObject], deadline: float, *,
                       failures_before: int = 0) -> None:
    """Wait until the ledger records the ingestion of every put that triggers a function (by its put id,
    else its content id: the reference function keys a file by the put, the ingest function by its
    content). A function that failed before writing the ledger leaves no item: the wait ends when the
    failures of the raw bucket's functions since ``failures_before`` account for every put not recorded.
    The same on AWS and on the embedded runtime; on AWS a failed delivery is retried, so it waits longer."""
    waiting = {p.put_id: p for p in puts if notified(aws, p.key)}
    s3_functions = s3_triggered_functions(aws)
    pause = backoff(0.05)
    while waiting:
        items = _ledger_items(aws, sorted(set(waiting) | {p.ingest_id for p in waiting.values()}))
        failed_items = 0
        for put_id, put in list(waiting.items()):
            item = items.get(put_id) or items.get(put.ingest_id)
            if _recorded(item):
                del waiting[put_id]
                failed_items += item is not None and item.get("status") == FileStatus.FAILED.value
        if not waiting:
            return
        failures = [f for f in aws.invocation_failures()[failures_before:] if f["function"] in s3_functions]
        if len(failures) - failed_items >= len(waiting):
            return  # every put not recorded is accounted for by a failed invocation (run_world reports it)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} uploaded file(s) not yet ingested")
        time.sleep(pause())


def _waiting_on_a_person(cases: CaseStore, case_ids: set[str]) -> set[str]:
    if len(case_ids) > 25:
        return case_ids & cases.ids_with_status(WAITING_ON_A_PERSON)
    return {c for c in case_ids if ((cases.get(c) or {}).get("status") in WAITING_ON_A_PERSON)}


def _where_stuck(sfn: Any, cases: CaseStore, arn: str, case_id: str) -> str:
    """Where a case execution that did not settle stands (ids, statuses and state names only): its status, its
    case's, and its last history events."""
    try:
        status = sfn.describe_execution(executionArn=arn)["status"]
        events = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=4)["events"]
        last = ", ".join(e["type"] + (f" {e['stateEnteredEventDetails']['name']}"
                                      if "stateEnteredEventDetails" in e else "") for e in events)
    except Exception as error:  # noqa: BLE001 - a diagnostic: say what could not be read
        return f"{arn.rsplit(':', 1)[-1]} (not described: {type(error).__name__})"
    return (f"{arn.rsplit(':', 1)[-1]} {status}, case {case_id} {(cases.get(case_id) or {}).get('status')},"
            f" last events: {last}")


def settle(aws: Deployment, cases: CaseStore, timeout_s: float, *, puts: Sequence[SourceObject] = (),
           failures_before: int = 0) -> dict[str, Counter[str]]:
    """Wait for the ingestion of ``puts``, for detection to finish and for every case to reach a person (or
    finish); returns the count of executions by status per state machine (one full listing each, at the end).

    Polls back off (0.05 s up to 1 s); they list only running executions, and a case execution whose case
    is known to wait on a person is not looked at again: only the others are described, one by one."""
    deadline = time.monotonic() + timeout_s
    wait_for_ingestion(aws, puts, deadline, failures_before=failures_before)
    wait_for_executions(aws, "DetectionStateMachine", timeout_s=max(0.0, deadline - time.monotonic()))
    sfn = aws.client("stepfunctions")
    known_waiting: set[str] = set()  # execution arns whose case waits on a person
    pause = backoff(0.05)
    while True:
        # A redriven case's execution is named <case_id>-redrive-<n>, a reopened one's <case_id>-reopen-<n>.
        unsettled = {e["executionArn"]: case_of_execution(e["name"])
                     for e in executions(aws, "CaseStateMachine", status="RUNNING")
                     if e["executionArn"] not in known_waiting}
        while unsettled:
            waiting = _waiting_on_a_person(cases, set(unsettled.values()))
            for arn, case_id in list(unsettled.items()):
                if case_id in waiting:
                    known_waiting.add(arn)
                    del unsettled[arn]
            if not unsettled:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"case executions still running after {timeout_s:.0f}s: "
                                   + "; ".join(_where_stuck(sfn, cases, arn, case_id)
                                               for arn, case_id in sorted(unsettled.items())[:5]))
            time.sleep(pause())
            for arn in list(unsettled):
                if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
                    del unsettled[arn]
        counts = {name: executions(aws, name) for name in resources_of_type(aws.template,
                                                                            "AWS::Serverless::StateMachine")}
        # Exact at the end: a case execution started since the first listing is looked at too.
        if all(e["executionArn"] in known_waiting for e in counts.get("CaseStateMachine", [])
               if e["status"] == "RUNNING"):
            return {name: Counter(e["status"] for e in found) for name, found in counts.items()}


def export_all(aws: Deployment, out_dir: Path, executions: dict[str, Counter[str]],
               extra: dict[str, Any], *, run: RunScope | None = None) -> dict[str, Any]:
    """Write ``findings.jsonl``, ``cases.jsonl``, ``quarantine.jsonl`` and ``summary.json`` to ``out_dir``:
    what ``run`` did (``export_run``), or without it everything the system holds (findings and cases from
    whole-table scans, every file of the ledger)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if run is not None:
        return export_run(aws, out_dir, run, extra)
    dynamodb = aws.resource("dynamodb")
    ledger = Ledger(aws.resource_name("LedgerTable"), dynamodb)
    findings = collect_findings(FindingStore(aws.resource_name("FindingsTable"), dynamodb))
    cases = collect_cases(CaseStore(aws.resource_name("CasesTable"), dynamodb))
    files = ledger_files(ledger)
    quarantine = collect_quarantine(ObjectStore(aws.client("s3")), aws.resource_name("CuratedBucket"), files)
    write_jsonl(out_dir / "findings.jsonl", [export_finding(f) for f in findings])
    write_jsonl(out_dir / "cases.jsonl", [export_case(c) for c in cases])
    write_jsonl(out_dir / "quarantine.jsonl", quarantine)
    pointer = ledger.reference_pointer() or {}
    summary = summarise(files, findings, cases, executions,
                        {"snapshot_id": pointer.get("snapshot_id"), **extra})
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


@dataclass
class RunScope:
    """What a run knows of its own files: each upload's ``RunFile`` (with the ledger status its file had
    before the run) and the files that waited for reference data when it began."""

    files: list[RunFile] = field(default_factory=list)
    prior_status: dict[str, str] = field(default_factory=dict)  # ingest id -> ledger status before the run
    waiting_before: dict[str, dict[str, Any]] = field(default_factory=dict)  # ingest id -> ledger item

    def with_released(self, items: dict[str, dict[str, Any]]) -> list[RunFile]:
        """The run's files: its uploads, then each file that waited before the run and waits no longer (the
        run's reference data released it; ``items``: the ledger's items of ``waiting_before`` now)."""
        mine = {f.file_id for f in self.files}
        released = [RunFile(file_id, str(before.get("key", "")), RELEASED, str(before.get("status")))
                    for file_id, before in sorted(self.waiting_before.items())
                    if file_id not in mine and (items.get(file_id) or {}).get("status")
                    not in (None, FileStatus.AWAITING_REFERENCE.value)]
        return [*self.files, *released]


def begin_run(aws: Deployment, log_keys: Sequence[str]) -> RunScope:
    """Before the uploads: the ledger status of every stored version of each log key (one version listing per
    key; an identical re-upload maps to the same ledger item), and the files waiting for reference data (one
    query of the ledger's status index). With ``--stack`` the caller needs ``s3:ListBucketVersions`` on the raw
    bucket for the listing."""
    raw = aws.resource_name("RawBucket")
    objects = ObjectStore(aws.client("s3"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = dict(zip(log_keys, pool.map(lambda key: objects.version_etags(raw, key), log_keys), strict=True))
    earlier = {SourceObject(raw, key, etag, version).ingest_id
               for key, found in versions.items() for etag, version in found}
    scope = RunScope()
    scope.prior_status = {i: str(item.get("status")) for i, item in _ledger_items(aws, sorted(earlier)).items()}
    ledger = Ledger(aws.resource_name("LedgerTable"), aws.resource("dynamodb"))
    scope.waiting_before = {str(item["ingest_id"]): item
                            for item in ledger.files_with_status(FileStatus.AWAITING_REFERENCE)}
    return scope


def run_file(scope: RunScope, put: SourceObject) -> RunFile:
    """The ``RunFile`` of an upload: access logs by ingest id, reference snapshots by put id (every put of a
    reference file is its own snapshot, never seen before)."""
    if put.key.startswith("reference/"):
        return RunFile(put.put_id, put.key, UPLOADED)
    return RunFile(put.ingest_id, put.key, UPLOADED, scope.prior_status.get(put.ingest_id))


def _run_events(objects: ObjectStore, curated: str, items: dict[str, dict[str, Any]], files: Sequence[RunFile]
                ) -> tuple[RunEvents, set[str]]:
    """The events of the run's files (from each file's manifest and its partitions, read in parallel), and
    the partitions of the files the run judged for the first time."""
    partitions: list[tuple[RunFile, dict[str, Any]]] = []
    with_manifest = [(f, str(items[f.file_id]["manifest_key"])) for f in files
                     if (items.get(f.file_id) or {}).get("manifest_key")]
    with ThreadPoolExecutor(max_workers=8) as pool:
        manifests = pool.map(lambda pair: objects.get_json(curated, pair[1]), with_manifest)
        for (run_file, _key), manifest in zip(with_manifest, manifests, strict=True):
            partitions += [(run_file, p) for p in manifest]
        frames = pool.map(lambda pair: partition_events(
            objects.get_parquet(pair[1]["bucket"], pair[1]["key"], PARTITION_COLUMNS),
            system=str(pair[1]["system"]), source_key=pair[0].key), partitions)
        events = combine_events(frames)
    judged = {str(p["key"]) for run_file, p in partitions if run_file.judged_by_run}
    return events, judged


def export_run(aws: Deployment, out_dir: Path, scope: RunScope, extra: dict[str, Any]) -> dict[str, Any]:
    """Write what this run did to ``out_dir`` (operate/run_scope.py says how it is worked out). Reads: the
    ledger items of the run's files (batched), their manifests and partitions (only four columns; the run
    keeps about 12 bytes an event), the stored findings of each user of the run's events over the span of
    that user's events (``_candidate_findings``: one ``by_user`` query per user), the run's
    cases and the ``opened`` history entry of each case its new findings are in (both batched), the
    quarantine object of each of its files that has one, and the status of each execution the run started
    (ListExecutions pages, newest first, the rest described one by one). No table is scanned, locally or
    with ``--stack``. benchmarks/export_bench.py times it alone and counts its calls."""
    dynamodb = aws.resource("dynamodb")
    curated = aws.resource_name("CuratedBucket")
    objects = ObjectStore(aws.client("s3"))
    items = _ledger_items(aws, sorted({f.file_id for f in scope.files} | set(scope.waiting_before)), whole=True)
    files = scope.with_released(items)
    events, judged = _run_events(objects, curated, items, files)

    candidates = _candidate_findings(FindingStore(aws.resource_name("FindingsTable"), dynamodb),
                                     user_windows(events))
    sources = match_findings(list(candidates.values()), events)
    findings = sorted((candidates[f] for f in sources),
                      key=lambda i: (str(i.get("occurred_at_utc", "")), str(i.get("event_id", "")), str(i.get("rule")),
                                     str(i.get("system", "")), str(i["finding_id"])))
    new_ids = new_finding_ids(findings, judged)
    finding_lines = [finding_line(f, already_known=str(f["finding_id"]) not in new_ids,
                                  source_keys=sources[str(f["finding_id"])]) for f in findings]

    cases_store = CaseStore(aws.resource_name("CasesTable"), dynamodb)
    run_ids = set(sources)
    cases = list(cases_store.get_cases({str(f["case_id"]) for f in findings if f.get("case_id")}).values())
    cases.sort(key=lambda c: (str(c.get("opened_at", "")), str(c["case_id"])))
    openings = _opening_findings(cases_store, [c for c in cases if any(f in new_ids for f in c.get("finding_ids") or [])])
    case_lines = [case_line(c, role=case_role([str(f) for f in c.get("finding_ids") or []], new_ids,
                                              openings.get(str(c["case_id"]), [])), run_finding_ids=run_ids)
                  for c in cases]

    quarantine = quarantine_of(objects, curated, [items[f.file_id] for f in files if f.file_id in items])
    write_jsonl(out_dir / "findings.jsonl", finding_lines)
    write_jsonl(out_dir / "cases.jsonl", case_lines)
    write_jsonl(out_dir / "quarantine.jsonl", quarantine)
    executions = _run_executions(aws, [items[f.file_id] for f in files if f.judged_by_run and f.file_id in items],
                                 [c for c, line in zip(cases, case_lines, strict=True)
                                  if line["run_role"] != CASE_ALREADY_HELD])
    pointer = Ledger(aws.resource_name("LedgerTable"), dynamodb).reference_pointer() or {}
    summary = summarise_run([(f, items.get(f.file_id)) for f in files], findings, finding_lines, cases, case_lines,
                            executions, {"snapshot_id": pointer.get("snapshot_id"), **extra})
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _candidate_findings(store: FindingStore, windows: Mapping[str, tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Every stored finding of a user of ``windows`` whose ``occurred_at_utc`` lies in that user's window, by id:
    one ``by_user`` query per user. (An index of rule and quarter would take fewer calls on a small world, but it
    can only name the rules of this checkout's catalog: a finding stored under a rule the deployed stack or an
    older local state knows and this catalog does not would be left out without a word.)"""
    found: dict[str, dict[str, Any]] = {}
    for user_id, (since, until) in sorted(windows.items()):
        for finding in store.find(user_id=user_id, since_utc=since, until_utc=until):
            found[str(finding["finding_id"])] = finding
    return found


def _opening_findings(cases: CaseStore, opened: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """The finding ids of each case's ``opened`` history entry (its key derives from the case's ``opened_at``:
    read in batches of 100; a case whose entry is not there is read through its whole history)."""
    keys = {str(c["case_id"]): CaseStore.opened_key(str(c["case_id"]), str(c.get("opened_at"))) for c in opened}
    found = cases.get_many(list(keys.values()))
    out: dict[str, list[str]] = {}
    for case_id, key in keys.items():
        entry = found.get((key["pk"], key["sk"]))
        if entry is None:
            entry = next((e for e in cases.history(case_id) if e.get("state") == "opened"), None)
        out[case_id] = [str(f) for f in ((entry or {}).get("finding_ids") or [])]
    return out


def _run_executions(aws: Deployment, file_items: Sequence[dict[str, Any]], cases: Sequence[dict[str, Any]]
                    ) -> dict[str, Counter[str]]:
    """The status of each execution the run started: the detection of each file it judged, the workflow of
    each case it opened or joined, counted by state machine and status: from ListExecutions where it lists them,
    else one DescribeExecution each. Where the listing lags (AWS: ``listing_lags``), a listed RUNNING may have
    ended since, so only a listed final status is taken and the rest described."""
    sfn = aws.client("stepfunctions")
    lags = bool(getattr(aws, "listing_lags", False))
    counts: dict[str, Counter[str]] = {"DetectionStateMachine": Counter(), "CaseStateMachine": Counter()}
    for name, arns in (("DetectionStateMachine", [i.get("execution_arn") for i in file_items]),
                       ("CaseStateMachine", [c.get("execution_arn") for c in cases])):
        wanted = {str(a) for a in arns if a}
        statuses = _listed_statuses(sfn, aws.resource_name(name), wanted) if wanted else {}
        if lags:
            statuses = {arn: status for arn, status in statuses.items() if status != "RUNNING"}
        for arn in sorted(wanted):
            status = statuses.get(arn) or sfn.describe_execution(executionArn=arn)["status"]
            counts[name][status] += 1
    return counts


LIST_PAGE = 1000  # ListExecutions' largest page


def _listed_statuses(sfn: Any, state_machine_arn: str, wanted: set[str]) -> dict[str, str]:
    """The status of the executions of ``wanted`` that ListExecutions shows (newest first, 1,000 a page: a
    run's own executions are among the first pages), paging while more than one is missing, at most one page
    for ten executions wanted: the rest is described one by one (``_run_executions``)."""
    found: dict[str, str] = {}
    kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": LIST_PAGE}
    pages = max(1, len(wanted) // 10)
    while len(wanted) - len(found) > 1 and pages > 0:
        pages -= 1
        page = sfn.list_executions(**kwargs)
        for execution in page.get("executions", []):
            if execution["executionArn"] in wanted:
                found[execution["executionArn"]] = execution["status"]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    return found


def run_world(aws: Deployment, reference_dir: Path, logs_dir: Path, out_dir: Path, *, system: str = "cms",
              timeout_s: float = 1800.0) -> RunOutcome:
    """Upload a world's reference snapshots then its logs, wait for the system, export what this run did
    (``export_run``: its files, the findings of their events, new or already known, and their cases).
    Problems are this run's: a failed invocation since it began, a file of the run left unfinished, an
    execution it started that did not succeed."""
    started = time.monotonic()
    refs = reference_files(reference_dir)
    logs = log_files(logs_dir, system)
    failures_before = len(aws.invocation_failures())
    scope = begin_run(aws, [key for _, key in logs])
    puts: list[SourceObject] = []
    for label, files in (("uploading reference", [(p, f"reference/{p.name}") for p in refs]),
                         ("uploading logs", logs)):
        bar = Progress(label, len(files))
        for path, key in files:
            # The uploads do not wait for the ingestion they trigger (on the embedded runtime in process
            # too): settle waits for all of it.
            with s3_adapters.uploads_not_waiting():
                put = upload(aws, path, key)
            if isinstance(put, SourceObject):  # a wrapped upload (the bench's timing) may not return it
                puts.append(put)
                scope.files.append(run_file(scope, put))
            bar.advance()
        bar.close()
    bar = Progress("ingesting and detecting", 1)
    cases = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    execution_counts = settle(aws, cases, timeout_s, puts=puts, failures_before=failures_before)
    bar.advance()
    bar.close()
    failed = aws.invocation_failures()[failures_before:]
    summary = export_all(aws, out_dir, execution_counts, {
        "elapsed_s": round(time.monotonic() - started, 2),
        "invocation_errors": dict(Counter(f"{f['function']}:{f['error_type']}" for f in failed)),
    }, run=scope)
    problems = []
    s3_functions = s3_triggered_functions(aws)
    for failure in failed:
        if failure["function"] in s3_functions:
            problems.append(f"{failure['function']} failed ({failure['error_type']}) on an uploaded object")
    for row in summary["files"]:
        if row["status"] in UNFINISHED_FILE_STATES:
            problems.append(f"{row['key']}: {row['status']}" + (f" ({row['reason']})" if row.get("reason") else ""))
    for name, counts in summary["executions"].items():
        for status in ("FAILED", "TIMED_OUT", "ABORTED"):
            if counts.get(status):
                errors = ", ".join(f"{k} x{n}" for k, n in sorted(summary["invocation_errors"].items()))
                problems.append(f"{counts[status]} {name} execution(s) {status}"
                                + (f" (invocation errors: {errors})" if errors else ""))
    return RunOutcome(summary, problems)
