"""Differential tests of what bringing an embedded runtime up keeps from one start to the next in a process: a
function's code zip, the SAM transform of the packaged template, botocore's parsed models (one Loader per
process). With each and without it, the same zip bytes, the same CloudFormation template, the same answers and
errors; and an edited handler is what the next runtime packages and runs."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from accesswatch_tools.embedded import runtime
from accesswatch_tools.embedded.adapters import botocore_data
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.embedded.template import PROJECT_ROOT, TEMPLATE_PATH, function_specs, load_template


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The runtime transforms with its region in the environment (it sets it before packaging); the transforms
    kept on disk go to a directory of the test's."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", runtime.REGION)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _zip_as_before(directory: Path) -> bytes:
    """How the runtime zipped a code directory before it kept zips (``ZipFile.write`` of each file)."""
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return payload.getvalue()


def _code_dirs() -> list[Path]:
    template = load_template()
    dirs = [spec.code_dir for spec in function_specs(template, PROJECT_ROOT).values()]
    dirs += [PROJECT_ROOT / res["Properties"]["ContentUri"] for res in template["Resources"].values()
             if isinstance(res.get("Properties", {}).get("ContentUri"), str)]
    return sorted(set(dirs))


@pytest.mark.parametrize("directory", _code_dirs(), ids=lambda d: d.relative_to(PROJECT_ROOT).as_posix())
def test_every_code_zip_is_the_same_bytes_as_zipping_it_again(directory: Path) -> None:
    runtime._ZIPS.pop(directory, None)
    built = runtime._zip_dir(directory)
    assert runtime._zip_dir(directory) is built  # kept
    assert built == _zip_as_before(directory)
    assert zipfile.ZipFile(io.BytesIO(built)).namelist()


def test_an_edited_file_is_zipped_again(tmp_path: Path) -> None:
    code = tmp_path / "fn"
    (code / "pkg").mkdir(parents=True)
    (code / "app.py").write_text("def handler(event, context):\n    return 1\n", encoding="utf-8")
    (code / "pkg" / "data.json").write_bytes(b"x" * 50_000)
    first = runtime._zip_dir(code)
    assert first == _zip_as_before(code)

    # The same size and the same timestamp: only the bytes differ.
    stat = (code / "app.py").stat()
    (code / "app.py").write_text("def handler(event, context):\n    return 2\n", encoding="utf-8")
    os.utime(code / "app.py", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = runtime._zip_dir(code)
    assert second != first and second == _zip_as_before(code)
    assert b"return 2" in zipfile.ZipFile(io.BytesIO(second)).read("app.py")

    # Only the timestamp differs (it is in the zip).
    os.utime(code / "app.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    third = runtime._zip_dir(code)
    assert third != second and third == _zip_as_before(code)

    # A new file, then a removed one.
    (code / "extra.py").write_text("X = 1\n", encoding="utf-8")
    assert runtime._zip_dir(code) == _zip_as_before(code) and runtime._zip_dir(code) != third
    (code / "extra.py").unlink()
    assert runtime._zip_dir(code) == third == _zip_as_before(code)


class _Artifacts:
    """The artifacts bucket's client, for packaging without moto: what was put is kept."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def create_bucket(self, **_: Any) -> None:
        return None

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> None:  # noqa: N803 - boto3's names
        self.objects[Key] = Body


def _packaged(template: dict[str, Any] | None = None) -> tuple[EmbeddedAws, dict[str, Any], _Artifacts]:
    aws = EmbeddedAws()
    if template is not None:
        aws.template = template
    artifacts = _Artifacts()
    aws._clients["s3"] = artifacts
    return aws, aws._package(), artifacts


def _transform_as_before(aws: EmbeddedAws, packaged: dict[str, Any]) -> dict[str, Any]:
    """The transform as the runtime did it before keeping it: the packaged template with the artifacts' own keys."""
    from samtranslator.translator.transform import transform

    class _NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    real = runtime._replaced(copy.deepcopy(packaged), aws._artifact_keys)
    cfn = transform(real, aws.parameters, _NoManagedPolicies())  # type: ignore[arg-type]
    aws._inline_definitions(cfn)
    return cfn


