"""``run_world`` with S3 notifications delivered by the runtime's worker (uploads return at once, ``settle``
waits on the ledger and on running executions) gives the same findings and cases as with moto's
synchronous delivery, on a tiny synthesised world; and ``settle`` waits, from the ledger alone, for
uploads whose deliveries are still queued when it starts.

What differs between two runs by construction is normalised away: the reference snapshot id (it hashes the
puts' version ids, which moto draws at random), the times a case was opened, and a case's id (named after
the finding that opened it, which depends on the order in which concurrent detections reached the case).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from support.reliability import tiny_world

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.ledger import Ledger
from accesswatch_tools.embedded.adapters import s3
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate.world_run import log_files, reference_files, run_world, settle, upload

pytestmark = pytest.mark.e2e

CASE_FIELDS_THAT_VARY = ("case_id", "opened_at", "decision_due_at")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("world"))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _outcome(out: Path) -> dict[str, Any]:
    findings = sorted(({k: v for k, v in f.items() if k not in ("snapshot_id", "case_id")}
                       for f in _jsonl(out / "findings.jsonl")), key=lambda f: str(f["finding_id"]))
    cases = sorted(({k: v for k, v in c.items() if k not in CASE_FIELDS_THAT_VARY}
                    for c in _jsonl(out / "cases.jsonl")), key=lambda c: str(c["user_id"]))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    files = sorted((f["key"], f["status"], f.get("accepted"), f.get("quarantined")) for f in summary["files"])
    return {"findings": findings, "cases": cases, "files": files, "totals": summary["totals"],
            "executions": summary["executions"], "by_rule": summary["findings_by_rule"],
            "cases_by_status": summary["cases_by_status"]}


@contextlib.contextmanager
def synchronous_delivery() -> Iterator[None]:
    """moto's own path: the notification delivered inside put_object (the worker left out)."""
    with mock.patch.object(s3, "notifications_off_the_uploader", contextlib.nullcontext):
        yield


def test_run_world_gives_the_same_findings_and_cases_as_synchronous_delivery(world: Path, tmp_path: Path):
    outcomes = {}
    for mode in ("synchronous", "worker"):
        with synchronous_delivery() if mode == "synchronous" else contextlib.nullcontext(), EmbeddedAws() as aws:
            outcome = run_world(aws, world / "reference", world / "logs", tmp_path / mode)
            assert outcome.ok, outcome.problems
            assert s3.deliveries_pending() == 0
        outcomes[mode] = _outcome(tmp_path / mode)
    synchronous, worker = outcomes["synchronous"], outcomes["worker"]
    assert worker["findings"] and worker["cases"]  # the world has something to find
    assert {status for _, status, _, _ in worker["files"]} == {"detected", "ingested"}
    assert worker == synchronous


def test_settle_waits_on_the_ledger_for_uploads_still_queued(world: Path):
    """Uploads that do not wait, made on another thread (as over HTTP to the local endpoint, where no call
    of the caller waits for the worker): settle, from the puts alone, returns once their ingestion is
    recorded."""
    release = threading.Event()

    def held(name: str, handler: Any) -> Any:
        if name != "IngestFunction":
            return handler

        def wait_then_run(event: Any, context: Any) -> Any:
            assert release.wait(120), "the test never released the ingestion"
            return handler(event, context)
        return wait_then_run

    with EmbeddedAws(handler_wrapper=held) as aws:
        puts = []
        logs = log_files(world / "logs", "cms")[:2]

        def uploads() -> None:
            with s3.uploads_not_waiting():
                for path in reference_files(world / "reference"):
                    puts.append(upload(aws, path, f"reference/{path.name}"))
                for path, key in logs:
                    puts.append(upload(aws, path, key))

        uploader = threading.Thread(target=uploads)
        uploader.start()
        uploader.join(120)
        assert s3.deliveries_pending() >= len(logs)  # the ingestions are held: still queued
        threading.Timer(0.5, release.set).start()
        counts = settle(aws, CaseStore(aws.resource_name("CasesTable")), 300, puts=puts)
        files = {f["key"]: f["status"] for f in Ledger(aws.resource_name("LedgerTable")).all_files()}
        assert {files[key] for _, key in logs} == {"detected"}
        assert counts["DetectionStateMachine"] == {"SUCCEEDED": len(logs)}
        assert not counts["CaseStateMachine"].get("FAILED")
