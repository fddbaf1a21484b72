"""Differential test of the embedded runtime's CloudFormation adapter: moto reads a template body to the
same dict with the adapter on and off (its ordinary path, PyYAML's pure-Python loader)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from moto.cloudformation.models import Stack
from moto.cloudformation.responses import get_template_summary_response_from_template

from accesswatch_tools.embedded.adapters import cloudformation as adapters
from accesswatch_tools.embedded.template import load_template

SMALL_BODIES = [
    pytest.param('{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}, "Description": "x: {y}"}', id="JSON"),
    pytest.param('{Resources: {Q: {Type: "AWS::SQS::Queue"}}}', id="YAML flow style that is not JSON"),
    pytest.param("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub '${AWS::StackName}-q'\n",
                 id="YAML with a short-form tag"),
]


def test_the_template_as_the_runtime_sends_it_reads_to_the_same_dict_as_moto_reads_it() -> None:
    body = json.dumps(load_template())
    ordinary = Stack.parse_template(body)
    with adapters.adapted():
        adapted = Stack.parse_template(body)
    assert adapted == ordinary and ordinary["Resources"]


@pytest.mark.parametrize("body", SMALL_BODIES)
def test_a_template_body_reads_to_the_same_dict_and_summary_as_moto_reads_it(body: str) -> None:
    ordinary = (Stack.parse_template(body), get_template_summary_response_from_template(body))
    with adapters.adapted():
        adapted = (Stack.parse_template(body), get_template_summary_response_from_template(body))
    assert adapted == ordinary
    assert ordinary[0]["Resources"]["Q"]["Type"] == "AWS::SQS::Queue"


def test_the_adapter_is_what_reads_json_and_is_gone_afterwards() -> None:
    import yaml
    from moto.cloudformation import models

    seen: list[str] = []
    real = yaml.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append("yaml")
        return real(*args, **kwargs)

    body = json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    with mock.patch.object(yaml, "load", spy):
        with adapters.adapted():
            assert isinstance(models.yaml, adapters._JsonFirstYaml)
            Stack.parse_template(body)
            Stack.parse_template("Resources: {Q: {Type: AWS::SQS::Queue}}")
        assert seen == ["yaml"]  # the JSON body never reached PyYAML, the YAML one did
        Stack.parse_template(body)
    assert seen == ["yaml", "yaml"]  # moto's own path again once the adapter is gone
    assert models.yaml is yaml


def test_template_yaml_reads_to_the_same_dict_with_libyaml_as_with_pure_python_yaml(tmp_path: Path) -> None:
    import yaml

    from accesswatch_tools.embedded import template

    class PureLoader(yaml.SafeLoader):
        pass

    PureLoader.add_multi_constructor("!", template._intrinsic)
    with template.TEMPLATE_PATH.open(encoding="utf-8") as handle:
        pure = yaml.load(handle, Loader=PureLoader)  # noqa: S506 - a SafeLoader subclass
    loaded = load_template()
    assert loaded == pure and loaded["Resources"]

    # Each caller gets its own copy; a changed file is read again.
    loaded["Resources"].clear()
    assert load_template() == pure
    copy = tmp_path / "template.yaml"
    copy.write_text(template.TEMPLATE_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_template(copy) == pure
    copy.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n", encoding="utf-8")
    assert load_template(copy) == {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