def test_the_kept_transform_is_the_transform_of_the_packaged_template_with_its_keys() -> None:
    runtime._TRANSFORMED.clear()
    first, packaged, artifacts = _packaged()
    cold = first._transform(copy.deepcopy(packaged))
    assert runtime._TRANSFORMED  # kept
    assert cold == _transform_as_before(first, packaged)
    assert runtime._ARTIFACT_PLACEHOLDER not in json.dumps(cold)
    # Each function's code is the zip put under the key its resource names.
    for name, res in cold["Resources"].items():
        if res["Type"] == "AWS::Lambda::Function":
            code = res["Properties"]["Code"]
            assert code["S3Bucket"] == runtime.ARTIFACTS_BUCKET and code["S3Key"].startswith(f"{name}/")
            assert artifacts.objects[code["S3Key"]] == runtime._zip_dir(first.functions[name].code_dir)

    # A second runtime: other keys, the kept transform, the same result as transforming again.
    second, packaged_again, _ = _packaged()
    assert packaged_again == packaged  # the packaged template names placeholders, not keys
    assert second._artifact_keys != first._artifact_keys
    warm = second._transform(copy.deepcopy(packaged_again))
    assert warm == _transform_as_before(second, packaged_again)
    assert warm != cold  # the keys differ
    # What a runtime does with its copy never reaches the next one.
    warm["Resources"].clear()
    third, packaged_third, _ = _packaged()
    assert third._transform(copy.deepcopy(packaged_third)) == _transform_as_before(third, packaged_third)


def test_other_parameters_or_another_region_are_transformed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime._TRANSFORMED.clear()
    aws, packaged, _ = _packaged()
    aws._transform(copy.deepcopy(packaged))
    other = EmbeddedAws(parameters={"RetryIntervalSeconds": "7"})
    other._clients["s3"] = _Artifacts()
    other_packaged = other._package()
    assert other._transform(copy.deepcopy(other_packaged)) == _transform_as_before(other, other_packaged)
    # Another region (the translator resolves AWS::Region and AWS::Partition with it): transformed again.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    elsewhere = aws._transform(copy.deepcopy(packaged))
    assert elsewhere == _transform_as_before(aws, packaged)
    assert [key for key in runtime._TRANSFORMED if "cn-north-1" in key]


def test_a_template_that_publishes_versions_is_transformed_with_its_keys() -> None:
    """AutoPublishAlias names the version by a hash of the code location: no placeholder may stand in for it."""
    template = load_template()
    template.setdefault("Globals", {}).setdefault("Function", {})["AutoPublishAlias"] = "live"
    aws, packaged, _ = _packaged(template)
    result = aws._transform(copy.deepcopy(packaged))
    assert result == _transform_as_before(aws, packaged)
    versions = [name for name, res in result["Resources"].items() if res["Type"] == "AWS::Lambda::Version"]
    assert versions
    # The test can fail: a placeholder would have named the versions otherwise.
    from samtranslator.translator.transform import transform

    class _NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    with_placeholders = transform(copy.deepcopy(packaged), aws.parameters, _NoManagedPolicies())  # type: ignore[arg-type]
    assert sorted(n for n, r in with_placeholders["Resources"].items() if r["Type"] == "AWS::Lambda::Version") \
        != sorted(versions)


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in ("CreationDateTime", "LastModified")}
    return value


