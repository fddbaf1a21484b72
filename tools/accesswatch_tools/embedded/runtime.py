"""The embedded AWS runtime: template.yaml deployed to in-process moto, handlers run in-process.

What it does, in order (docs/local-runtime.md says why each adapter exists):

1. reads ``template.yaml`` and packages it as ``sam package`` would: every local ``CodeUri`` and
   ``ContentUri`` is zipped to an artifacts bucket, every ``DefinitionUri`` is inlined;
2. transforms it with aws-sam-translator and creates the stack in moto's CloudFormation;
3. substitutes ``DefinitionSubstitutions`` into the ASL text itself (moto ignores the property)
   and sends state machines to moto's *executing* Step Functions backend;
4. applies the raw bucket's notification configuration, which moto's CloudFormation ignores;
5. replaces moto's one Lambda invocation seam (``LambdaFunction._invoke_lambda``) so that every
   invocation, from ``lambda.invoke``, Step Functions or an S3 notification, runs the handler the
   template names, in this process, with the function's environment from the template.

Nothing here knows which functions, tables or state machines exist: all of it comes from the template.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

from accesswatch_tools.embedded.adapters import (
    botocore_data,
    cloudformation,
    cloudwatch,
    dynamodb,
    s3,
    stepfunctions,
)
from accesswatch_tools.embedded.metrics import publish_invocation_metrics
from accesswatch_tools.embedded.template import (
    STACK_NAME,
    TEMPLATE_PATH,
    FunctionSpec,
    function_specs,
    load_template,
    split_asl,
    state_machine_files,
)

LOG = logging.getLogger(__name__)

REGION = "ap-southeast-2"
ACCOUNT_ID = "123456789012"
ARTIFACTS_BUCKET = "accesswatch-local-artifacts"

# Parameter values the embedded runtime deploys with (the rest keep the template's defaults).
LOCAL_PARAMETERS: dict[str, str] = {
    "Stage": "local",
    "RetryIntervalSeconds": "1",
    "DetectMaxConcurrency": "1",
}


# The buckets whose template Object Lock the runtime applies (moto's CloudFormation ignores it). Only the evidence
# bucket, whose packs the CLI writes with put_object: moto refuses a CopyObject into a locked bucket without a
# Content-MD5 or checksum header, which staging copies into the raw bucket (tests, tools) do not send, so the
# raw and trail buckets stay unlocked locally (tests/template checks their locks in the template instead).
LOCKED_LOCALLY: frozenset[str] = frozenset({"EvidenceBucket"})

class RuntimeFailure(RuntimeError):
    """The embedded runtime itself could not be set up."""


@dataclass
class Invocation:
    """One Lambda invocation as the embedded runtime ran it."""

    function: str  # logical id from the template
    request_id: str
    started: float
    duration_s: float
    errored: bool
    error_type: str | None = None
    error_message: str | None = None
    trace: str | None = None  # kept in memory for tests and debugging; never logged
    logs: str = ""  # what the handler wrote (also stored in the Logs backend)


@dataclass
class _LambdaContext:
    """The attributes of the Lambda context object that handlers and powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_s: int
    started: float = field(default_factory=time.monotonic)
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


class _InvocationOutput(io.TextIOBase):
    """sys.stdout stand-in: handler output goes to the invocation's buffer, the rest passes through.

    powertools' Logger binds the stream it finds at construction; binding this proxy lets each
    invocation's log lines be captured (and stored in the Logs backend) whichever thread runs it.
    """

    def __init__(self, passthrough: Any) -> None:
        self._passthrough = passthrough
        self._local = threading.local()

    @contextlib.contextmanager
    def capture(self) -> Iterator[io.StringIO]:
        buffer = io.StringIO()
        previous = getattr(self._local, "buffer", None)
        self._local.buffer = buffer
        try:
            yield buffer
        finally:
            self._local.buffer = previous

    def write(self, text: str) -> int:
        buffer = getattr(self._local, "buffer", None)
        return (buffer or self._passthrough).write(text)

    def flush(self) -> None:
        buffer = getattr(self._local, "buffer", None)
        (buffer or self._passthrough).flush()

    def isatty(self) -> bool:
        return False

    def passing_through_to(self, stream: Any) -> None:
        """Where output outside an invocation goes (the stdout of whoever started the runtime)."""
        if stream is not self:
            self._passthrough = stream


