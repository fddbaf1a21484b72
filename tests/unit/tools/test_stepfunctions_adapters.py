"""The Step Functions speed adapters (tools/accesswatch_tools/embedded/adapters/stepfunctions.py) against
moto's ordinary path.

Differential: the same executions of the template's two state machines, and of a small machine that reaches
the Lambda task's error paths, run on one runtime with the JSONPath cache and the direct Lambda tasks left
out and on another with them; the statuses, outputs, errors and causes and every history event must match
(the ids each run draws at random, the physical names and the times normalised away). A case goes through
its real handlers to its close, another fails in Triage to the dead-letter queue; a detection maps over an
S3 manifest (partition handlers stubbed), another fails in a partition.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import jsonpath_ng.ext
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from accesswatch_tools.embedded.adapters import direct, stepfunctions
from accesswatch_tools.embedded.runtime import ARTIFACTS_BUCKET, EmbeddedAws
from accesswatch_tools.embedded.template import PROJECT_ROOT, asl_placeholders, render_asl, split_asl

NEW_ADAPTERS = ("cached_jsonpath", "direct_lambda_tasks", "states_evaluated_in_line", "definitions_validated_once",
                "executions_found_by_arn", "direct_dispatch", "started_threads_not_kept",
                "programs_evaluated_in_line")
WAIT_S = 180.0
FAILING = {"case_user": "u-fails", "partition": "curated/fail.parquet"}


class InjectedFailure(RuntimeError):
    """Raised by a handler for the executions a scenario makes fail."""


# ----------------------------------------------------------------- the JSONPath cache
def asl_paths(keys: tuple[str, ...] = ("Variable", "OutputPath", "InputPath", "ItemsPath")) -> list[str]:
    """Every JSONPath the template's ASLs read with (the values of ``.$`` fields and of ``keys``; `$$.` paths
    are evaluated on the context object)."""
    paths: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and (key.endswith(".$") or key in keys) and node.startswith("$"):
            paths.add(node.replace("$$.", "$.", 1))

    for path in sorted((PROJECT_ROOT / "statemachines").glob("*.asl.json")):
        text = "".join(part if isinstance(part, str) else "1" for part in split_asl(path.read_text()))
        walk(json.loads(text))
    return sorted(paths)


def result_paths() -> list[str]:
    """Every ResultPath of the template's ASLs (written with ``jsonpath_ng.parse(...).update_or_create``)."""
    values: set[str] = set()
    for path in sorted((PROJECT_ROOT / "statemachines").glob("*.asl.json")):
        text = "".join(part if isinstance(part, str) else "1" for part in split_asl(path.read_text()))
        values |= set(re.findall(r'"ResultPath": "([^"]+)"', text))
    return sorted(values)


def document_with(paths: list[str]) -> dict[str, Any]:
    """A document in which every path finds a value (a leaf of its own, or the object of deeper paths; a list
    under one key)."""
    doc: dict[str, Any] = {}
    for path in sorted(paths, key=lambda p: -p.count(".")):
        node = doc
        keys = path.removeprefix("$").strip(".").split(".") if path != "$" else []
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if keys:
            node.setdefault(keys[-1], [f"value of {path}", 2] if keys[-1] == "rules" else f"value of {path}")
    return doc


def evaluated(path: str, data: Any) -> tuple[str, Any]:
    from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError, extract_json

    try:
        return "found", extract_json(path, data)
    except NoSuchJsonPathError as exc:
        return "missing", str(exc)


def test_the_jsonpath_cache_finds_what_jsonpath_ng_finds_for_every_path_of_the_asls() -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    paths = asl_paths()
    assert len(paths) > 30 and "$.Payload.priority" in paths and "$.Task.Token" in paths
    documents = [document_with(paths), {}, {"Payload": {"priority": None}, "triage": [1, 2]}]
    ordinary = [[evaluated(p, d) for p in paths] for d in documents]
    with stepfunctions.cached_jsonpath():
        cache = json_path.parse
        first = [[evaluated(p, d) for p in paths] for d in documents]
        again = [[evaluated(p, d) for p in paths] for d in documents]
        for path in paths:
            fresh = jsonpath_ng.ext.parse(path)
            assert cache(path) is cache(path) and str(cache(path)) == str(fresh)
            assert ([m.value for m in cache(path).find(documents[0])]
                    == [m.value for m in fresh.find(documents[0])])
        assert cache.cache_info().hits >= 2 * len(paths) * len(documents)  # type: ignore[attr-defined]
    assert first == ordinary and again == ordinary
    assert json_path.parse is jsonpath_ng.ext.parse, "the cache is removed when the runtime closes"
    assert sum(outcome == "found" for outcome, _ in ordinary[0]) == len(paths)


