"""template.yaml is the one description of the system: everything it names exists and is wired."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from accesswatch_tools.embedded.template import (
    asl_placeholders,
    function_specs,
    load_template,
    render_asl,
    resources_of_type,
    state_machine_files,
)

TEMPLATE = load_template()


def test_every_function_handler_exists_and_is_thin():
    specs = function_specs(TEMPLATE)
    assert specs, "the template declares no functions"
    for name, spec in specs.items():
        assert spec.module_file.is_file(), f"{name}: {spec.module_file} missing"
        text = spec.module_file.read_text()
        assert f"def {spec.attribute}(" in text, f"{name}: no {spec.attribute}() in {spec.module_file}"
        assert "log_event=True" not in text
        assert "import boto3" not in text, f"{name}: AWS access belongs in accesswatch.dal"


def test_every_function_has_a_sample_event(root: Path):
    events = {p.name for p in (root / "events").glob("*.json")}
    for name, spec in function_specs(TEMPLATE).items():
        prefix = spec.code_dir.name
        assert any(e.startswith(prefix) for e in events), f"{name}: no events/{prefix}*.json for sam local invoke"


def test_every_state_machine_definition_exists_and_its_placeholders_are_substituted():
    files = state_machine_files(TEMPLATE)
    assert set(files) == set(resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine"))
    for name, path in files.items():
        assert path.is_file(), f"{name}: {path} missing"
        text = path.read_text()
        substitutions = TEMPLATE["Resources"][name]["Properties"]["DefinitionSubstitutions"]
        assert asl_placeholders(text) == set(substitutions), name
        asl = render_asl(text, {k: "1" if "Seconds" in k or "Concurrency" in k else f"arn:{k}" for k in substitutions})
        assert asl["StartAt"] in asl["States"]


# Tasks whose failure is handled by the state around them or that are themselves the failure path.
_CATCH_EXEMPT = {"DetectPartition": "its Distributed Map catches", "RecordFailure": "already the failure path",
                 "SendToDeadLetterQueue": "the last resort; the execution then fails (alarmed)"}


def test_every_asl_task_retries_and_catches():
    for name, path in state_machine_files(TEMPLATE).items():
        text = path.read_text()
        asl = render_asl(text, {k: "1" for k in asl_placeholders(text)})
        for state_name, state in _states(asl):
            if state["Type"] != "Task":
                continue
            if state_name != "SendToDeadLetterQueue":
                assert state.get("Retry"), f"{name}.{state_name} has no Retry"
            if state_name not in _CATCH_EXEMPT:
                assert state.get("Catch"), f"{name}.{state_name} has no Catch"


def _states(asl: dict) -> list[tuple[str, dict]]:
    found = []
    for state_name, state in asl["States"].items():
        found.append((state_name, state))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.extend(_states(processor))
    return found


def test_detection_map_is_distributed_over_the_manifest_with_zero_tolerance():
    path = state_machine_files(TEMPLATE)["DetectionStateMachine"]
    asl = render_asl(path.read_text(), {k: "1" for k in asl_placeholders(path.read_text())})
    dmap = asl["States"][asl["StartAt"]]
    assert dmap["Type"] == "Map"
    assert dmap["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert dmap["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert dmap["ToleratedFailurePercentage"] == 0


def test_raw_bucket_notifications_route_prefixes_to_functions():
    routes = {}
    for name, res in resources_of_type(TEMPLATE, "AWS::Serverless::Function").items():
        for event in res["Properties"].get("Events", {}).values():
            if event["Type"] == "S3":
                assert event["Properties"]["Bucket"] == {"Ref": "RawBucket"}
                rules = event["Properties"]["Filter"]["S3Key"]["Rules"]
                routes[rules[0]["Value"]] = name
    assert routes == {"access-logs/": "IngestFunction", "reference/": "ReferenceFunction"}


def test_data_stores_are_encrypted_and_private():
    resources = TEMPLATE["Resources"]
    for name, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::S3::Bucket":
            assert props["BucketEncryption"], name
            assert all(props["PublicAccessBlockConfiguration"].values()), name
        if res["Type"] == "AWS::DynamoDB::Table":
            assert props["SSESpecification"]["SSEEnabled"] is True, name
            assert props["BillingMode"] == "PAY_PER_REQUEST", name
            assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        if res["Type"] in {"AWS::SNS::Topic"}:
            assert "KmsMasterKeyId" in props, name
        if res["Type"] in {"AWS::SQS::Queue"}:
            assert "KmsMasterKeyId" in props, name


def test_cfn_lint_passes(root: Path):
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(root / "template.yaml")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_layer_requirements_match_project_dependencies(root: Path):
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = [line.strip() for line in (root / "layers/shared/requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert sorted(project) == sorted(layer)


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].joinpath("events").glob("*.json")),
                         ids=lambda p: p.name)
def test_sample_events_are_json(path: Path):
    json.loads(path.read_text())
