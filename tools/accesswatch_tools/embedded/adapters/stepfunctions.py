"""Adapters of moto's Step Functions: what it does differently from AWS, or too slowly, for this template.

docs/local-runtime.md lists every adapter and why it exists.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from typing import Any
from unittest import mock

from accesswatch_tools.embedded.adapters.direct import stepfunctions_direct_dispatch
from accesswatch_tools.embedded.template import STACK_NAME

_LOG = logging.getLogger(__name__)
_PARSE_CACHE: list[Any] = []  # the process's one cached parse (a runtime's executions reuse an earlier one's)


def cached_asl_parser() -> Any:
    """moto parses a state machine's ASL (an ANTLR grammar, ~50 ms) for every execution it starts,
    Distributed Map children included. Executions keep their state in their own environment (an inline Map
    already runs one program on many threads), so parse each definition once per process (by its exact
    text: runtimes of the same names share it), with every component's heap key drawn before the program is
    shared (``keyed``)."""
    import functools

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    if not _PARSE_CACHE:
        original = AmazonStateLanguageParser.parse

        def parse(definition: str) -> Any:
            program, tree = original(definition)
            keyed(program)
            return program, tree

        _PARSE_CACHE.append(functools.lru_cache(maxsize=64)(parse))
    return mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(_PARSE_CACHE[0]))


def keyed(program: Any) -> int:
    """Draw the heap key of every evaluation component of ``program`` now; returns how many there are.

    A component draws its key (``EvalComponent.heap_key``, where an execution keeps e.g. a Retrier's attempt
    count and backoff in its own heap) on first use. Two executions of one shared program using a component
    for the first time at once could each draw a key: one execution's count, kept under the key that lost,
    is not found again, and its task is attempted once more than MaxAttempts allows (a case's Notify
    published 5 times instead of 4, under load)."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    count = 0
    todo: list[Any] = [program]
    while todo:
        value = todo.pop()
        if isinstance(value, (list, tuple, set, frozenset)):
            todo.extend(value)
        elif isinstance(value, dict):
            todo.extend(value.values())
        elif isinstance(value, Component) and id(value) not in seen:
            seen.add(id(value))
            if isinstance(value, EvalComponent):
                _ = value.heap_key
                count += 1
            todo.extend(vars(value).values())
    return count


# A name CloudFormation generates for a resource of the embedded stack: the stack's name, the logical id,
# then the 12 characters moto draws at random (cloudformation.parsing.random_suffix; stable_suffix's form).
_GENERATED_NAME = re.compile(r"(?<![0-9A-Za-z])(" + re.escape(STACK_NAME) + r"-[A-Za-z0-9]+-)[0-9A-Z]{12}(?![0-9A-Za-z])")
_SUFFIX_PLACEHOLDER = "0" * 12
# The validation keys of the definitions moto's validation accepted in this process.
_VALIDATED: set[str] = set()


def _literal_occurrences(node: Any, in_parameters: bool = False, key: str = "") -> int:
    """How many generated names the definition holds in literal strings of a payload template (a value under
    ``Parameters`` whose field does not end in ``.$``): ASL copies those as they are, and they are not keys."""
    if isinstance(node, dict):
        return sum(_literal_occurrences(value, in_parameters or name == "Parameters", name)
                   for name, value in node.items())
    if isinstance(node, list):
        return sum(_literal_occurrences(value, in_parameters, key) for value in node)
    if isinstance(node, str) and in_parameters and not key.endswith(".$"):
        return len(_GENERATED_NAME.findall(node))
    return 0