def test_the_result_path_cache_writes_where_jsonpath_ng_writes_for_every_result_path_of_the_asls() -> None:
    import copy

    import jsonpath_ng
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    paths = result_paths()
    assert "$.triage" in paths and "$.error" in paths and "$.escalation" in paths
    state_input = {"case_id": "CASE-1", "triage": {"old": True}, "rules": [1, 2]}
    result = {"Payload": {"priority": "high"}, "StatusCode": 200}
    ordinary = [jsonpath_ng.parse(p).update_or_create(copy.deepcopy(state_input), copy.deepcopy(result))
                for p in paths]
    with stepfunctions.cached_jsonpath():
        cache = result_path.parse
        for _ in range(2):
            assert [cache(p).update_or_create(copy.deepcopy(state_input), copy.deepcopy(result))
                    for p in paths] == ordinary
        assert cache.cache_info().hits >= len(paths)  # type: ignore[attr-defined]
    assert result_path.parse is jsonpath_ng.parse
    assert all(written != state_input for written in ordinary)


# ----------------------------------------------------------------- the differential scenario
_step_threads: list[str] = []  # the target of the thread each case step ran in (a thread's default name)


def _wrapper(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """Real case steps (failing for one user's case); stubbed detection, failing for one partition."""
    def case_step(event: dict[str, Any], context: Any) -> Any:
        _step_threads.append(threading.current_thread().name.rpartition("(")[2].rstrip(")"))
        if event.get("case_id") in _failing_cases:
            raise InjectedFailure("injected failure")
        return handler(event, context)

    def detect(event: dict[str, Any], context: Any) -> Any:
        if event["partition"]["key"] == FAILING["partition"]:
            raise InjectedFailure(f"partition {event['partition']['key']} failed")
        return {"partition": event["partition"]["key"], "findings": 0, "ingest_id": event["ingest_id"]}

    def outcome(event: dict[str, Any], context: Any) -> Any:
        # moto's Distributed Map gives a failed item a null result (it ignores ToleratedFailurePercentage 0);
        # the real function fails on it, so that the file's detection fails.
        if None in event.get("partitions", []):
            raise InjectedFailure("a partition has no result")
        return {"recorded": event["outcome"], "partitions": event.get("partitions")}

    stubs: dict[str, Callable[..., Any]] = {
        "CaseStepFunction": case_step,
        "DetectFunction": detect,
        "CaseQueueFunction": lambda event, context: {"opened": 0, "source": event["source"]},
        "DetectionOutcomeFunction": outcome,
    }
    return stubs.get(name, handler)


_failing_cases: set[str] = set()


def _open_case(aws: EmbeddedAws, user_id: str) -> str:
    """A finding of ``user_id`` as detection stores it, routed to the user's case (an immediate-tier rule)."""
    from accesswatch.cases.scoring import ScoringSettings
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.executions import Executions
    from accesswatch.dal.findings import FindingStore
    from accesswatch.rules import RULES_BY_ID
    from accesswatch.services.routing import case_router

    findings = FindingStore(aws.resource_name("FindingsTable"), aws.resource("dynamodb"))
    at = datetime(2025, 3, 3, 22, 0, tzinfo=UTC) + timedelta(minutes=1)
    item = {
        "finding_id": f"{user_id}-SELF_RECORD-0", "system": "cms", "event_id": f"e-{user_id}", "rule": "SELF_RECORD",
        "severity": "high", "rule_status": "live", "user_id": user_id, "tier": RULES_BY_ID["SELF_RECORD"].tier(),
        "modifiers": "", "client_id": "c-1", "occurred_at": at.isoformat(), "occurred_at_utc": at.isoformat(),
        "nz_date": "2025-03-04", "quarter": "2025-03-31", "rule_quarter": "SELF_RECORD#2025-03-31",
        "explanation": "SELF_RECORD fired (test)", "evidence": json.dumps({"test": True}),
        "snapshot_id": "test-snapshot", "partition_key": "events/test.parquet",
    }
    stored = findings.put_if_new(item)[1]
    cases = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    case_router(cases=cases, findings=findings, executions=Executions(aws.client("stepfunctions")),
                case_state_machine_arn=aws.resource_name("CaseStateMachine"), scoring=ScoringSettings()).route([stored])
    case_id = (findings.get(stored["finding_id"]) or {}).get("case_id")
    assert case_id
    return str(case_id)


def _probe_definition(function_arn: str, answering_arn: str) -> dict[str, Any]:
    """The Lambda task's other paths: a handler's error, an unknown function, a plain function ARN, the
    whole invocation result (its StatusCode and Payload) kept, the Payload from the state's input."""
    def task(name: str, resource: str, nxt: str, **fields: Any) -> dict[str, Any]:
        return {"Type": "Task", "Resource": resource, "ResultPath": f"$.results.{name}", "Next": nxt, **fields,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": f"$.errors.{name}", "Next": nxt}]}

    invoke = "arn:aws:states:::lambda:invoke"
    return {"StartAt": "HandlerError", "States": {
        "HandlerError": task("HandlerError", invoke, "UnknownFunction", Parameters={
            "FunctionName": function_arn, "Payload": {"step": "no-such-step", "case_id": "CASE-PROBE"}}),
        "UnknownFunction": task("UnknownFunction", invoke, "PlainArn", Parameters={
            "FunctionName": f"{function_arn}-gone", "Payload": {}}),
        "PlainArn": task("PlainArn", answering_arn, "WholeResult", Parameters={"source.$": "$.case_id"}),
        "WholeResult": task("WholeResult", invoke, "Done", Parameters={"FunctionName": answering_arn,
                                                                       "Payload.$": "$.probe"}),
        "Done": {"Type": "Pass", "End": True},
    }}


def _settled(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while (found := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.05)
    return dict(found)


def _executions(aws: EmbeddedAws) -> dict[str, str]:
    """Runs every scenario on ``aws``; their execution ARNs by scenario."""
    from accesswatch.dal.cases import CaseStore
    from accesswatch_tools.operate.cases import case_service

    sfn, s3, lam = aws.client("stepfunctions"), aws.client("s3"), aws.client("lambda")
    store = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    arns: dict[str, str] = {}

    from accesswatch.cases.assign import case_id_for

    # Its case steps fail from the start: retries, then the dead-letter queue.
    _failing_cases.add(case_id_for(FAILING["case_user"], f"{FAILING['case_user']}-SELF_RECORD-0"))
    failing_case = _open_case(aws, FAILING["case_user"])
    assert failing_case in _failing_cases
    for name, keys in {"detection": ["curated/a.parquet", "curated/b.parquet"],
                       "detection_failing": ["curated/a.parquet", FAILING["partition"], "curated/c.parquet"]}.items():
        s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=f"manifests/{name}.json",
                      Body=json.dumps([{"key": k, "rows": 1} for k in keys]).encode())
        arns[name] = sfn.start_execution(
            stateMachineArn=aws.resource_name("DetectionStateMachine"), name=f"detect-{name}",
            input=json.dumps({"manifest": {"bucket": ARTIFACTS_BUCKET, "key": f"manifests/{name}.json"},
                              "snapshot_id": "snap-1", "ingest_id": f"ingest-{name}"}))["executionArn"]

    function_arn, answering_arn = (lam.get_function(FunctionName=aws.resource_name(name))["Configuration"]
                                   ["FunctionArn"] for name in ("CaseStepFunction", "CaseQueueFunction"))
    probe = sfn.create_state_machine(name="probe", definition=json.dumps(_probe_definition(function_arn,
                                                                                           answering_arn)),
                                     roleArn=f"arn:aws:iam::{aws.physical.get('AccountId', '123456789012')}:role/p")
    arns["probe"] = sfn.start_execution(stateMachineArn=probe["stateMachineArn"], name="probe", input=json.dumps(
        {"case_id": "CASE-PROBE", "probe": {"action": "drain", "source": "probe"}}))["executionArn"]

    case_id = _open_case(aws, "u-closes")
    deadline = time.monotonic() + WAIT_S
    while not ((case := store.get(case_id) or {}).get("status") == "investigating" and case.get("task_token")):
        assert time.monotonic() < deadline, f"case stuck at {case.get('status')}"
        time.sleep(0.05)
    case_service(aws).decide(case_id, decision="unfounded", er_type=None, note="", actor="inv.one",
                             reason="legitimate_work")
    arns["case"] = str(case["execution_arn"])
    arns["case_failing"] = str((store.get(failing_case) or {})["execution_arn"])
    return arns


_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_RANDOM = [
    (re.compile(r"Request ID: [A-Za-z0-9]+"), "Request ID: <request>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<md5>"),
    (re.compile(r"Root=1-[0-9a-f-]+"), "Root=<trace>"),
]


def _normalised(aws: EmbeddedAws, value: Any) -> Any:
    text = json.dumps(value, sort_keys=True, default=str)
    for logical, physical in sorted(aws.physical.items(), key=lambda kv: -len(kv[1])):
        if len(physical) > 8:
            text = text.replace(physical, f"<{logical}>")
    text = _TIME.sub("<time>", text)
    for pattern, replacement in _RANDOM:
        text = pattern.sub(replacement, text)
    return json.loads(text)


def _observed(aws: EmbeddedAws, arns: dict[str, str]) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    seen: dict[str, Any] = {}
    for name, arn in arns.items():
        found = _settled(sfn, arn)
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        seen[name] = _normalised(aws, {
            "status": found["status"],
            "output": json.loads(found["output"]) if found.get("output") else None,
            "error": found.get("error"), "cause": found.get("cause"),
            "history": [{k: v for k, v in event.items() if k not in ("timestamp",)} for event in history],
        })
    return seen


def _run(without: tuple[str, ...]) -> dict[str, Any]:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.utils import TMP_THREADS

    original = stepfunctions.adapted
    TMP_THREADS.clear()
    _step_threads.clear()
    # Retry intervals are real sleeps in moto: none here, the same in both runs.
    with mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=lambda seconds: None)), \
            mock.patch.object(stepfunctions, "adapted", lambda: original(without=without, include=stepfunctions.NOT_BY_DEFAULT)), \
            EmbeddedAws(handler_wrapper=_wrapper) as aws:
        arns = _executions(aws)
        return {**_observed(aws, arns), "threads_kept": {"threads": len(TMP_THREADS), "executions": len(arns)},
                "step_threads": sorted(set(_step_threads))}


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, dict[str, Any]]]:
    _failing_cases.clear()
    yield {"moto": _run(NEW_ADAPTERS), "adapted": _run(())}