# One per process: a logger created by one runtime must still be captured by the next.
_OUTPUT = _InvocationOutput(sys.stdout)


def _capture_powertools_loggers(output: _InvocationOutput) -> None:
    """Point every powertools logger's stream at ``output``.

    A powertools Logger configures the process-wide ``logging`` logger of its service once, binding
    whatever stdout was then (another runtime's, or a test's capture); later Loggers of the same
    service reuse it. Rebinding makes each invocation's lines land in that invocation's logs.
    """
    import logging as _logging

    from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

    loggers = [_logging.getLogger(name) for name in list(_logging.root.manager.loggerDict)]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if (isinstance(handler, _logging.StreamHandler)
                    and isinstance(handler.formatter, BasePowertoolsFormatter)
                    and handler.stream is not output):
                handler.setStream(output)  # type: ignore[arg-type]


@contextlib.contextmanager
def _function_environment(values: dict[str, str]) -> Iterator[None]:
    """A function's environment variables for one invocation: set, never removed while the runtime runs.

    Other threads read the environment at any moment, outside the runtime's lock: Step Functions tasks
    run on their own threads, and botocore, creating a client there, walks ``os.environ.items()`` for
    proxy settings (``urllib.request.getproxies_environment``). A variable deleted between that walk's
    listing of the keys and its reading of one raises ``KeyError: '<name>'`` in the task, which Step
    Functions reports as ``States.Runtime`` (not retried): a case went to the dead-letter queue
    (``KeyError: 'CASE_ER_TYPES'``, a CaseStep variable removed as its invocation ended) and a file's
    detection failed. So nothing is deleted: ``mock.patch.dict`` cleared and refilled the whole
    environment (``KeyError: 'REQUESTS_CA_BUNDLE'``), and removing only the function's own variables
    afterwards still raced. A variable one function is given stays visible to the others until the
    runtime closes; that each function starts with only its own template environment is proved in a
    fresh interpreter per function (tests/template/test_layer_imports.py). Values that existed before
    the invocation are put back (a set, never a delete). tests/e2e/test_case_env_race.py.
    """
    before = {key: os.environ[key] for key in values if key in os.environ}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


# A function's code zip, the last one built for each code directory in this process: (content key, zip).
_ZIPS: dict[Path, tuple[str, bytes]] = {}


def _zip_dir(directory: Path) -> bytes:
    """The directory zipped as ``sam package`` would (no ``__pycache__``), the same bytes as zipping it again:
    each start of a runtime packages every function, so the zip built last is served again while every file's
    name, timestamp, mode and bytes are unchanged (read each time; an edited handler is zipped again)."""
    entries: list[tuple[zipfile.ZipInfo, bytes]] = []
    key = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            info = zipfile.ZipInfo.from_file(path, path.relative_to(directory).as_posix())
            data = path.read_bytes()
            entries.append((info, data))
            key.update(json.dumps([info.filename, info.date_time, info.external_attr, len(data)]).encode())
            key.update(data)
    digest = key.hexdigest()
    cached = _ZIPS.get(directory)
    if cached is not None and cached[0] == digest:
        return cached[1]
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            # What ZipFile.write does with a file, from the bytes read above.
            info.compress_type = archive.compression
            info._compresslevel = archive.compresslevel  # type: ignore[attr-defined]
            with archive.open(info, "w") as dest:
                for start in range(0, len(data), _ZIP_CHUNK):
                    dest.write(data[start:start + _ZIP_CHUNK])
    _ZIPS[directory] = (digest, payload.getvalue())
    return _ZIPS[directory][1]


_ZIP_CHUNK = 1024 * 8  # shutil.copyfileobj's chunk in ZipFile.write

# The packaged template names each artifact by this in place of its random key until the transform is done.
_ARTIFACT_PLACEHOLDER = "artifact-key-placeholder-0f3c9a"


def artifact_placeholder(name: str) -> str:
    """The S3 key that stands for ``name``'s code upload in the kept transform. It names the resource after the
    placeholder too, so that no placeholder is part of another's text (``DigestFunction/<p>.zip`` would be the
    tail of ``WeeklyDigestFunction/<p>.zip``, and replacing it would spoil the other's key)."""
    return f"{name}/{_ARTIFACT_PLACEHOLDER}-{name}.zip"


