"""The `sam local invoke --env-vars` file and the shell variables, read from a stack in moto's CloudFormation
(operate/stack_env.py, `accesswatch sam-env --stack`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accesswatch_tools.cli.main import main
from accesswatch_tools.operate.stack_env import (
    StackEnvError,
    read_stack,
    resolver_for,
    sam_env_vars,
    shell_lines,
    shell_name,
    shell_variables,
)

REGION = "ap-southeast-2"

# What CloudFormation creates: parameters, a table, a bucket, a topic (physical id: its ARN), a queue (its URL).
CFN_TEMPLATE: dict[str, Any] = {
    "Parameters": {"Stage": {"Type": "String", "Default": "prod"},
                   "Threshold": {"Type": "Number", "Default": "8"}},
    "Resources": {
        "LedgerTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}},
        "CuratedBucket": {"Type": "AWS::S3::Bucket"},
        "DigestTopic": {"Type": "AWS::SNS::Topic"},
        "DeadLetters": {"Type": "AWS::SQS::Queue"},
    },
}

# The SAM template the functions are declared in (as load_template reads template.yaml).
SAM_TEMPLATE: dict[str, Any] = {
    "Parameters": CFN_TEMPLATE["Parameters"],
    "Globals": {"Function": {"Environment": {"Variables": {
        "LOG_LEVEL": "INFO",
        "LEDGER_TABLE": {"Ref": "LedgerTable"},
        "RAW_BUCKET": {"Fn::Sub": "${AWS::StackName}-${Stage}-raw-${AWS::AccountId}-${AWS::Region}"},
    }}}},
    "Resources": {
        **CFN_TEMPLATE["Resources"],
        "IngestFunction": {"Type": "AWS::Serverless::Function", "Properties": {"Environment": {"Variables": {
            "CURATED_BUCKET": {"Ref": "CuratedBucket"}, "LOG_LEVEL": "DEBUG",
            "QUEUE_ARN": {"Fn::GetAtt": ["DeadLetters", "Arn"]}}}}},
        "DigestFunction": {"Type": "AWS::Serverless::Function", "Properties": {"Environment": {"Variables": {
            "DIGEST_TOPIC_ARN": {"Ref": "DigestTopic"}, "THRESHOLD": {"Ref": "Threshold"}}}}},
        "QuietFunction": {"Type": "AWS::Serverless::Function", "Properties": {}},
    },
    "Outputs": {"RawBucketName": {"Value": {"Fn::Sub": "${AWS::StackName}-${Stage}-raw"}},
                "LedgerTableName": {"Value": {"Ref": "LedgerTable"}},
                "DigestTopicArn": {"Value": {"Ref": "DigestTopic"}}},
}


@pytest.fixture
def cloudformation(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("cloudformation", region_name=REGION)
        client.create_stack(StackName="aw-test", TemplateBody=json.dumps(CFN_TEMPLATE),
                            Parameters=[{"ParameterKey": "Stage", "ParameterValue": "uat"}])
        yield client


def test_the_stack_record_has_every_physical_id_the_stacks_parameters_and_its_account_and_region(
        cloudformation: Any) -> None:
    record = read_stack(cloudformation, "aw-test")
    assert (record.name, record.region, record.account_id, record.partition) == (
        "aw-test", REGION, "123456789012", "aws")
    assert record.parameters["Stage"] == "uat"
    assert set(record.physical) == set(CFN_TEMPLATE["Resources"])
    assert record.physical["DigestTopic"].startswith(f"arn:aws:sns:{REGION}:123456789012:")
    assert record.physical["DeadLetters"].startswith("http")  # a queue's physical id is its URL


def test_every_function_gets_every_declared_variable_resolved_to_the_stacks_values(cloudformation: Any) -> None:
    record = read_stack(cloudformation, "aw-test")
    env = sam_env_vars(SAM_TEMPLATE, resolver_for(SAM_TEMPLATE, record))
    assert set(env) == {"IngestFunction", "DigestFunction", "QuietFunction"}
    table = cloudformation.describe_stack_resource(StackName="aw-test", LogicalResourceId="LedgerTable")
    table_name = table["StackResourceDetail"]["PhysicalResourceId"]
    for variables in env.values():  # the Globals reach every function, even one with no variables of its own
        assert variables["LEDGER_TABLE"] == table_name != "LedgerTable"
        assert variables["RAW_BUCKET"] == f"aw-test-uat-raw-123456789012-{REGION}"
    assert env["IngestFunction"]["LOG_LEVEL"] == "DEBUG"  # the function's own value wins over the Globals'
    assert env["DigestFunction"]["LOG_LEVEL"] == "INFO"
    assert env["IngestFunction"]["CURATED_BUCKET"] == record.physical["CuratedBucket"]
    assert env["IngestFunction"]["QUEUE_ARN"].endswith(":" + record.physical["DeadLetters"].rsplit("/", 1)[-1])
    assert env["DigestFunction"]["DIGEST_TOPIC_ARN"] == record.physical["DigestTopic"]
    assert env["DigestFunction"]["THRESHOLD"] == "8"  # a parameter the stack did not set keeps its default
    assert set(env["QuietFunction"]) == {"LOG_LEVEL", "LEDGER_TABLE", "RAW_BUCKET"}


def test_the_outputs_become_accesswatch_shell_variables_that_a_shell_can_eval(cloudformation: Any) -> None:
    record = read_stack(cloudformation, "aw-test")
    names = shell_variables(SAM_TEMPLATE, resolver_for(SAM_TEMPLATE, record))
    assert list(names) == ["ACCESSWATCH_RAW_BUCKET", "ACCESSWATCH_LEDGER_TABLE", "ACCESSWATCH_DIGEST_TOPIC_ARN"]
    assert names["ACCESSWATCH_RAW_BUCKET"] == "aw-test-uat-raw"
    assert shell_lines({"A": "x y", "B": "plain"}) == ["export A='x y'", "export B=plain"]
    assert shell_name("CaseStateMachineArn") == "ACCESSWATCH_CASE_STATE_MACHINE_ARN"
    with pytest.raises(StackEnvError):
        shell_lines({"NOT-A-NAME": "x"})


def test_a_missing_stack_is_one_clear_line(cloudformation: Any) -> None:
    with pytest.raises(StackEnvError, match="cannot read stack 'nope'"):
        read_stack(cloudformation, "nope")


def test_a_variable_naming_a_resource_the_stack_lacks_is_named_in_the_error(cloudformation: Any) -> None:
    template = {**SAM_TEMPLATE, "Resources": {**SAM_TEMPLATE["Resources"], "Extra": {
        "Type": "AWS::Serverless::Function",
        "Properties": {"Environment": {"Variables": {"X": {"Ref": "IngestFunction"}}}}}}}
    with pytest.raises(StackEnvError, match="Extra X: IngestFunction .* has no physical id"):
        sam_env_vars(template, resolver_for(template, read_stack(cloudformation, "aw-test")))


def test_the_command_writes_the_file_and_says_which_stack_it_cannot_read(
        cloudformation: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The repository's template.yaml against a stack that is not its deployment: every Ref misses.
    assert main(["sam-env", "--stack", "aw-test", "--region", REGION, "--out", str(tmp_path / "env.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("accesswatch: ") and "has no physical id in the stack" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "env.json").exists()
    assert main(["sam-env", "--stack", "nope", "--region", REGION]) == 1
    assert "cannot read stack 'nope'" in capsys.readouterr().err
    assert main(["sam-env", "--stack", "aw-test", "--out", str(tmp_path / "no" / "env.json")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_local_env_without_a_running_endpoint_is_one_line_and_exit_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "env", "--state-dir", str(tmp_path / "state")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing a shell's eval would run
    assert captured.err.startswith("accesswatch: no local endpoint is running") and len(captured.err.splitlines()) == 1


def test_a_resource_the_local_stack_may_lack_leaves_its_variable_empty_and_its_output_out(cloudformation: Any) -> None:
    """The local runtime's stack has no console API or user pool (moto skips them): against it, a variable
    naming one is empty and an output naming one is left out; against any other stack the same is an error."""
    template = {**SAM_TEMPLATE,
                "Resources": {**SAM_TEMPLATE["Resources"],
                              "Pool": {"Type": "AWS::Cognito::UserPool"},
                              "Signer": {"Type": "AWS::Serverless::Function", "Properties": {"Environment": {
                                  "Variables": {"POOL": {"Ref": "Pool"}, "LOG_LEVEL": "INFO"}}}}},
                "Outputs": {**SAM_TEMPLATE["Outputs"],
                            "PoolUrl": {"Value": {"Fn::Sub": "https://${Pool}.example/"}}}}
    record = read_stack(cloudformation, "aw-test")
    lenient = resolver_for(template, record, absent_types={"AWS::Cognito::UserPool"})
    assert sam_env_vars(template, lenient)["Signer"] == {
        "POOL": "", "LOG_LEVEL": "INFO", "LEDGER_TABLE": record.physical["LedgerTable"],
        "RAW_BUCKET": f"aw-test-uat-raw-123456789012-{REGION}"}
    assert list(shell_variables(template, lenient)) == [
        "ACCESSWATCH_RAW_BUCKET", "ACCESSWATCH_LEDGER_TABLE", "ACCESSWATCH_DIGEST_TOPIC_ARN"]
    with pytest.raises(StackEnvError, match="Pool .* has no physical id"):
        sam_env_vars(template, resolver_for(template, record))
    with pytest.raises(StackEnvError, match="output PoolUrl: Pool .* has no physical id"):
        shell_variables(template, resolver_for(template, record))