@pytest.mark.e2e
@pytest.mark.parametrize("scenario", ["case", "case_failing", "detection", "detection_failing", "probe"])
def test_an_execution_with_the_adapters_is_the_execution_without_them(
        runs: dict[str, dict[str, Any]], scenario: str) -> None:
    ordinary, adapted = runs["moto"][scenario], runs["adapted"][scenario]
    assert adapted["status"] == ordinary["status"]
    assert (adapted["error"], adapted["cause"]) == (ordinary["error"], ordinary["cause"])
    assert adapted["output"] == ordinary["output"]
    assert [e["type"] for e in adapted["history"]] == [e["type"] for e in ordinary["history"]]
    assert adapted["history"] == ordinary["history"]


@pytest.mark.e2e
def test_the_threads_moto_started_are_not_kept(runs: dict[str, dict[str, Any]]) -> None:
    """moto keeps every thread its Step Functions started in a module list (an execution's, its program's, its
    states'); with the adapter none is kept, and every module that appends to the list is covered."""
    import moto.stepfunctions

    ordinary, adapted = runs["moto"]["threads_kept"], runs["adapted"]["threads_kept"]
    assert ordinary["executions"] == adapted["executions"] >= 5
    assert ordinary["threads"] >= 3 * ordinary["executions"]
    assert adapted["threads"] == 0
    package = Path(moto.stepfunctions.__file__).parent
    appending = sorted("moto.stepfunctions." + ".".join(path.relative_to(package).with_suffix("").parts)
                       for path in package.rglob("*.py") if "TMP_THREADS.append" in path.read_text(encoding="utf-8"))
    assert appending == sorted(stepfunctions._THREAD_KEEPERS)  # noqa: SLF001


