"""Shared by the reliability tests: a tiny world, an oracle for the findings, and the soundness checks
run after every fault (verify, plus what verify cannot know: which findings *should* exist)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.detection import detect
from accesswatch.ingest.pipeline import ingest_stream
from accesswatch.reference.index import ReferenceIndex
from accesswatch_tools.embedded.runtime import ACCOUNT_ID, REGION
from accesswatch_tools.operate.stored_state import verify
from accesswatch_tools.operate.world_run import log_files, upload
from accesswatch_tools.truth import score

Wrapper = Callable[[str, Callable[..., Any]], Callable[..., Any]]


def tiny_world(out: Path) -> Path:
    from accesswatch_tools.world import generate

    generate(out, staff=20, clients=600, days=2, seed=11)
    return out


def logs_subset(world: Path, target: Path, count: int) -> Path:
    """A logs directory with the first ``count`` files of the world (uploaded under access-logs/cms/)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted((world / "logs").iterdir())[:count]:
        shutil.copy(path, target / path.name)
    return target


def upload_logs(aws: Any, logs: Path) -> list[str]:
    keys = []
    for path, key in log_files(logs, "cms"):
        upload(aws, path, key)
        keys.append(key)
    return keys


def wrap(logical_id: str, inner: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Wrapper:
    """An EmbeddedAws handler_wrapper that wraps one function's handler and leaves the rest alone."""
    return lambda name, handler: inner(handler) if name == logical_id else handler


def explain(aws: Any) -> list[str]:
    """Why executions failed and which invocations errored: for assertion messages."""
    from accesswatch_tools.operate.deployment import executions

    sfn = aws.client("stepfunctions")
    out = []
    for machine in ("DetectionStateMachine", "CaseStateMachine"):
        for ex in executions(aws, machine):
            if ex["status"] != "FAILED":
                continue
            described = sfn.describe_execution(executionArn=ex["executionArn"])
            events = sfn.get_execution_history(executionArn=ex["executionArn"], reverseOrder=True)["events"][:8]
            out.append(f"{ex['name']}: {described.get('error')}: {(described.get('cause') or '')[:800]}")
            out += [f"    {e['type']} {json.dumps({k: v for k, v in e.items() if k.endswith('Details')}, default=str)[:400]}"
                    for e in events]
    out += [f"{i.function} {i.error_type}: {i.error_message}\n{(i.trace or '')[-1200:]}"
            for i in aws.invocations if i.errored and i.error_type != "InjectedCrash"]
    return out


# ------------------------------------------------------------------------------------ oracle
def expected_findings(aws: Any) -> dict[str, set[str]]:
    """Partition key -> the finding ids that detecting it against its file's snapshot must give.

    Computed here, outside the system, from what it stored: the partitions and the reference
    index the ledger says the partition's file was judged against.
    """
    store = ObjectStore(aws.client("s3"))
    curated = aws.resource_name("CuratedBucket")
    snapshot_of = {f["ingest_id"]: f.get("snapshot_id") for f in Ledger(aws.resource_name("LedgerTable")).all_files()}
    indexes: dict[str, ReferenceIndex] = {}
    expected = {}
    for key in store.keys(curated, "events/"):
        ingest_id = key.rsplit("/", 1)[-1].rsplit("-", 1)[0]
        snapshot = snapshot_of[ingest_id]
        if snapshot not in indexes:
            indexes[snapshot] = ReferenceIndex.from_bytes(
                store.get_bytes(curated, CuratedLayout.reference_index(snapshot)))
        expected[key] = set(detect(store.get_parquet(curated, key), indexes[snapshot])["finding_id"].to_list())
    return expected


def sns_case_notifications(aws: Any) -> Counter[str]:
    """case_id -> how many case_opened messages the integrity topic accepted."""
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT_ID][REGION].topics[aws.resource_name("IntegrityTopic")]
    sent: Counter[str] = Counter()
    for _id, message, *_rest in topic.sent_notifications:
        body = json.loads(message)
        if body.get("event") == "case_opened":
            sent[body["case_id"]] += 1
    return sent


