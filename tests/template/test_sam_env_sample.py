"""events/env-vars.local.json, the `sam local invoke --env-vars` file for the local endpoint's names
(written by `accesswatch sam-env --out events/env-vars.local.json`), is in step with template.yaml: every
function, every variable it declares, and the values the local stack's parameters and names give them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from accesswatch_tools.alarms.intrinsics import deployment_resolver
from accesswatch_tools.embedded.runtime import ACCOUNT_ID, LOCAL_PARAMETERS, REGION
from accesswatch_tools.embedded.template import LOCAL_ABSENT_TYPES, STACK_NAME, load_template
from accesswatch_tools.operate.stack_env import function_environment

TEMPLATE = load_template()
SAMPLE_PATH = Path(__file__).parents[2] / "events" / "env-vars.local.json"
REGENERATE = "regenerate it: accesswatch local start && accesswatch sam-env --out events/env-vars.local.json"


@pytest.fixture(scope="module")
def sample() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))
    return data


def test_every_function_and_every_variable_it_declares_is_in_the_sample(sample: dict[str, dict[str, str]]) -> None:
    declared = function_environment(TEMPLATE)
    assert set(sample) == set(declared), f"functions differ from template.yaml; {REGENERATE}"
    for function, variables in declared.items():
        assert set(sample[function]) == set(variables), f"{function}: variables differ; {REGENERATE}"
        assert all(isinstance(v, str) for v in sample[function].values()), function


def _resource_refs(variables: dict[str, Any]) -> dict[str, str]:
    resources = TEMPLATE["Resources"]
    return {name: value["Ref"] for name, value in variables.items()
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in resources}


def test_the_values_are_the_local_stacks_not_logical_ids(sample: dict[str, dict[str, str]]) -> None:
    # The physical name of each resource a variable names, as the sample gives it: one per resource.
    physical: dict[str, str] = {}
    for function, variables in function_environment(TEMPLATE).items():
        for name, logical_id in _resource_refs(variables).items():
            value = sample[function][name]
            if TEMPLATE["Resources"][logical_id]["Type"] in LOCAL_ABSENT_TYPES:  # only on AWS (Cognito)
                assert value == "", f"{function} {name}: the local stack has no {logical_id}"
                continue
            assert value and value != logical_id, f"{function} {name}: {value!r} is not a physical name"
            assert physical.setdefault(logical_id, value) == value, f"{logical_id}: two names in the sample"
    for logical_id, value in physical.items():
        kind = TEMPLATE["Resources"][logical_id]["Type"]
        if kind in ("AWS::Serverless::StateMachine", "AWS::SNS::Topic"):
            assert value.startswith("arn:aws:") and f":{REGION}:{ACCOUNT_ID}:" in value, (logical_id, value)
        else:
            assert value.startswith(f"{STACK_NAME}-"), (logical_id, value)
    # Everything else (parameters as the local runtime sets them, literals, Fn::Sub) resolves to the sample's value.
    resolver = deployment_resolver(TEMPLATE, physical=physical, parameters=LOCAL_PARAMETERS, stack_name=STACK_NAME,
                                   region=REGION, account_id=ACCOUNT_ID)
    for function, variables in function_environment(TEMPLATE).items():
        for name, value in variables.items():
            if name in _resource_refs(variables) and TEMPLATE["Resources"][value["Ref"]]["Type"] in LOCAL_ABSENT_TYPES:
                continue
            assert str(resolver(value)) == sample[function][name], f"{function} {name}; {REGENERATE}"