@pytest.mark.e2e
def test_case_steps_run_in_the_executions_own_thread(runs: dict[str, dict[str, Any]]) -> None:
    """moto evaluates a program in a thread of its own and each state in another (to join them with their
    timeouts); with neither timeout declared, a case step runs in the thread moto started for the execution
    (AwaitDecision, which has a TimeoutSeconds, keeps its state's thread)."""
    assert runs["moto"]["step_threads"] == ["_exec_and_notify"]
    assert runs["adapted"]["step_threads"] == ["_exec_and_notify", "_execution_logic"]


@pytest.mark.e2e
def test_the_scenarios_reach_the_paths_they_are_for(runs: dict[str, dict[str, Any]]) -> None:
    """What the differential comparison covers (so that it cannot pass by comparing two empty runs)."""
    seen = runs["adapted"]
    assert seen["case"]["status"] == "SUCCEEDED"
    assert seen["case"]["output"]["recorded"] == {"accepted": True, "decision": "unfounded"}
    assert seen["case_failing"]["status"] == "FAILED" and seen["case_failing"]["error"] == "CaseStepFailed"
    assert seen["case_failing"]["output"] is None
    failed = [e for e in seen["case_failing"]["history"] if e["type"] == "TaskFailed"]
    assert len(failed) == 4 and failed[0]["taskFailedEventDetails"]["error"] == "InjectedFailure"
    assert any(e["type"] == "TaskSucceeded" and "sqs" in json.dumps(e) for e in seen["case_failing"]["history"])
    assert seen["detection"]["status"] == "SUCCEEDED"
    assert [p["partition"] for p in seen["detection"]["output"]["partitions"]] == ["curated/a.parquet",
                                                                                 "curated/b.parquet"]
    assert seen["detection_failing"]["status"] == "FAILED"
    assert seen["detection_failing"]["error"] == "DetectionFailed"
    failed = [e for e in seen["detection_failing"]["history"] if e["type"] == "TaskFailed"]
    assert len(failed) == 4 and failed[0]["taskFailedEventDetails"]["error"] == "InjectedFailure"
    probe = seen["probe"]["output"]
    assert probe["errors"]["UnknownFunction"]["Error"] == "Lambda.ResourceNotFoundException"
    assert "Status Code: 404" in probe["errors"]["UnknownFunction"]["Cause"]
    assert probe["errors"]["HandlerError"]["Error"] == "InvalidTransition"
    assert probe["results"]["WholeResult"] == {"StatusCode": 200, "Payload": {"opened": 0, "source": "probe"}}
    assert probe["results"]["PlainArn"] == {"opened": 0, "source": "CASE-PROBE"}
    assert sorted(probe["errors"]) == ["HandlerError", "UnknownFunction"]


