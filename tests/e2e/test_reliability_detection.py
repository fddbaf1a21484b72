"""Fault injection in detection: crashes on a first try are retried by the state machine without
duplicates; a detection that keeps failing is visible, and `accesswatch redrive` finishes it."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from support.reliability import assert_sound, explain, logs_subset, tiny_world, wrap

from accesswatch.cases import assign
from accesswatch.dal.ledger import Ledger
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate.deployment import executions
from accesswatch_tools.operate.redrive import redrive
from accesswatch_tools.operate.stored_state import verify
from accesswatch_tools.operate.world_run import run_world

pytestmark = pytest.mark.e2e

# Small partitions: every file is several partitions, so an execution is part done when it fails.
PARAMETERS = {"PartitionRows": "70"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("tiny"))


class InjectedCrash(RuntimeError):
    """The fault these tests inject (a Lambda crash as Step Functions sees it: a function error)."""


def _crash_after_writes(seen: set[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The detect function does all its work, then dies before answering (its first try only)."""
    def inner(handler: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            result = handler(event, context)
            if event["partition"]["key"] not in seen:
                seen.add(event["partition"]["key"])
                raise InjectedCrash("after the partition's findings and cases were written")
            return result
        return wrapped
    return inner


def _crash_in_case_assignment(seen: set[str], *, part: float) -> Callable[..., Any]:
    """CaseRouter.route that, on a partition's first try, routes ``part`` of its findings and dies."""
    real = assign.CaseRouter.route

    def partial(self: Any, stored: list[dict[str, Any]], **kwargs: Any) -> Any:
        key = stored[0]["partition_key"] if stored else ""
        if key and key not in seen:
            seen.add(key)
            real(self, stored[: int(len(stored) * part)], **kwargs)
            raise InjectedCrash("in the middle of case assignment")
        return real(self, stored, **kwargs)
    return partial


@pytest.mark.parametrize("where", ["after_writes", "before_cases", "mid_cases"])
def test_detect_crash_on_first_try_is_retried_without_duplicates(world: Path, tmp_path: Path, where: str):
    seen: set[str] = set()
    with contextlib.ExitStack() as stack:
        if where == "after_writes":
            wrapper = wrap("DetectFunction", _crash_after_writes(seen))
        else:
            wrapper = None
            stack.enter_context(mock.patch.object(assign.CaseRouter, "route", _crash_in_case_assignment(
                seen, part=0.0 if where == "before_cases" else 0.5)))
        aws = stack.enter_context(EmbeddedAws(parameters=PARAMETERS, handler_wrapper=wrapper))
        logs = logs_subset(world, tmp_path / "logs", 2)
        outcome = run_world(aws, world / "reference", logs, tmp_path / "out")
        assert outcome.ok, "\n".join(outcome.problems + explain(aws))
        crashed = [i for i in aws.invocations if i.function == "DetectFunction" and i.errored]
        assert len(crashed) == len(seen) >= 4  # every partition crashed once (2 files, >= 2 partitions each)
        assert {i.error_type for i in crashed} == {"InjectedCrash"}
        assert outcome.summary["executions"]["DetectionStateMachine"] == {"SUCCEEDED": 2}
        sound = assert_sound(aws, export=tmp_path / "out" / "findings.jsonl")
        assert sound["findings"] and sound["cases"]
        # One workflow per case, though the partitions that opened them ran twice.
        names = Counter(e["name"] for e in executions(aws, "CaseStateMachine"))
        assert set(names.values()) == {1} and len(names) == len(sound["cases"])


def test_failed_detection_is_visible_and_redrive_finishes_it_without_duplicates(world: Path, tmp_path: Path):
    broken = {"on": True}
    target: dict[str, str] = {}

    def inner(handler: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            key = event["partition"]["key"]
            # The second partition of the first file fails on every try while the fault lasts.
            if key.endswith("-00001.parquet") and target.setdefault("ingest_id", event["ingest_id"]) == \
                    event["ingest_id"] and broken["on"]:
                raise InjectedCrash("this partition always fails")
            return handler(event, context)
        return wrapped

    with EmbeddedAws(parameters=PARAMETERS, handler_wrapper=wrap("DetectFunction", inner)) as aws:
        logs = logs_subset(world, tmp_path / "logs", 2)
        outcome = run_world(aws, world / "reference", logs, tmp_path / "out")

        # Visible: the run reports a system failure, the ledger says which file and why.
        assert not outcome.ok
        assert any("1 DetectionStateMachine execution(s) FAILED" in p for p in outcome.problems), outcome.problems
        ledger = Ledger(aws.resource_name("LedgerTable"))
        failed = ledger.get_file(target["ingest_id"])
        assert failed is not None and failed["status"] == "failed"
        assert failed["reason"].startswith("detection failed")
        assert any(p.startswith(f"{failed['key']}: failed") for p in outcome.problems)
        attempts = [i for i in aws.invocations if i.function == "DetectFunction" and i.errored]
        assert len(attempts) == 4  # the first try and the ASL's three retries
        problems = [str(p) for p in verify(aws).problems]
        assert any(p.startswith(f"files: {failed['key']}: left failed") for p in problems), problems
        assert any("detection execution FAILED and not redriven" in p for p in problems), problems

        # The fault is gone; redrive finishes the file with one more execution of the same input.
        broken["on"] = False
        report = redrive(aws, timeout_s=300)
        assert report.ok, report.as_dict()
        assert [(a.kind, a.subject, a.status) for a in report.actions] == [
            ("detection", target["ingest_id"], "SUCCEEDED")]
        redriven = ledger.get_file(target["ingest_id"])
        assert redriven is not None and redriven["status"] == "detected" and redriven["redrives"] == 1
        assert redriven["redriven_from"] == failed["execution_arn"]
        assert redriven["execution_arn"] == report.actions[0].execution_arn
        sfn = aws.client("stepfunctions")
        first = json.loads(sfn.describe_execution(executionArn=failed["execution_arn"])["input"])
        again = json.loads(sfn.describe_execution(executionArn=redriven["execution_arn"])["input"])
        assert first == again

        # Nothing doubled by the partitions that ran in both executions; redrive again does nothing.
        assert_sound(aws)
        assert redrive(aws).actions == []