def assert_sound(aws: Any, *, export: Path | None = None, world: Path | None = None) -> dict[str, Any]:
    """After any fault: verify passes, and the findings and cases are exactly what they should be."""
    report = verify(aws, export)
    assert report.ok, "\n".join(str(p) for p in report.problems)

    findings = list(FindingStore(aws.resource_name("FindingsTable")).scan())
    expected = expected_findings(aws)
    assert {f["finding_id"] for f in findings} == set().union(*expected.values()), "findings lost or extra"
    snapshot_of = {f["ingest_id"]: f.get("snapshot_id") for f in Ledger(aws.resource_name("LedgerTable")).all_files()}
    for f in findings:
        # Judged against its file's snapshot, and found by detecting its partition against that snapshot.
        owner = f["partition_key"].rsplit("/", 1)[-1].rsplit("-", 1)[0]
        assert f["snapshot_id"] == snapshot_of[owner], f["finding_id"]
        assert f["finding_id"] in expected[f["partition_key"]], f["finding_id"]

    # Nothing doubled (data contract v2): while nobody decides, one case per user holds all of that user's
    # immediate-tier findings (and the accumulate-tier ones routed to it), one workflow ran it and one
    # notification announced it.
    cases = list(CaseStore(aws.resource_name("CasesTable")).scan_cases())
    immediate: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        if f["rule_status"] == "live" and f.get("tier") == "immediate":
            immediate[f["user_id"]].add(f["finding_id"])
    by_user = {c["user_id"]: c for c in cases}
    assert len(by_user) == len(cases), "two cases for one user"
    assert {u: set(c["finding_ids"]) & set().union(*immediate.values()) for u, c in by_user.items()} == dict(immediate)
    in_cases = [fid for c in cases for fid in c["finding_ids"]]
    assert len(in_cases) == len(set(in_cases)), "a finding in two cases"
    notified = sns_case_notifications(aws)
    assert all(n <= 1 for n in notified.values()), {k: n for k, n in notified.items() if n > 1}
    assert set(notified) <= {c["case_id"] for c in cases}
    if world is not None and export is not None:
        for rule, result in score(export, world / "truth.jsonl").items():
            assert (result.precision, result.recall) == (1.0, 1.0), (rule, result)
    return {"findings": findings, "cases": cases, "report": report}


def log_events(path: Path) -> Any:
    """An access-log file's accepted events, parsed as ingest parses them (a polars frame)."""
    import polars as pl

    frames: list[pl.DataFrame] = []
    ingest_stream([path.read_bytes()], key=path.name, system="cms", partition_rows=10**6,
                  max_decompressed_bytes=10**9, sink=lambda s, d, f, n: frames.append(f))
    return pl.concat(frames)


def declarations_with_pairs(world: Path, logs: list[Path], per_file: int) -> tuple[bytes, set[tuple[str, str]]]:
    """The world's declarations CSV plus ``per_file`` new "friend" declarations for (person, client) pairs
    seen in each of ``logs`` (not declared already), and the pairs added."""
    import polars as pl

    reference = world / "reference"
    rows = list(csv.DictReader(io.StringIO((reference / "declarations.csv").read_text(encoding="utf-8-sig"))))
    staff = list(csv.DictReader(io.StringIO((reference / "staff.csv").read_text(encoding="utf-8-sig"))))
    people = sorted(s["user_id"] for s in staff if s["account_type"] == "person")
    declared = {(r["user_id"], r["client_id"]) for r in rows}
    added: set[tuple[str, str]] = set()
    for path in logs:
        pairs = log_events(path).filter(pl.col("user_id").is_in(people)).select("user_id", "client_id").unique(
            maintain_order=True)
        fresh = [p for p in pairs.iter_rows() if p not in declared][:per_file]
        assert len(fresh) == per_file
        declared |= set(fresh)
        added |= set(fresh)
        rows += [{**rows[0], "user_id": u, "client_id": c, "nature": "friend", "declared_at": "2025-01-01"}
                 for u, c in fresh]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8"), added