def validation_key(definition: str) -> str | None:
    """The definition with each generated name's random part replaced by one placeholder of the same length
    and characters, if every such name is in a payload template's literal string; else None (not cached).

    Why the names cannot change moto's verdict: a payload template's literal string is a STRING token of
    the ASL grammar whatever its characters (its token type is decided by the whole string being a keyword,
    or by its first characters (``$``, ``States.``, ``{%``), or its field's name ending in ``.$``: the
    stack's prefix decides the first, and no keyword holds the stack's name), ASL copies it unread, and
    the swap keeps every other character, the JSON structure and the lengths. No backslash is allowed, so
    the text and the parsed strings hold the same names."""
    found = len(_GENERATED_NAME.findall(definition))
    if not found:
        return definition
    if "\\" in definition:
        return None
    try:
        document = json.loads(definition)
    except ValueError:
        return None
    if _literal_occurrences(document) != found:
        return None
    return _GENERATED_NAME.sub(lambda m: m.group(1) + _SUFFIX_PLACEHOLDER, definition)


@contextlib.contextmanager
def definitions_validated_once() -> Iterator[None]:
    """moto validates a state machine's definition with its ANTLR parser at CreateStateMachine (~0.1-0.4 s a
    machine, two per runtime); a test session or a tool starts many runtimes of the same template whose
    definitions differ only in the generated names. A definition whose validation key (``validation_key``)
    moto's validation already accepted in this process is accepted again without the parse; any other,
    invalid ones included, is validated (and its error raised) by moto as before."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._validate_definition  # noqa: SLF001 - moto's own method

    def validate(definition: str) -> None:
        key = validation_key(definition) if isinstance(definition, str) else None
        if key is not None and key in _VALIDATED:
            return
        original(definition=definition)
        if key is not None:
            _VALIDATED.add(key)

    with mock.patch.object(StepFunctionsParserBackend, "_validate_definition", staticmethod(validate)):
        yield


class _ExecutionIndex:
    """A state machine's executions by ARN: the position of the first execution with each ARN in its list
    (moto only appends to it), brought up to date with the list's new entries at each lookup."""

    def __init__(self, executions: list[Any]) -> None:
        self.executions = executions
        self.indexed = 0
        self.positions: dict[str, int] = {}

    def find(self, arn: str) -> Any:
        executions = self.executions
        for position in range(self.indexed, len(executions)):
            self.positions.setdefault(executions[position].execution_arn, position)
        self.indexed = len(executions)
        first = self.positions.get(arn)
        if first is not None and executions[first].execution_arn == arn:
            return executions[first]
        return _MISSING


_MISSING = object()


@contextlib.contextmanager
def executions_found_by_arn() -> Iterator[None]:
    """moto's DescribeExecution (and the executing backend's GetExecutionHistory, through it) scans the state
    machine's executions one by one (the CLI's settle loop and export ask for each: quadratic over a run).
    It finds the same execution through an index of the list by ARN; a miss, or a list changed otherwise
    than by appends, takes moto's scan."""
    import weakref

    from moto.stepfunctions.exceptions import ExecutionDoesNotExist
    from moto.stepfunctions.models import StepFunctionBackend

    indexes: weakref.WeakKeyDictionary[Any, _ExecutionIndex] = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    def find(backend: Any, execution_arn: str) -> Any:
        backend._validate_execution_arn(execution_arn)  # noqa: SLF001 - moto's own checks, in its order
        state_machine = backend._get_state_machine_for_execution(execution_arn)  # noqa: SLF001
        executions = state_machine.executions
        with lock:
            index = indexes.get(state_machine)
            if index is None or index.executions is not executions or index.indexed > len(executions):
                index = indexes[state_machine] = _ExecutionIndex(executions)
            found = index.find(execution_arn)
        if found is _MISSING:
            found = next((x for x in executions if x.execution_arn == execution_arn), None)
        if not found:
            raise ExecutionDoesNotExist("Execution Does Not Exist: '" + execution_arn + "'")
        return found

    with mock.patch.object(StepFunctionBackend, "describe_execution", find):
        yield


class _NotKept(list):  # type: ignore[type-arg]
    """A list that keeps nothing appended to it."""

    def append(self, _item: Any) -> None:
        return None


# The modules of moto's Step Functions that append the threads they start to ``TMP_THREADS``.
_THREAD_KEEPERS = (
    "moto.stepfunctions.parser.backend.execution_worker",
    "moto.stepfunctions.parser.asl.component.program.program",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_component",
    "moto.stepfunctions.parser.asl.component.test_state.program.test_state_program",
)