def _calls(session: boto3.session.Session) -> list[Any]:
    """The same calls and errors, recorded as answers (metadata without request ids)."""
    answers: list[Any] = []

    def record(call: Any) -> None:
        try:
            answer = call()
            answer.pop("ResponseMetadata", None)
            answers.append(_without_times(json.loads(json.dumps(answer, default=str))))
        except ClientError as error:
            answers.append(("error", error.response["Error"]["Code"], error.response["Error"]["Message"]))

    dynamodb = session.client("dynamodb", region_name="ap-southeast-2")
    s3 = session.client("s3", region_name="ap-southeast-2")
    sqs = session.client("sqs", region_name="ap-southeast-2")
    record(lambda: dynamodb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}]))
    record(lambda: dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}}))
    record(lambda: dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}}))
    record(lambda: dynamodb.get_item(TableName="missing", Key={"pk": {"S": "a"}}))
    record(lambda: s3.create_bucket(Bucket="artifacts-one", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"}))
    record(lambda: s3.put_object(Bucket="artifacts-one", Key="k", Body=b"body"))
    record(lambda: s3.get_object(Bucket="artifacts-one", Key="nothing"))
    record(lambda: {"Body": s3.get_object(Bucket="artifacts-one", Key="k")["Body"].read().decode()})
    record(lambda: sqs.get_queue_url(QueueName="nothing"))
    record(lambda: {"regions": [session.get_available_regions("ec2", partition_name=p)
                                for p in ("aws", "aws-us-gov", "aws-cn")]})
    record(lambda: {"model": session.client("lambda", region_name="ap-southeast-2").meta.service_model.operation_names})
    return answers


def test_sessions_sharing_one_loader_give_the_same_answers_and_errors() -> None:
    with mock_aws():
        ordinary = _calls(boto3.session.Session())
    with botocore_data.one_loader_per_process():
        with mock_aws():
            adapted = _calls(boto3.session.Session())
        with mock_aws():
            adapted_again = _calls(boto3.session.Session())  # the second session reads the kept models
    assert adapted == ordinary == adapted_again
    assert any(isinstance(answer, tuple) and answer[1] == "ResourceNotFoundException" for answer in ordinary)
    assert any(isinstance(answer, tuple) and answer[1] == "NoSuchKey" for answer in ordinary)


def test_the_loader_is_shared_only_while_the_adapter_is_on() -> None:
    with botocore_data.one_loader_per_process():
        one = botocore.session.Session().get_component("data_loader")
        two = botocore.session.Session().get_component("data_loader")
    after = botocore.session.Session().get_component("data_loader")
    assert one is two
    assert after is not one


def test_threads_asking_moto_for_a_model_at_once_load_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first requests of many threads at once (case executions publishing): one load, every thread the same model."""
    import threading

    from moto.core import responses, utils

    loads: list[str] = []
    real_load = utils._load_service_model

    def slow_load(service_name: str, model_name: str) -> Any:
        loads.append(service_name)
        time.sleep(0.05)  # a read and parse of the model's JSON, long enough for every thread to miss the cache
        return real_load(service_name, model_name)

    monkeypatch.setattr(utils, "_load_service_model", slow_load)
    utils.get_service_model.cache_clear()  # a process that has not loaded sns's model yet
    try:
        with botocore_data.moto_service_models_once():
            start = threading.Barrier(12)
            got: list[Any] = []

            def ask() -> None:
                start.wait()
                got.append(responses.get_service_model("sns"))

            threads = [threading.Thread(target=ask) for _ in range(12)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert loads == ["sns"] and len(got) == 12 and all(model is got[0] for model in got)
        assert responses.get_service_model is utils.get_service_model  # moto's own again once the adapter is off
    finally:
        utils.get_service_model.cache_clear()


def test_an_edited_handler_is_what_the_next_runtime_packages_and_runs(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy2(TEMPLATE_PATH, root / "template.yaml")
    for name in ("functions", "layers", "statemachines"):
        shutil.copytree(PROJECT_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    template_path = root / "template.yaml"
    logical_id = "ReferenceFunction"
    app = root / "functions" / "reference" / "app.py"
    assert function_specs(load_template(template_path), root)[logical_id].module_file == app

    def code_of(aws: EmbeddedAws) -> tuple[str, bytes]:
        config = aws.client("lambda").get_function(FunctionName=aws.resource_name(logical_id))
        for name, value in config["Configuration"]["Environment"]["Variables"].items():
            monkeypatch.setenv(name, str(value))  # the module reads its settings at import
        sha = config["Configuration"]["CodeSha256"]
        key = next(k for k in aws._artifact_keys.values() if k.startswith(f"{logical_id}/"))
        body = aws.client("s3").get_object(Bucket=runtime.ARTIFACTS_BUCKET, Key=key)["Body"].read()
        return sha, body

    with EmbeddedAws(template_path=template_path) as aws:
        sha_before, zip_before = code_of(aws)
        handler_before = aws._handler(logical_id, {})
    assert zip_before == _zip_as_before(app.parent)

    app.write_text(app.read_text(encoding="utf-8") + "\nEDITED_FOR_THE_TEST = True\n", encoding="utf-8")
    with EmbeddedAws(template_path=template_path) as aws:
        sha_after, zip_after = code_of(aws)
        handler_after = aws._handler(logical_id, {})
        module = aws._modules[logical_id]
    assert zip_after == _zip_as_before(app.parent) and zip_after != zip_before
    assert b"EDITED_FOR_THE_TEST" in zipfile.ZipFile(io.BytesIO(zip_after)).read("app.py")
    assert sha_after != sha_before
    assert sha_after == base64.b64encode(hashlib.sha256(zip_after).digest()).decode()
    assert getattr(module, "EDITED_FOR_THE_TEST", False) is True
    assert handler_after is not handler_before


def test_the_stacks_resources_read_from_moto_are_what_list_stack_resources_answers() -> None:
    with EmbeddedAws() as aws:
        cloudformation = aws.client("cloudformation")
        answered: dict[str, str] = {}
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=runtime.STACK_NAME):
            for summary in page["StackResourceSummaries"]:
                answered[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
        assert aws.physical == answered == runtime._stack_resources(runtime.STACK_NAME)
        assert len(answered) > 50 and all(isinstance(v, str) for v in answered.values())


def test_a_transform_kept_on_disk_is_the_transform_of_the_packaged_template_with_its_keys(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runtime._TRANSFORMED.clear()
    first, packaged, _ = _packaged()
    first._transform(copy.deepcopy(packaged))
    files = list((tmp_path / "cache" / "accesswatch" / "sam-transform").glob("*.json"))
    assert len(files) == 1

    # The next process: nothing in memory, the translator not called.
    runtime._TRANSFORMED.clear()

    def no_translator(*_: Any) -> Any:
        raise AssertionError("transformed again")

    with monkeypatch.context() as patched:
        patched.setattr(runtime, "_transform_keeping_hashes", no_translator)
        second, packaged_again, _ = _packaged()
        from_disk = second._transform(copy.deepcopy(packaged_again))
    assert from_disk == _transform_as_before(second, packaged_again)
    assert any(name.startswith("SharedLayer") for name in from_disk["Resources"])

    # A file cut short, or made from something else, is not served: the transform is done again, the same.
    for broken in (files[0].read_text(encoding="utf-8")[:1000],
                   json.dumps({"key": "something else", "cfn": {}, "hashes": []})):
        files[0].write_text(broken, encoding="utf-8")
        runtime._TRANSFORMED.clear()
        third, packaged_third, _ = _packaged()
        assert third._transform(copy.deepcopy(packaged_third)) == _transform_as_before(third, packaged_third)
        assert json.loads(files[0].read_text(encoding="utf-8"))["key"]  # written whole again


def test_a_cache_that_cannot_be_written_only_costs_the_transform(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    runtime._TRANSFORMED.clear()
    aws, packaged, _ = _packaged()
    assert aws._transform(copy.deepcopy(packaged)) == _transform_as_before(aws, packaged)


def test_no_artifact_placeholder_is_part_of_another_so_each_gets_its_own_key():
    names = ["DigestFunction", "WeeklyDigestFunction", "Function", "IngestFunction"]
    keys = {runtime.artifact_placeholder(n): f"{n}/key-of-{n}.zip" for n in names}
    for name in names:
        assert [p for p in keys if p in runtime.artifact_placeholder(name)] == [runtime.artifact_placeholder(name)]
    template = {n: {"CodeUri": f"s3://bucket/{runtime.artifact_placeholder(n)}"} for n in names}
    assert runtime._replaced(template, keys) == {n: {"CodeUri": f"s3://bucket/{n}/key-of-{n}.zip"} for n in names}