def test_the_direct_lambda_task_leaves_parameters_it_does_not_take_to_moto() -> None:
    """Qualifier, LogType and ClientContext go through botocore as before (the adapter takes only
    FunctionName and Payload)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    calls: list[dict[str, Any]] = []

    def ordinary(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        calls.append(parameters)
        return {"StatusCode": 200, "Payload": {}}

    def call(parameters: dict[str, Any]) -> Any:
        return lambda_eval_utils._invoke_lambda_function(parameters, "ap-southeast-2", None)  # type: ignore[arg-type]  # noqa: SLF001

    with mock_aws(), mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", ordinary):
        with stepfunctions.direct_lambda_tasks():
            for extra in ({"Qualifier": "1"}, {"LogType": "Tail"}, {"ClientContext": "e30="}):
                assert call({"FunctionName": "f", "Payload": b"{}", **extra}) == {"StatusCode": 200, "Payload": {}}
            with pytest.raises(ClientError, match="ResourceNotFoundException"):  # the backend, directly
                call({"FunctionName": "f", "Payload": b"{}"})
        assert lambda_eval_utils._invoke_lambda_function is ordinary  # noqa: SLF001
    assert [sorted(c) for c in calls] == [sorted(["FunctionName", "Payload", k])
                                          for k in ("Qualifier", "LogType", "ClientContext")]


def test_every_speed_adapter_can_be_left_out_by_name() -> None:
    with pytest.raises(ValueError, match="no Step Functions speed adapter"):
        with stepfunctions.adapted(without=("no_such_adapter",)):
            pass
    assert set(NEW_ADAPTERS) <= set(stepfunctions.SPEED_ADAPTERS)
    assert Path(stepfunctions.__file__).name == "stepfunctions.py"


# ----------------------------------------------------------------- the API calls' direct dispatch and the index
_WAITING = {"StartAt": "Wait", "States": {
    "Wait": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
             "Parameters": {"QueueUrl.$": "$.queue", "MessageBody": {"token.$": "$$.Task.Token",
                                                                     "name.$": "$$.Execution.Name"}},
             "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Done"}], "Next": "Done"},
    "Done": {"Type": "Pass", "End": True},
}}
_ANSWER = re.compile(r"datetime\.datetime\([^)]*\)|'(RequestId|x-amzn-requestid|date)': '[^']*'|"
                     r"'id': \d+|'previousEventId': \d+")


def _api_calls(on: bool) -> list[Any]:
    """The Step Functions calls the project makes, answered and failing, with the direct dispatch and the
    execution index on or off: every answer and error as the caller sees it."""
    import boto3

    answers: list[Any] = []
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), contextlib.ExitStack() as stack:
        if on:
            stack.enter_context(stepfunctions.SPEED_ADAPTERS["direct_dispatch"]())
            stack.enter_context(stepfunctions.executions_found_by_arn())
        sfn, sqs = boto3.client("stepfunctions", region_name="ap-southeast-2"), boto3.client("sqs", region_name="ap-southeast-2")
        queue = sqs.create_queue(QueueName="tokens")["QueueUrl"]
        machine = sfn.create_state_machine(name="m", definition=json.dumps(_WAITING),
                                           roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        executions = machine.replace(":stateMachine:", ":execution:")

        def call(operation: str, **kwargs: Any) -> None:
            try:
                answer: Any = getattr(sfn, operation)(**kwargs)
            except ClientError as error:
                answer = {"error": str(error), **error.response}
            metadata = answer.get("ResponseMetadata", {})
            headers = metadata.get("HTTPHeaders", {})
            answer["ResponseMetadata"] = {**metadata, "HTTPHeaders": (sorted(headers), headers.get("content-type"))}
            text = re.sub(r"'nextToken': '[^']*'", "'nextToken': <token>", _ANSWER.sub("_", repr(answer)))
            for pattern, replacement in _RANDOM:  # task tokens, message ids and digests: drawn at random
                text = pattern.sub(replacement, text)
            answers.append((operation, text))

        def settled(name: str) -> None:
            deadline = time.monotonic() + WAIT_S
            while sfn.describe_execution(executionArn=f"{executions}:{name}")["status"] == "RUNNING":
                assert time.monotonic() < deadline, name
                time.sleep(0.02)

        def tokens(names: set[str]) -> dict[str, str]:
            """The task token each execution sent (in whatever order they sent them)."""
            sent: dict[str, str] = {}
            deadline = time.monotonic() + WAIT_S
            while set(sent) != names:
                assert time.monotonic() < deadline, sorted(sent)
                for message in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1,
                                                   MaxNumberOfMessages=10).get("Messages", []):
                    body = json.loads(message["Body"])
                    sent[body["name"]] = body["token"]
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            return sent

        for name in ("decided", "refused", "stopped"):
            call("start_execution", stateMachineArn=machine, name=name, input=json.dumps({"queue": queue}))
        sent = tokens({"decided", "refused", "stopped"})
        decided, refused = sent["decided"], sent["refused"]
        call("start_execution", stateMachineArn=machine, name="decided", input=json.dumps({"queue": queue}))
        call("start_execution", stateMachineArn=machine, name="decided", input="{}")  # ExecutionAlreadyExists
        call("start_execution", stateMachineArn=machine, name="bad-input", input="not json")
        call("start_execution", stateMachineArn=machine + "-gone", name="x")
        call("send_task_success", taskToken=decided, output=json.dumps({"decision": "unfounded"}))
        call("send_task_failure", taskToken=refused, error="Refused", cause="no")
        call("send_task_success", taskToken="no-such-token", output="{}")
        call("send_task_failure", taskToken="no-such-token")
        settled("decided")  # the used token once its execution has ended (not a race)
        call("send_task_success", taskToken=decided, output="not json")
        call("stop_execution", executionArn=f"{executions}:stopped", error="E", cause="C")
        call("start_execution", stateMachineArn=machine, name="a&name=b", input='{"q": "x&name=c"}')  # moto's reading
        settled("refused")
        settled('c\\"}"}')  # the name moto read from the body as a query string
        for name in ("decided", "refused", "stopped", "never"):
            call("describe_execution", executionArn=f"{executions}:{name}")
            call("get_execution_history", executionArn=f"{executions}:{name}")
        call("describe_execution", executionArn="not-an-arn")
        call("describe_execution", executionArn=f"{executions.replace(':m', ':other')}:decided")
        call("list_executions", stateMachineArn=machine)
        call("list_executions", stateMachineArn=machine, maxResults=2)
        call("list_executions", stateMachineArn=machine, statusFilter="SUCCEEDED")
        call("list_executions", stateMachineArn=machine + "-gone")
    return answers


def test_the_api_calls_answer_with_the_direct_dispatch_what_they_answer_through_moto() -> None:
    ordinary, direct = _api_calls(on=False), _api_calls(on=True)
    assert [name for name, _ in direct] == [name for name, _ in ordinary]
    for (name, expected), (_, answered) in zip(ordinary, direct, strict=True):
        assert answered == expected, name
    text = "\n".join(answer for _, answer in ordinary)
    for expected in ("ExecutionAlreadyExists", "Expecting value", "StateMachineDoesNotExist", "InvalidToken",
                     "'status': 'SUCCEEDED'", "Refused", "ExecutionDoesNotExist", "InvalidArn",
                     "TaskSubmitted", "'HTTPStatusCode': 400", "nextToken"):
        assert expected in text, expected


def test_the_api_calls_are_answered_without_moto_dispatch_only_while_it_is_on() -> None:
    import boto3
    from moto.stepfunctions.responses import StepFunctionResponse

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), \
            mock.patch.object(StepFunctionResponse, "call_action", side_effect=AssertionError("moto's dispatch")) as dispatch:
        with stepfunctions.SPEED_ADAPTERS["direct_dispatch"]():
            sfn = boto3.client("stepfunctions", region_name="ap-southeast-2")
            with pytest.raises(ClientError, match="ExecutionDoesNotExist"):
                sfn.describe_execution(executionArn="arn:aws:states:ap-southeast-2:123456789012:execution:m:e")
            assert not dispatch.called
            local = boto3.client("stepfunctions", region_name="ap-southeast-2", endpoint_url="http://127.0.0.1:9")
            request = {"url": "http://127.0.0.1:9/", "body": b"{}", "headers": {}}
            assert direct._direct_call(local.meta.service_model.operation_model("DescribeExecution"), request) is None
        with pytest.raises(AssertionError, match="moto's dispatch"):
            sfn.describe_execution(executionArn="arn:aws:states:ap-southeast-2:123456789012:execution:m:e")


def test_the_execution_index_finds_what_moto_scans_for() -> None:
    """Appended executions are found, a list replaced or shortened is indexed again, a miss is moto's."""
    executions = [SimpleNamespace(execution_arn=f"arn:{i % 3}") for i in range(5)]
    index = stepfunctions._ExecutionIndex(executions)  # noqa: SLF001
    assert index.find("arn:1") is executions[1]  # the first of that ARN, as moto's next(...)
    executions.append(SimpleNamespace(execution_arn="arn:new"))
    assert index.find("arn:new") is executions[-1]
    assert index.find("arn:gone") is stepfunctions._MISSING  # noqa: SLF001
    executions[1] = SimpleNamespace(execution_arn="arn:other")
    assert index.find("arn:1") is stepfunctions._MISSING  # noqa: SLF001 - changed in place: moto's scan decides