@contextlib.contextmanager
def started_threads_not_kept() -> Iterator[None]:
    """moto's Step Functions appends every thread it starts (an execution's, its program's, each state's) to a
    module list, ``TMP_THREADS``, that nothing in moto reads and nothing empties: ~100k thread objects on the
    ministry day, kept until the process ends. Each module that appends to it gets a list that keeps nothing."""
    import importlib

    with contextlib.ExitStack() as stack:
        for name in _THREAD_KEEPERS:
            module = importlib.import_module(name)
            stack.enter_context(mock.patch.object(module, "TMP_THREADS", _NotKept()))
        yield


@contextlib.contextmanager
def used_task_tokens_refused() -> Iterator[None]:
    """A task token answers once, as on AWS: a second SendTaskSuccess/Failure on a used token fails with
    TaskTimedOut ("Provided task does not exist anymore"). moto keeps a used callback endpoint while the
    execution runs and accepts the second answer silently; the case CLI's "already decided" handling
    (docs/cases.md, "Two people at once") must see what AWS does. Check and answer under one lock."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackNotifyConsumerError,
        CallbackPoolManager,
    )

    original = CallbackPoolManager.notify
    lock = threading.Lock()

    def notify(manager: Any, callback_id: Any, outcome: Any) -> bool:
        with lock:
            endpoint = manager.get(callback_id)
            if endpoint is not None and endpoint._notify_event.is_set():  # noqa: SLF001 - moto's own state
                raise CallbackNotifyConsumerError(CallbackConsumerTimeout())
            return bool(original(manager, callback_id, outcome))

    with mock.patch.object(CallbackPoolManager, "notify", notify):
        yield


@contextlib.contextmanager
def cached_task_clients() -> Iterator[None]:
    """moto's Step Functions creates a new boto3 client for every task it runs (~10 ms each);
    boto3 clients are thread-safe, so one per (service, region) serves every task."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def cached(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = original(region, service, state_credentials)
            return clients[(region, service)]

    patched = [m for name, m in list(sys.modules.items())
               if name.startswith("moto.stepfunctions.parser") and getattr(m, "boto_client_for", None) is original]
    for module in patched:
        module.boto_client_for = cached  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in patched:
            module.boto_client_for = original  # type: ignore[attr-defined]


@contextlib.contextmanager
def cached_jsonpath() -> Iterator[None]:
    """moto parses every JSONPath and ResultPath afresh at each evaluation (~1 ms each, 79 in the case ASL).

    A parsed expression is immutable (``find`` and ``update_or_create`` change only the data), so each path
    string (``jsonpath_ng.ext.parse`` for reads, ``jsonpath_ng.parse`` for ResultPath) is parsed once."""
    import functools

    import jsonpath_ng
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    with mock.patch.object(json_path, "parse", functools.lru_cache(maxsize=1024)(json_path.parse)), \
            mock.patch.object(result_path, "parse", functools.lru_cache(maxsize=1024)(jsonpath_ng.parse)):
        yield


_DIRECT_INVOKE_PARAMETERS = frozenset({"FunctionName", "Payload"})
# What moto's Lambda answers (responses.LambdaResponse.invoke) when a payload exceeds Lambda's limit.
_PAYLOAD_TOO_LARGE = {
    "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    "errorType": "Function.ResponseSizeTooLarge",
}