@dataclass(frozen=True)
class _KeptTransform:
    """A SAM transform of a packaged template whose artifacts are named by placeholders, and every hash the
    translator took of text naming one (a layer version's logical id is ``SharedLayer`` + such a hash)."""

    cfn: dict[str, Any]
    hashes: tuple[tuple[str, int, str], ...]  # (the hashed text, length, the hash) for each


# The last SAM transform of this process: (packaged template, parameters, region) as JSON -> what it gave.
_TRANSFORMED: dict[str, _KeptTransform] = {}


def _transform_keeping_hashes(template: dict[str, Any], parameters: dict[str, str]) -> _KeptTransform:
    """The SAM transform, recording the hashes it takes of text that names an artifact (by its placeholder)."""
    from samtranslator.translator.logical_id_generator import LogicalIdGenerator
    from samtranslator.translator.transform import transform

    class _NoManagedPolicies:
        """The template names no AWS managed policies by name, only policy templates."""

        def load(self) -> dict[str, str]:
            return {}

    hashes: list[tuple[str, int, str]] = []
    original = LogicalIdGenerator.get_hash

    def get_hash(self: Any, length: int = LogicalIdGenerator.HASH_LENGTH) -> str:
        value: str = original(self, length)
        if not self.data_hash and _ARTIFACT_PLACEHOLDER in self.data_str:
            hashes.append((self.data_str, length, value))
        return value

    with mock.patch.object(LogicalIdGenerator, "get_hash", get_hash):
        cfn = transform(template, parameters, _NoManagedPolicies())  # type: ignore[arg-type]
    return _KeptTransform(cfn, tuple(hashes))


# Kept on disk too, for the next process (each local endpoint and pytest worker pays the translator's import,
# ~0.4 s, and a first transform): a file per (format, translator version, packaged template, parameters, region).
_TRANSFORM_CACHE_FORMAT = 1


def _transform_cache_file(key: str) -> Path:
    from importlib.metadata import version

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(json.dumps([_TRANSFORM_CACHE_FORMAT, version("aws-sam-translator"), key]).encode())
    return base / "accesswatch" / "sam-transform" / f"{digest.hexdigest()}.json"