# ----------------------------------------------------------------- state machine validation once per process
_NAME = "accesswatch-CaseStepFunction-"


def _named(suffix: str, extra: dict[str, Any] | None = None) -> str:
    return json.dumps({"StartAt": "Step", "States": {"Step": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
        "Parameters": {"FunctionName": f"arn:aws:lambda:ap-southeast-2:123456789012:function:{_NAME}{suffix}",
                       "Payload": {"topic": f"arn:aws:sns:ap-southeast-2:123456789012:{_NAME}{suffix}", **(extra or {})}},
    }}})


def test_the_validation_key_replaces_only_generated_names_in_literal_strings() -> None:
    one, other = _named("ABCDEF123456"), _named("ZYXWVU987654")
    assert stepfunctions.validation_key(one) == stepfunctions.validation_key(other) != one
    assert len(str(stepfunctions.validation_key(one))) == len(one)
    assert stepfunctions.validation_key(_named("ABCDEF12345")) == _named("ABCDEF12345")  # not a generated name
    # A generated name in a path, a key, a state's name or a Next: not a payload literal, so not cached.
    assert stepfunctions.validation_key(_named("ABCDEF123456", {"x.$": f"$.{_NAME}ABCDEF123456"})) is None
    assert stepfunctions.validation_key(_named("ABCDEF123456", {f"{_NAME}ABCDEF123456": 1})) is None
    renamed = json.loads(one)
    renamed["States"] = {f"{_NAME}ABCDEF123456": renamed["States"]["Step"]}
    renamed["StartAt"] = f"{_NAME}ABCDEF123456"
    assert stepfunctions.validation_key(json.dumps(renamed)) is None
    assert stepfunctions.validation_key(one.replace("Payload", "Payload\\u0022")) is None