@contextlib.contextmanager
def direct_lambda_tasks() -> Iterator[None]:
    """moto's Lambda task made a full ``lambda.invoke`` through botocore and moto's request layers (4-7 ms a task).

    So a Lambda task (``lambda:invoke``, ``.waitForTaskToken`` and plain function ARNs) calls moto's Lambda
    backend directly: the backend's ``invoke`` and so the runtime's handler seam still run, and the task gets
    what botocore would have parsed (``StatusCode``, ``FunctionError``, ``Payload``; moto's error as a
    ``ClientError``). Anything but FunctionName and Payload (Qualifier, LogType, ClientContext), or moto
    served over HTTP, takes moto's ordinary path."""
    from botocore.exceptions import ClientError
    from moto.awslambda.models import lambda_backends
    from moto.core.exceptions import JsonRESTError
    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils._invoke_lambda_function  # noqa: SLF001 - moto's own seam

    def invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        function_name = parameters.get("FunctionName")
        payload = parameters.get("Payload", b"")
        if (not botocore_stubber.enabled or not set(parameters) <= _DIRECT_INVOKE_PARAMETERS
                or not isinstance(function_name, str) or not isinstance(payload, bytes)):
            return dict(original(parameters, region, state_credentials))
        backend = lambda_backends[_account_id()][region]
        response_headers: dict[str, str] = {}
        try:
            result = backend.invoke(function_name, None, payload.decode("utf-8"), {}, response_headers)
        except JsonRESTError as exc:
            raise _client_error(ClientError, exc, "Invoke") from exc
        if result is None:  # never for a function (its invoke always answers); moto's LambdaResponse says 404
            return {"StatusCode": 404, "Payload": {}}
        if sys.getsizeof(result) > 6000000:
            response_headers["x-amz-function-error"] = "Unhandled"
            result = json.dumps(_PAYLOAD_TOO_LARGE).encode("utf-8")
        response: dict[str, Any] = {"StatusCode": 200}
        if "x-amz-function-error" in response_headers:
            response["FunctionError"] = response_headers["x-amz-function-error"]
        response["Payload"] = lambda_eval_utils._from_payload(io.BytesIO(  # noqa: SLF001 - moto's own parsing
            result if isinstance(result, bytes) else result.encode("utf-8")))
        return response

    with mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", invoke):
        yield