def _read_kept_transform(key: str) -> _KeptTransform | None:
    """The transform a process kept on disk for this key, if there is one whole (written whole or not at all)."""
    try:
        data = json.loads(_transform_cache_file(key).read_text(encoding="utf-8"))
        if data.get("key") != key:  # the file names what it was made from: a digest collision is not served
            return None
        return _KeptTransform(data["cfn"], tuple((str(t), int(n), str(v)) for t, n, v in data["hashes"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_kept_transform(key: str, kept: _KeptTransform) -> None:
    """Written to a temporary file and renamed: a reader sees the whole file or none (workers run side by side).
    A cache that cannot be written (a read-only home) only costs the next process its transform."""
    path = _transform_cache_file(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps({"key": key, "cfn": kept.cfn, "hashes": kept.hashes}), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        LOG.debug("the SAM transform could not be kept on disk", exc_info=True)


def _with_artifact_keys(kept: _KeptTransform, keys: dict[str, str]) -> dict[str, Any]:
    """A copy of the kept transform for these artifact keys: each placeholder replaced by its key, and each hash
    of text naming a placeholder by the translator's hash of that text naming the key (SAM's own hashing)."""
    from samtranslator.translator.logical_id_generator import LogicalIdGenerator

    replacements = dict(keys)
    for text, length, value in kept.hashes:
        for placeholder, key in keys.items():
            text = text.replace(placeholder, key)
        generator = LogicalIdGenerator("", None)
        generator.data_str = text
        replacements[value] = generator.get_hash(length)
    return _replaced(kept.cfn, replacements)


def _replaced(value: Any, replacements: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {_replaced(name, replacements): _replaced(item, replacements) for name, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item, replacements) for item in value]
    if isinstance(value, str):
        for old, new in replacements.items():
            if old in value:
                value = value.replace(old, new)
        if _ARTIFACT_PLACEHOLDER in value:
            raise RuntimeFailure("an artifact placeholder is left in the transformed template")
    return value


def _stack_resources(stack_name: str) -> dict[str, str]:
    """Logical id -> physical id of the stack's resources, as ``list_stack_resources`` answers them, read from moto's
    CloudFormation backend (the answer's ~300 summaries, each with a timestamp, serialised and parsed again were
    a tenth of bringing a runtime up). tests/unit/tools/test_runtime_startup.py compares it with the API's answer."""
    from moto.cloudformation.models import cloudformation_backends

    _, resources = cloudformation_backends[ACCOUNT_ID][REGION].list_stack_resources(stack_name)
    physical: dict[str, str] = {}
    for resource in resources:
        physical_id = getattr(resource, "physical_resource_id", "")
        physical[str(getattr(resource, "logical_resource_id", ""))] = "" if physical_id is None else str(physical_id)
    return physical


class EmbeddedAws:
    """The stack of ``template.yaml`` running on in-process moto. Use as a context manager."""

    def __init__(
        self,
        template_path: Path = TEMPLATE_PATH,
        parameters: dict[str, str] | None = None,
        handler_wrapper: Callable[[str, Callable[..., Any]], Callable[..., Any]] | None = None,
        on_invocation: Callable[[Invocation], None] | None = None,
        stable_names: bool = False,
    ) -> None:
        self.template_path = template_path
        # Generated names that stay the same from one start to the next (the local endpoint's durable state).
        self.stable_names = stable_names
        self.root = template_path.parent
        self.parameters = {**LOCAL_PARAMETERS, **(parameters or {})}
        self.template = load_template(template_path)
        self.functions: dict[str, FunctionSpec] = function_specs(self.template, self.root)
        self.invocations: list[Invocation] = []
        self.outputs: dict[str, str] = {}
        self.physical: dict[str, str] = {}  # logical id -> physical id
        self._by_function_name: dict[str, str] = {}  # physical function name -> logical id
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.RLock()
        self._exit = contextlib.ExitStack()
        self._handler_wrapper = handler_wrapper
        self._on_invocation = on_invocation
        self._clients: dict[str, Any] = {}
        self._stdout_proxy: _InvocationOutput | None = None
        self._invoking = 0  # invocations running now
        self._invoking_lock = threading.Lock()
        self._artifact_keys: dict[str, str] = {}  # packaged template's placeholder key -> the artifact's key

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> EmbeddedAws:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _start(self) -> None:
        from moto import mock_aws

        from accesswatch_tools.embedded.memory import fewer_malloc_arenas

        fewer_malloc_arenas()  # before the runtime's threads (embedded/memory.py)

        # moto says, for every stack, which resource types it skips; docs/local-runtime.md lists them.
        self._exit.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        logging.getLogger("moto").setLevel(logging.CRITICAL)

        env = {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's dummy credentials
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "MOTO_ACCOUNT_ID": ACCOUNT_ID,
        }
        self._exit.enter_context(mock.patch.dict(os.environ, env))
        for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            if var in os.environ:
                self._exit.enter_context(mock.patch.dict(os.environ, {var: ""}))
                del os.environ[var]
        # Before moto: its Sessions, and those of the clients made while the runtime runs, share the parsed models.
        self._exit.enter_context(botocore_data.one_loader_per_process())
        self._exit.enter_context(botocore_data.moto_service_models_once())
        self._exit.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "core": {"reset_boto3_session": True}})
        )
        self._patch_moto()
        self._stdout_proxy = _OUTPUT
        _OUTPUT.passing_through_to(sys.stdout)
        self._exit.enter_context(contextlib.redirect_stdout(self._stdout_proxy))  # type: ignore[type-var]
        _capture_powertools_loggers(_OUTPUT)
        packaged = self._package()
        cfn_template = self._transform(packaged)
        self._create_stack(cfn_template)
        self._apply_bucket_notifications(cfn_template)
        # moto skips the template's alarms: created here, evaluated whenever described (adapters/cloudwatch.py)
        self._exit.enter_context(cloudwatch.template_alarms(self))

    # -------------------------------------------------------------- boto3
    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(service, region_name=REGION)
        return self._clients[service]

    def resource(self, service: str) -> Any:
        import boto3

        return boto3.resource(service, region_name=REGION)

    def invocation_failures(self) -> list[dict[str, str]]:
        return [{"function": i.function, "error_type": i.error_type or ""} for i in self.invocations if i.errored]

    def invoking(self) -> bool:
        """Whether a Lambda invocation is running now."""
        return self._invoking > 0

    @contextlib.contextmanager
    def invocations_held(self) -> Iterator[None]:
        """No invocation runs while this is held (the local endpoint's checkpoints: embedded/persistence.py)."""
        with self._lock:
            yield

    def resource_name(self, logical_id: str) -> str:
        try:
            return self.physical[logical_id]
        except KeyError:
            raise KeyError(f"template has no resource {logical_id}") from None

    # -------------------------------------------------------------- packaging (as `sam package`)
    def _package(self) -> dict[str, Any]:
        """The template as ``sam package`` leaves it; the artifacts' keys (random) are kept in ``self._artifact_keys``
        (the key a code location was given -> the key of its upload) and the template names the former: see
        ``_transform``."""
        s3 = self.client("s3")
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        template = copy.deepcopy(self.template)
        self._artifact_keys = {}
        for name, res in template["Resources"].items():
            props = res.get("Properties", {})
            for prop in ("CodeUri", "ContentUri"):
                if isinstance(props.get(prop), str) and not props[prop].startswith("s3://"):
                    key = f"{name}/{uuid.uuid4().hex}.zip"
                    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=_zip_dir(self.root / props[prop]))
                    placeholder = artifact_placeholder(name)
                    self._artifact_keys[placeholder] = key
                    props[prop] = f"s3://{ARTIFACTS_BUCKET}/{placeholder}"
            if res.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
                # Inlined after the transform, with the substitutions (see _inline_definitions).
                del props["DefinitionUri"]
                props["Definition"] = {"StartAt": "Placeholder", "States": {"Placeholder": {"Type": "Succeed"}}}
        return template

    def _transform(self, template: dict[str, Any]) -> dict[str, Any]:
        # The SAM transform of one packaged template with one set of parameters is the same every time: kept for
        # the next runtime of the process, keyed by both and the region, the artifacts' keys put in after (they
        # are random for each runtime; the packaged template names them by placeholders), and so are the hashes
        # the translator took of them. Not kept when a function publishes versions (AutoPublishAlias,
        # AutoPublishCodeSha256): the version's name is a hash of the code taken outside the id generator.
        # The translator fills AWS::Region and AWS::Partition from the session's region (the runtime's).
        key = json.dumps([template, self.parameters, os.environ.get("AWS_DEFAULT_REGION")], sort_keys=True)
        kept = _TRANSFORMED.get(key)
        if kept is None and "AutoPublish" not in key:
            kept = _read_kept_transform(key)
            if kept is None:
                kept = _transform_keeping_hashes(copy.deepcopy(template), self.parameters)  # it edits its input
                _write_kept_transform(key, kept)
            _TRANSFORMED.clear()
            # A hash that the template already contains could not be told from the translator's: not kept.
            if not any(value in key for _, _, value in kept.hashes):
                _TRANSFORMED[key] = kept
        if kept is not None and key in _TRANSFORMED:
            cfn = _with_artifact_keys(kept, self._artifact_keys)
        else:
            cfn = _transform_keeping_hashes(_replaced(template, self._artifact_keys), self.parameters).cfn
        self._inline_definitions(cfn)
        return cfn

    def _inline_definitions(self, cfn: dict[str, Any]) -> None:
        """DefinitionUri + DefinitionSubstitutions -> DefinitionString as Fn::Join (moto ignores the latter)."""
        for name, path in state_machine_files(self.template, self.root).items():
            sam_props = self.template["Resources"][name]["Properties"]
            substitutions = sam_props.get("DefinitionSubstitutions", {})
            pieces: list[Any] = []
            for part in split_asl(path.read_text(encoding="utf-8")):
                if isinstance(part, tuple):
                    if part[0] not in substitutions:
                        raise RuntimeFailure(f"{path.name}: no DefinitionSubstitutions entry for ${{{part[0]}}}")
                    pieces.append(substitutions[part[0]])
                else:
                    pieces.append(part)
            props = cfn["Resources"][name]["Properties"]
            props.pop("Definition", None)
            props.pop("DefinitionSubstitutions", None)
            props["DefinitionString"] = {"Fn::Join": ["", pieces]}

    # -------------------------------------------------------------- stack
    def _create_stack(self, cfn: dict[str, Any]) -> None:
        cloudformation = self.client("cloudformation")
        cloudformation.create_stack(
            StackName=STACK_NAME,
            TemplateBody=json.dumps(cfn),
            Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in self.parameters.items()
                        if k in cfn.get("Parameters", {})],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise RuntimeFailure(f"stack creation ended in {stack['StackStatus']}: {stack.get('StackStatusReason')}")
        self.physical = _stack_resources(STACK_NAME)
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        for logical_id in self.functions:
            self._by_function_name[self.physical[logical_id]] = logical_id

    def _apply_bucket_notifications(self, cfn: dict[str, Any]) -> None:
        """moto's CloudFormation ignores NotificationConfiguration, VersioningConfiguration and
        ObjectLockConfiguration: apply what the template says (a versioned bucket's notifications carry the
        version id of each put; a bucket of LOCKED_LOCALLY gets its default retention on each put, as on AWS)."""
        s3 = self.client("s3")
        lambda_client = self.client("lambda")
        for name, res in cfn["Resources"].items():
            if res["Type"] != "AWS::S3::Bucket":
                continue
            versioning = res.get("Properties", {}).get("VersioningConfiguration", {}).get("Status")
            if versioning:
                s3.put_bucket_versioning(Bucket=self.physical[name], VersioningConfiguration={"Status": versioning})
            lock = res.get("Properties", {}).get("ObjectLockConfiguration")
            if name in LOCKED_LOCALLY and lock and lock.get("ObjectLockEnabled") == "Enabled":
                s3.put_object_lock_configuration(Bucket=self.physical[name],
                                                 ObjectLockConfiguration=self._lock_configuration(cfn, lock))
            config = res.get("Properties", {}).get("NotificationConfiguration")
            if not config:
                continue
            lambda_configs = []
            for entry in config.get("LambdaConfigurations", []):
                function = entry["Function"]
                logical = function["Fn::GetAtt"][0] if isinstance(function, dict) else function
                arn = lambda_client.get_function(FunctionName=self.physical[logical])["Configuration"]["FunctionArn"]
                item: dict[str, Any] = {"LambdaFunctionArn": arn, "Events": [entry["Event"]]}
                if "Filter" in entry:
                    item["Filter"] = {"Key": {"FilterRules": entry["Filter"]["S3Key"]["Rules"]}}
                lambda_configs.append(item)
            s3.put_bucket_notification_configuration(
                Bucket=self.physical[name],
                NotificationConfiguration={"LambdaFunctionConfigurations": lambda_configs},
            )

    def _lock_configuration(self, cfn: dict[str, Any], lock: dict[str, Any]) -> dict[str, Any]:
        """The template's ObjectLockConfiguration with its default retention's Days or Years resolved (a
        number, or a Ref to a parameter: the runtime's value, else the template's default)."""
        retention = dict(lock.get("Rule", {}).get("DefaultRetention", {}))
        for unit in ("Days", "Years"):
            value: Any = retention.get(unit)
            if isinstance(value, dict) and "Ref" in value:
                parameter = value["Ref"]
                value = self.parameters.get(parameter, cfn.get("Parameters", {}).get(parameter, {}).get("Default"))
            if value is not None:
                retention[unit] = int(value)
        config: dict[str, Any] = {"ObjectLockEnabled": "Enabled"}
        if retention:
            config["Rule"] = {"DefaultRetention": retention}
        return config

    # -------------------------------------------------------------- moto seams
    def _patch_moto(self) -> None:
        from moto.awslambda.models import LambdaFunction
        from moto.stepfunctions.models import StateMachine

        runtime = self

        def invoke(function: Any, event: Any = None) -> tuple[str, bool, str]:
            return runtime._invoke(function, event)

        def create_state_machine(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                                 region_name: str, **kwargs: Any) -> Any:
            # moto's CloudFormation creates state machines in the backend that does not execute.
            from moto.stepfunctions.parser.models import stepfunctions_parser_backends

            props = cloudformation_json["Properties"]
            backend = stepfunctions_parser_backends[account_id][region_name]
            return backend.create_state_machine(
                name=props.get("StateMachineName", resource_name),
                definition=props.get("DefinitionString", ""),
                roleArn=props.get("RoleArn", ""),
                sm_type=props.get("StateMachineType", "STANDARD"),
            )

        self._exit.enter_context(mock.patch.object(LambdaFunction, "_invoke_lambda", invoke))
        self._exit.enter_context(cloudformation.adapted(stable_names=self.stable_names))
        self._exit.enter_context(stepfunctions.adapted())
        self._exit.enter_context(s3.adapted())
        self._exit.enter_context(dynamodb.adapted())
        self._exit.enter_context(
            mock.patch.object(StateMachine, "create_from_cloudformation_json", classmethod(create_state_machine))
        )

    def _handler(self, logical_id: str, env: dict[str, str]) -> Callable[..., Any]:
        module = self._modules.get(logical_id)
        if module is None:
            spec = self.functions[logical_id]
            module_name = f"accesswatch_fn_{logical_id}"
            loader_spec = importlib.util.spec_from_file_location(module_name, spec.module_file)
            if loader_spec is None or loader_spec.loader is None:
                raise RuntimeFailure(f"cannot load handler module {spec.module_file}")
            module = importlib.util.module_from_spec(loader_spec)
            # Cold start: the module reads its configuration from this function's environment.
            loader_spec.loader.exec_module(module)
            self._modules[logical_id] = module
            _capture_powertools_loggers(_OUTPUT)
        handler = getattr(module, self.functions[logical_id].attribute)
        if self._handler_wrapper is not None:
            handler = self._handler_wrapper(logical_id, handler)
        return handler

    @contextlib.contextmanager
    def _handler_stdout(self) -> Iterator[None]:
        """The invocation's prints (powertools writes its EMF metrics with ``print``) reach the capture
        even when someone replaced sys.stdout since the runtime started (pytest does at every test phase,
        so a runtime shared by a module's tests lost its handlers' metrics). Invocations run one at a
        time (the caller holds the lock), and other threads' output passes through unchanged."""
        proxy = self._stdout_proxy
        current = sys.stdout
        if proxy is None or current is proxy:
            yield
            return
        proxy.passing_through_to(current)
        sys.stdout = proxy  # type: ignore[assignment]
        try:
            yield
        finally:
            if sys.stdout is proxy:
                sys.stdout = current

    def _invoke(self, function: Any, event: Any) -> tuple[str, bool, str]:
        with self._invoking_lock:
            self._invoking += 1  # until its logs and metrics are stored too
        try:
            return self._invoke_handler(function, event)
        finally:
            with self._invoking_lock:
                self._invoking -= 1

    def _invoke_handler(self, function: Any, event: Any) -> tuple[str, bool, str]:
        logical_id = self._by_function_name.get(function.function_name)
        if logical_id is None:
            return json.dumps({"errorMessage": f"no handler for {function.function_name}",
                               "errorType": "ResourceNotFound"}), True, ""
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        request_id = str(uuid.uuid4())
        env = {
            **{k: str(v) for k, v in function.environment_vars.items()},
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "_X_AMZN_TRACE_ID": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
            # No X-Ray daemon here: powertools' Tracer becomes a no-op (docs/local-runtime.md).
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        context = _LambdaContext(
            function_name=function.function_name,
            memory_limit_in_mb=int(function.memory_size),
            invoked_function_arn=function.function_arn,
            aws_request_id=request_id,
            timeout_s=int(function.timeout),
            log_group_name=function.logs_group_name,
        )
        assert self._stdout_proxy is not None
        function.logs_backend.ensure_log_group(function.logs_group_name)
        started = time.monotonic()
        # One invocation at a time: handlers share this process's environment variables.
        with self._lock, _function_environment(env), self._handler_stdout(), self._stdout_proxy.capture() as output:
            try:
                result = self._handler(logical_id, env)(event, context)
                payload, errored = json.dumps(result, default=str), False
                record = Invocation(logical_id, request_id, started, time.monotonic() - started, False)
            # The Lambda service boundary: whatever a handler raises becomes a function error
            # that Step Functions retries or catches by its errorType, exactly as on AWS.
            except Exception as exc:  # noqa: BLE001
                payload = json.dumps({
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_exception(exc)[-3:],
                })
                errored = True
                record = Invocation(logical_id, request_id, started, time.monotonic() - started, True,
                                    type(exc).__name__, str(exc), "".join(traceback.format_exception(exc)))
                output.write(json.dumps({"level": "ERROR", "message": "invocation failed",
                                         "errorType": type(exc).__name__, "function": logical_id}) + "\n")
        logs = output.getvalue()
        record.logs = logs
        self.invocations.append(record)
        # The metrics the handler emitted (EMF) and those Lambda itself records (AWS/Lambda) go to
        # CloudWatch, over which the template's alarms are evaluated when described (adapters/cloudwatch.py).
        publish_invocation_metrics(record, self.client("cloudwatch"), function.function_name)
        if self._on_invocation is not None:
            self._on_invocation(record)
        function.save_logs(logs)
        return payload, errored, logs