_INVALID = [
    "not json",
    json.dumps({"StartAt": "Step", "States": {"Step": {"Type": "Nope", "End": True}}}),
    json.dumps({"StartAt": "Step", "States": {"Step": {"Type": "Pass", "End": True, "InputPath": 1}}}),
    _named("ABCDEF123456").replace('"Type": "Task"', '"Type": "Task", "TimeoutSeconds": "x"'),
    _named("ABCDEF123456", {"x.$": f"$.{_NAME}ABCDEF123456["}),  # moto accepts it
]


def _created(definitions: list[str], on: bool) -> tuple[list[Any], int]:
    """CreateStateMachine's answers for ``definitions`` (with the validation cache on or off; the cache
    emptied first), and how many times moto's ASL parser ran."""
    import boto3
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parse = AmazonStateLanguageParser.parse
    parsed: list[str] = []

    def counting(definition: str) -> Any:
        parsed.append(definition)
        return parse(definition)

    answers: list[Any] = []
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), contextlib.ExitStack() as stack, \
            mock.patch.object(stepfunctions, "_VALIDATED", set()), \
            mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(counting)):
        if on:
            stack.enter_context(stepfunctions.definitions_validated_once())
        sfn = boto3.client("stepfunctions", region_name="ap-southeast-2")
        for number, definition in enumerate(definitions):
            try:
                arn = sfn.create_state_machine(name=f"m{number}", definition=definition,
                                               roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
                answers.append(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
            except ClientError as error:
                answers.append((error.response["Error"], str(error)))
    return answers, len(parsed)


def test_a_definition_is_validated_once_per_process_whatever_its_generated_names() -> None:
    valid = [_named("ABCDEF123456"), _named("ZYXWVU987654"), _named("ABCDEF123456")]
    ordinary, parsed_ordinary = _created(valid + _INVALID + valid, on=False)
    cached, parsed_cached = _created(valid + _INVALID + valid, on=True)
    assert cached == ordinary
    assert all(isinstance(answer, str) for answer in ordinary[:3] + ordinary[-3:])
    assert all("ASLParserException" in answer[1] for answer in ordinary[3:7])
    assert isinstance(ordinary[7], str)  # moto takes a JSONPath holding a generated name (parsed each time)
    assert parsed_ordinary == 6 + len(_INVALID)
    assert parsed_cached == 1 + len(_INVALID)  # the invalid ones every time, by moto


def test_the_parse_cache_outlives_a_runtime() -> None:
    first = stepfunctions.cached_asl_parser()
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    with first:
        one = AmazonStateLanguageParser.parse
    with stepfunctions.cached_asl_parser():
        assert AmazonStateLanguageParser.parse is one
    assert AmazonStateLanguageParser.parse is not one


def _case_definition() -> str:
    text = (PROJECT_ROOT / "statemachines" / "case.asl.json").read_text()
    return json.dumps(render_asl(text, {name: 1 for name in asl_placeholders(text)}))


def _heap_components(program: Any) -> list[Any]:
    """The Retriers' attempt counters and backoff rates of a program (the components that keep state in an
    execution's heap), found through the garbage collector's referents, not through ``keyed``'s walk."""
    import gc

    from moto.stepfunctions.parser.asl.component.common.retry.backoff_rate_decl import BackoffRateDecl
    from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import MaxAttemptsDecl

    found: dict[int, Any] = {}
    seen: set[int] = set()
    todo = [program]
    while todo:
        value = todo.pop()
        if id(value) in seen or isinstance(value, (type, str, bytes, int, float)):
            continue
        seen.add(id(value))
        if isinstance(value, (MaxAttemptsDecl, BackoffRateDecl)):
            found[id(value)] = value
        if type(value).__module__.startswith("moto.stepfunctions") or isinstance(value, (list, tuple, dict)):
            todo.extend(gc.get_referents(value))
    return list(found.values())


def test_a_shared_program_has_its_heap_keys_drawn_before_two_executions_use_it() -> None:
    """Two executions of the one cached program first using a Retrier at once each drew a heap key; the one
    whose key lost found no attempt count at its next failure and tried once more than MaxAttempts (a case's
    Notify published 5 times, not 4). Here both threads draw at the same moment (a barrier in ``long_uid``):
    with the keys drawn at parse time, no key is drawn then and both see the same keys."""
    import threading

    from moto.stepfunctions.parser.asl.component import eval_component
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    with stepfunctions.cached_asl_parser():
        program, _ = AmazonStateLanguageParser.parse(_case_definition())
    components = _heap_components(program)
    assert len(components) >= 2 * 4  # MaxAttempts and BackoffRate of the case workflow's Retriers

    both = threading.Barrier(2, timeout=2)
    drawn: list[str] = []
    original = eval_component.long_uid

    def long_uid() -> str:
        drawn.append("drawn")
        with contextlib.suppress(threading.BrokenBarrierError):
            both.wait()  # the other execution checks its key meanwhile, finds none and draws too
        return str(original())

    seen: list[list[str]] = [[], []]

    def execution(n: int) -> None:
        seen[n] = [component.heap_key for component in components]

    with mock.patch.object(eval_component, "long_uid", long_uid):
        threads = [threading.Thread(target=execution, args=(n,)) for n in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert drawn == []
    assert seen[0] == seen[1]
    assert stepfunctions.keyed(program) == stepfunctions.keyed(program) > len(components)
