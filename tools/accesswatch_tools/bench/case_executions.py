"""What a case execution and a detection execution cost on the embedded runtime, Step Functions adapters off vs on.

The template's two state machines run on ``EmbeddedAws`` with every handler replaced by a stub that answers
what the ASL reads (a triage, a recorded decision, a detected partition...), so the figures are the cost of
moto's Step Functions and of the integrations it calls (Lambda, SNS, S3), not of the handlers' own work.
A case goes Triage, Notify (SNS), RecordNotified, AwaitDecision (a task token, answered by this script as
the CLI would), RecordDecision, CloseUnfounded; a detection maps over a manifest of ``--partitions``
partitions (a Distributed Map over S3), then OpenQueuedCases and RecordSuccess.

Each mode runs in its own interpreter, one after the other:

- ``moto``: none of the Step Functions speed adapters (moto's ordinary path);
- ``before``: the runtime before issue 13 (no direct dispatch of the API calls, no execution index, each
  definition validated at every CreateStateMachine);
- ``on``: every adapter, as the runtime runs.

    .venv/bin/python -m accesswatch_tools.bench.case_executions [--cases 20] [--detections 5] [--partitions 4]
        [--starts 3]

prints wall and CPU milliseconds per execution (CPU: the whole process's, divided by the executions), the
CPU of one ``describe_execution`` and one ``start_execution`` through the client (the CLI's settle loop, the
detect function), and the CPU of bringing a runtime up (``--starts`` runtimes one after the other in one
process, the first left out: it imports the modules).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

# The Step Functions speed adapters issue 13 added (states_evaluated_in_line was off by default until session 9).
ISSUE_13 = ("definitions_validated_once", "executions_found_by_arn", "direct_dispatch", "states_evaluated_in_line",
            "started_threads_not_kept", "programs_evaluated_in_line")
MODES: dict[str, tuple[str, ...]] = {
    "moto": ("cached_asl_parser", "cached_task_clients", "cached_jsonpath", "direct_lambda_tasks", *ISSUE_13),
    "before": ISSUE_13,
    "on": (),
}
WAIT_S = 600.0


class _Stubs:
    """Handler stubs (``EmbeddedAws(handler_wrapper=...)``) answering what the template's ASLs read."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.closed: set[str] = set()
        self.recorded: set[str] = set()
        self.changed = threading.Condition()

    def _note(self, into: set[str] | dict[str, str], key: str, value: str = "") -> None:
        with self.changed:
            if isinstance(into, dict):
                into[key] = value
            else:
                into.add(key)
            self.changed.notify_all()

    def wait(self, done: Callable[[], bool], what: str) -> None:
        with self.changed:
            if not self.changed.wait_for(done, timeout=WAIT_S):
                raise RuntimeError(f"timed out waiting for {what}")

    def case_step(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        step, case_id = event["step"], event["case_id"]
        if step == "triage":
            return {"priority": "high", "route": "integrity", "rules": ["SELF_RECORD"], "finding_count": 1,
                    "tier": "immediate", "score": 1.0, "clients": ["c-1"], "source": "detection"}
        if step == "await_decision":
            self._note(self.tokens, case_id, event["task_token"])
            return {"waiting": True}
        if step == "record_decision":
            return {"accepted": True, "decision": event["decision"]["decision"]}
        if step == "close_unfounded":
            self._note(self.closed, case_id)
        return {"step": step, "case_id": case_id}

    def detection_outcome(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._note(self.recorded, event["ingest_id"])
        return {"ingest_id": event["ingest_id"], "outcome": event["outcome"]}

    def wrapper(self, name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        stubs: dict[str, Callable[..., Any]] = {
            "CaseStepFunction": self.case_step,
            "DetectFunction": lambda event, context: {"partition": event["partition"], "findings": 0},
            "CaseQueueFunction": lambda event, context: {"opened": 0},
            "DetectionOutcomeFunction": self.detection_outcome,
        }
        return stubs.get(name, handler)


def _settled(arns: list[str]) -> None:
    """Waits for the executions from moto's backend itself (a describe_execution through botocore every few
    milliseconds would cost more than what is measured)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from accesswatch_tools.embedded.runtime import ACCOUNT_ID, REGION

    backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
    for arn in arns:
        deadline = time.monotonic() + WAIT_S
        while (status := backend.describe_execution(arn).status) == "RUNNING":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{arn} still running")
            time.sleep(0.02)
        if status != "SUCCEEDED":
            raise RuntimeError(f"{arn} ended {status}")


def _cases(aws: Any, stubs: _Stubs, prefix: str, n: int) -> tuple[float, float]:
    sfn = aws.client("stepfunctions")
    machine = aws.resource_name("CaseStateMachine")
    ids = [f"CASE-{prefix}-{i}" for i in range(n)]
    wall, cpu = time.perf_counter(), time.process_time()
    arns = [sfn.start_execution(stateMachineArn=machine, name=case_id, input=json.dumps({"case_id": case_id}))
            ["executionArn"] for case_id in ids]
    stubs.wait(lambda: all(case_id in stubs.tokens for case_id in ids), "case task tokens")
    for case_id in ids:
        sfn.send_task_success(taskToken=stubs.tokens[case_id],
                              output=json.dumps({"decision": "unfounded", "actor": "bench"}))
    stubs.wait(lambda: all(case_id in stubs.closed for case_id in ids), "closed cases")
    _settled(arns)
    return time.perf_counter() - wall, time.process_time() - cpu


def _detections(aws: Any, stubs: _Stubs, prefix: str, n: int, partitions: int) -> tuple[float, float]:
    from accesswatch_tools.embedded.runtime import ARTIFACTS_BUCKET

    sfn = aws.client("stepfunctions")
    machine = aws.resource_name("DetectionStateMachine")
    key = f"bench/{prefix}/manifest.json"
    aws.client("s3").put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=json.dumps(
        [{"key": f"curated/bench/part-{i}.parquet", "rows": 1} for i in range(partitions)]).encode())
    ids = [f"{prefix}-{i}" for i in range(n)]
    wall, cpu = time.perf_counter(), time.process_time()
    arns = [sfn.start_execution(stateMachineArn=machine, name=f"detect-{ingest_id}", input=json.dumps({
        "manifest": {"bucket": ARTIFACTS_BUCKET, "key": key}, "snapshot_id": "bench", "ingest_id": ingest_id,
    }))["executionArn"] for ingest_id in ids]
    stubs.wait(lambda: all(ingest_id in stubs.recorded for ingest_id in ids), "recorded detections")
    _settled(arns)
    return time.perf_counter() - wall, time.process_time() - cpu


def _api_calls(aws: Any, calls: int) -> tuple[float, float]:
    """CPU ms of one describe_execution (of every execution in turn, as the CLI's settle loop and export ask)
    and of one start_execution of a machine that ends at once, through the client."""
    sfn = aws.client("stepfunctions")
    arns = [e["executionArn"] for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=aws.resource_name("CaseStateMachine")) for e in page["executions"]]
    cpu = time.process_time()
    for i in range(calls):
        sfn.describe_execution(executionArn=arns[i % len(arns)])
    describe = time.process_time() - cpu
    machine = sfn.create_state_machine(name="bench-pass", roleArn="arn:aws:iam::123456789012:role/bench",
                                       definition=json.dumps({"StartAt": "End", "States": {"End": {"Type": "Succeed"}}}))
    cpu = time.process_time()
    for i in range(calls):
        sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=f"bench-{i}", input="{}")
    start = time.process_time() - cpu  # the executions themselves run on their own threads: counted too
    return 1000 * describe / calls, 1000 * start / calls


def _starts(adapted: Callable[[], Any], starts: int) -> float:
    """CPU ms of bringing a runtime up and down, over ``starts`` runtimes after a first (imports)."""
    from accesswatch_tools.embedded.adapters import stepfunctions
    from accesswatch_tools.embedded.runtime import EmbeddedAws

    cpu_per_start = []
    with mock.patch.object(stepfunctions, "adapted", adapted):
        for _ in range(starts + 1):
            cpu = time.process_time()
            with EmbeddedAws():
                pass
            cpu_per_start.append(time.process_time() - cpu)
    return 1000 * sum(cpu_per_start[1:]) / starts


def measure(mode: str, cases: int, detections: int, partitions: int, starts: int) -> dict[str, float]:
    """One mode's figures, in this interpreter."""
    from accesswatch_tools.embedded.adapters import stepfunctions
    from accesswatch_tools.embedded.runtime import EmbeddedAws

    original = stepfunctions.adapted

    def adapted() -> Any:
        return original(without=MODES[mode])

    stubs = _Stubs()
    start_cpu_ms = _starts(adapted, starts) if starts else 0.0
    with mock.patch.object(stepfunctions, "adapted", adapted), EmbeddedAws(handler_wrapper=stubs.wrapper) as aws:
        _cases(aws, stubs, "warm", 1)  # loads the modules, parses the ASL once
        _detections(aws, stubs, "warm", 1, partitions)
        case_wall, case_cpu = _cases(aws, stubs, "bench", cases)
        detect_wall, detect_cpu = _detections(aws, stubs, "bench", detections, partitions)
        describe_ms, start_ms = _api_calls(aws, 200)
    return {"case_wall_ms": 1000 * case_wall / cases, "case_cpu_ms": 1000 * case_cpu / cases,
            "detection_wall_ms": 1000 * detect_wall / detections, "detection_cpu_ms": 1000 * detect_cpu / detections,
            "describe_cpu_ms": describe_ms, "start_cpu_ms": start_ms, "runtime_start_cpu_ms": start_cpu_ms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--detections", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=4, help="partitions in each detection's manifest")
    parser.add_argument("--starts", type=int, default=3, help="runtimes brought up to measure start-up (0: none)")
    parser.add_argument("--modes", default="moto,before,on", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.cases, args.detections, args.partitions, args.starts)))
        return 0
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}")
    print(f"{args.cases} case executions, {args.detections} detection executions of {args.partitions} partitions "
          "each, handlers stubbed (ms per execution)")
    print(f"{'mode':<8} {'case wall':>10} {'case CPU':>10} {'detection wall':>15} {'detection CPU':>14} "
          f"{'describe CPU':>13} {'start CPU':>10} {'runtime start CPU':>18}")
    for mode in modes:  # one interpreter per mode, one at a time
        child = subprocess.run(
            [sys.executable, "-m", "accesswatch_tools.bench.case_executions", "--child", mode,
             "--cases", str(args.cases), "--detections", str(args.detections), "--partitions", str(args.partitions),
             "--starts", str(args.starts)],
            capture_output=True, text=True, check=False)
        if child.returncode != 0:
            print(child.stderr[-2000:], file=sys.stderr)
            return child.returncode
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{mode:<8} {figures['case_wall_ms']:>10.1f} {figures['case_cpu_ms']:>10.1f} "
              f"{figures['detection_wall_ms']:>15.1f} {figures['detection_cpu_ms']:>14.1f} "
              f"{figures['describe_cpu_ms']:>13.2f} {figures['start_cpu_ms']:>10.2f} "
              f"{figures['runtime_start_cpu_ms']:>18.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
