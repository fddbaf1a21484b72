"""Reading template.yaml and the state-machine definitions it names.

CloudFormation YAML uses short-form intrinsic tags (``!Ref``, ``!GetAtt`` ...); they are read
into their long JSON form so that the SAM translator, moto and the tests all see one shape.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
STACK_NAME = "accesswatch"  # the embedded runtime's stack
# Resource types of the template that moto's CloudFormation skips and that a function's environment or an
# output refers to: the console's HTTP API, its Cognito user pool and the Athena workgroup and Glue table
# exist only on AWS. Against the local stack, a variable naming one is empty and an output naming one is
# left out (operate/stack_env.py).
LOCAL_ABSENT_TYPES = frozenset({"AWS::ApiGatewayV2::Api", "AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient",
                                "AWS::Cognito::UserPoolDomain", "AWS::Glue::Database", "AWS::Glue::Table",
                                "AWS::Athena::WorkGroup"})


try:  # libyaml's parser when PyYAML was built with it: ~14x faster than the pure-Python one, the same dict
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _CfnLoader(_SafeLoader):
    """SafeLoader that understands CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


_LOADED: dict[tuple[str, int, int], dict[str, Any]] = {}


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as a dict, intrinsic functions in long form (a copy of the one read last while the
    file is unchanged: every runtime and many commands read it)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _LOADED:
        with path.open(encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
        if not isinstance(data, dict) or "Resources" not in data:
            raise ValueError(f"{path} is not a CloudFormation/SAM template")
        _LOADED.clear()
        _LOADED[key] = data
    return copy.deepcopy(_LOADED[key])


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: res for name, res in template["Resources"].items() if res.get("Type") == resource_type
    }


def table_definition(logical_id: str, table_name: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """``create_table`` arguments for the template's table ``logical_id``, named ``table_name``: its keys,
    attribute definitions and indexes as template.yaml declares them (for tests and benchmarks that need
    one table of the system on plain moto)."""
    props = (template or load_template())["Resources"][logical_id]["Properties"]
    definition: dict[str, Any] = {"TableName": table_name, "BillingMode": "PAY_PER_REQUEST",
                                  "AttributeDefinitions": props["AttributeDefinitions"], "KeySchema": props["KeySchema"]}
    if props.get("GlobalSecondaryIndexes"):
        definition["GlobalSecondaryIndexes"] = [
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in props["GlobalSecondaryIndexes"]]
    return copy.deepcopy(definition)


@dataclass(frozen=True)
class FunctionSpec:
    """Where a function's code lives and how it is entered, as the template says."""

    logical_id: str
    code_dir: Path
    handler: str  # "module.attribute"

    @property
    def module_file(self) -> Path:
        module = self.handler.rsplit(".", 1)[0]
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def function_specs(template: dict[str, Any], root: Path = PROJECT_ROOT) -> dict[str, FunctionSpec]:
    globals_fn = template.get("Globals", {}).get("Function", {})
    specs = {}
    for name, res in resources_of_type(template, "AWS::Serverless::Function").items():
        props = res["Properties"]
        handler = props.get("Handler", globals_fn.get("Handler"))
        specs[name] = FunctionSpec(name, root / props["CodeUri"], handler)
    return specs


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def state_machine_files(template: dict[str, Any], root: Path = PROJECT_ROOT) -> dict[str, Path]:
    return {
        name: root / res["Properties"]["DefinitionUri"]
        for name, res in resources_of_type(template, "AWS::Serverless::StateMachine").items()
        if isinstance(res["Properties"].get("DefinitionUri"), str)
    }


def asl_placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def split_asl(text: str) -> list[str | tuple[str]]:
    """The ASL text as literal pieces and ``(name,)`` placeholders, in order."""
    parts: list[str | tuple[str]] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(text[pos : match.start()])
        parts.append((match.group(1),))
        pos = match.end()
    parts.append(text[pos:])
    return parts


def render_asl(text: str, values: dict[str, Any]) -> dict[str, Any]:
    """Substitute plain values into an ASL text and parse it (tests and the CLI use this)."""
    missing = asl_placeholders(text) - set(values)
    if missing:
        raise KeyError(f"no value for ASL placeholders {sorted(missing)}")
    rendered = "".join(
        str(values[p[0]]) if isinstance(p, tuple) else p for p in split_asl(text)
    )
    return json.loads(rendered)