def _account_id() -> str:
    """The account moto serves a Step Functions task's client in (BaseResponse.get_current_account):
    MOTO_ACCOUNT_ID, else the account of the task client's access key ("ak", moto's default account)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from

    return str(get_account_id_from("ak"))


def _client_error(error_class: Any, exc: Any, operation: str) -> Exception:
    """The ClientError botocore raises for moto's JSON error response (what Step Functions reads of it:
    the code, message, HTTP status and request id)."""
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    request_id = gen_amzn_requestid_long()
    return error_class({  # type: ignore[no-any-return]
        "Error": {"Code": exc.error_type, "Message": exc.message},
        "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": exc.code,
                             "HTTPHeaders": {}, "RetryAttempts": 0},
        "Message": exc.message, "Type": "User",
    }, operation)


@contextlib.contextmanager
def states_evaluated_in_line() -> Iterator[None]:
    """moto starts a thread for every Task, Map and Parallel attempt only to wait for it with its TimeoutSeconds.

    (~0.7 ms a thread on this machine, 8 a case.) A state that declares no timeout (moto's default, ~3 years)
    is evaluated in line by the execution's thread instead; a state with a TimeoutSeconds (AwaitDecision)
    keeps its thread, and so its timeout."""
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    original = execute_state.ExecutionState._evaluate_with_timeout  # noqa: SLF001 - moto's own method
    untimed = threading.local()

    class InLine:
        """What ``_evaluate_with_timeout`` uses of a Thread: ``start`` runs the target, here and now."""

        def __init__(self, target: Callable[[], None]) -> None:
            self._target: Callable[[], None] | None = target

        def start(self) -> None:
            target, self._target = self._target, None
            if target is not None:
                target()

    def thread(target: Callable[[], None], daemon: bool | None = None) -> Any:
        if getattr(untimed, "next", False):
            untimed.next = False
            return InLine(target)
        return threading.Thread(target=target, daemon=daemon)

    def evaluate(state: Any, env: Any) -> None:
        untimed.next = state.timeout.is_default_value()
        try:
            original(state, env)
        finally:
            untimed.next = False

    with mock.patch.object(execute_state, "Thread", thread), \
            mock.patch.object(execute_state.ExecutionState, "_evaluate_with_timeout", evaluate):
        yield


@contextlib.contextmanager
def programs_evaluated_in_line() -> Iterator[None]:
    """moto runs each execution's program in a second thread only to join it with the state machine's
    TimeoutSeconds: with none (the template's two), the execution's own thread evaluates it, one thread fewer
    per execution (3,369 of them wait on a person on the ministry day, each thread ~16-30 KB of RSS)."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program

    original = Program.eval

    def evaluate(program: Any, env: Any) -> None:
        if program.timeout_seconds:
            original(program, env)
            return
        env.next_state_name = program.start_at.start_at_name
        try:
            EvalComponent.eval(program, env)  # what the thread ran (_eval_body keeps a state's error in env)
        except Exception as error:  # noqa: BLE001 - as moto's thread did: reported, and the execution ends
            # moto's thread printed what escaped _eval_body (its end-of-program events) and the execution went
            # on to terminate; so here, with the error's type only (a traceback could quote the execution's data)
            _LOG.error("a state machine program raised %s after its states ran", type(error).__name__)

    with mock.patch.object(Program, "eval", evaluate):
        yield


# The adapters that only make moto faster or smaller (the others change what it does, to what AWS does). Each
# can be left out by name, so that a differential test or a benchmark runs moto's ordinary path beside it.
SPEED_ADAPTERS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "cached_asl_parser": cached_asl_parser,
    "cached_task_clients": cached_task_clients,
    "cached_jsonpath": cached_jsonpath,
    "direct_lambda_tasks": direct_lambda_tasks,
    "states_evaluated_in_line": states_evaluated_in_line,
    "definitions_validated_once": definitions_validated_once,
    "executions_found_by_arn": executions_found_by_arn,
    "direct_dispatch": stepfunctions_direct_dispatch,
    "started_threads_not_kept": started_threads_not_kept,
    "programs_evaluated_in_line": programs_evaluated_in_line,
}


# Speed adapters entered only when asked for (``adapted(include=...)``). None now: states_evaluated_in_line was
# here while a failing Notify task was sometimes attempted once more than its Retry allows; the cause was the
# shared program's heap keys drawn at first use (``keyed``), which the in-line evaluation only made likelier.
NOT_BY_DEFAULT: frozenset[str] = frozenset()

# Execution ARN -> the task token its step waited with before the local endpoint restarted (the first step
# of the resumed execution to ask for a token is that step: it enters the state machine there).
RESUME_TOKENS: dict[str, str] = {}


@contextlib.contextmanager
def resumed_steps_keep_their_tokens() -> Iterator[None]:
    """A case workflow brought back after a restart of the local endpoint (``embedded/persistence.py``)
    waits at its step with the task token it had, not a new one: the token stored on the case, and a
    decision already sent with it (replayed from the journal), stay valid."""
    from moto.stepfunctions.parser.asl.eval.states import ContextObject, TaskData

    original = ContextObject.update_task_token

    def update_task_token(context: Any) -> str:
        data = context.context_object_data
        token = RESUME_TOKENS.pop(str((data.get("Execution") or {}).get("Id", "")), None)
        if token is None:
            return str(original(context))
        data["Task"] = TaskData(Token=token)
        return token

    with mock.patch.object(ContextObject, "update_task_token", update_task_token):
        yield


@contextlib.contextmanager
def adapted(without: Collection[str] = (), include: Collection[str] = ()) -> Iterator[None]:
    """Every Step Functions adapter, for as long as the runtime runs (less the speed adapters named in
    ``without``; those of NOT_BY_DEFAULT only if named in ``include``)."""
    unknown = (set(without) | set(include)) - set(SPEED_ADAPTERS)
    if unknown:
        raise ValueError(f"no Step Functions speed adapter {sorted(unknown)}")
    left_out = set(without) | (NOT_BY_DEFAULT - set(include))
    with contextlib.ExitStack() as stack:
        for name, adapter in SPEED_ADAPTERS.items():
            if name not in left_out:
                stack.enter_context(adapter())
        stack.enter_context(used_task_tokens_refused())
        stack.enter_context(resumed_steps_keep_their_tokens())
        yield
