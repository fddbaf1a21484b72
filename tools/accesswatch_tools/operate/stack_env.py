"""What the real AWS tools need to know about a deployed stack or the local endpoint's stack.

Two products, both derived from template.yaml and the stack's own record (its parameters and physical
resource ids, read from CloudFormation), so they stay in step with the template without a list to edit:

- ``sam_env_vars``: the ``--env-vars`` file of ``sam local invoke``. SAM resolves a function's ``!Ref``
  environment variables to logical ids (``LEDGER_TABLE=LedgerTable``) unless such a file gives their values;
  it takes one object per function logical id, and only the variables the template declares.
- ``shell_variables``: the stack's outputs under ``ACCESSWATCH_*`` names (``RawBucketName`` becomes
  ``ACCESSWATCH_RAW_BUCKET``, ``CaseStateMachineArn`` ``ACCESSWATCH_CASE_STATE_MACHINE_ARN``), for
  ``accesswatch local env``.

The resolving is pure (``alarms.intrinsics.deployment_resolver``); ``read_stack`` is the one AWS call site.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from accesswatch_tools.alarms.intrinsics import NotInStack, ResolveError, Resolver, deployment_resolver

SHELL_PREFIX = "ACCESSWATCH_"
FUNCTION_TYPE = "AWS::Serverless::Function"


class StackEnvError(Exception):
    """The stack cannot give the values asked for; one line for a person, naming ids only."""


@dataclass(frozen=True)
class StackRecord:
    """A deployed stack as CloudFormation describes it."""

    name: str
    region: str
    account_id: str
    partition: str
    parameters: dict[str, str]
    physical: dict[str, str]  # logical id -> physical resource id


def read_stack(cloudformation: Any, stack_name: str) -> StackRecord:
    """The stack's parameters, and the physical id of each of its resources. ``list_stack_resources``, paged:
    ``describe_stack_resources`` returns only the first 100 resources, and this stack has more (its alarms,
    roles and permissions). Region, account and partition come from the stack's ARN: no other service is
    asked."""
    from botocore.exceptions import ClientError

    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        resources = [summary for page in cloudformation.get_paginator("list_stack_resources").paginate(
            StackName=stack_name) for summary in page["StackResourceSummaries"]]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise StackEnvError(f"cannot read stack {stack_name!r}: {error.get('Code', 'error')}: "
                            f"{error.get('Message', '')}".rstrip(": ")) from None
    arn = str(stack["StackId"]).split(":")
    if len(arn) < 6 or arn[0] != "arn":
        raise StackEnvError(f"stack {stack_name!r} has an unexpected id {stack['StackId']!r}")
    return StackRecord(
        name=str(stack["StackName"]), partition=arn[1], region=arn[3], account_id=arn[4],
        parameters={p["ParameterKey"]: str(p.get("ResolvedValue", p.get("ParameterValue", "")))
                    for p in stack.get("Parameters", [])},
        physical={r["LogicalResourceId"]: str(r.get("PhysicalResourceId", "")) for r in resources},
    )


def resolver_for(template: Mapping[str, Any], record: StackRecord, *,
                 absent_types: Collection[str] = ()) -> Resolver:
    """``absent_types``: resource types the stack may lack (the local runtime's: LOCAL_ABSENT_TYPES); a
    variable naming one is empty and an output naming one is left out, where any other missing resource
    is an error."""
    return deployment_resolver(template, physical=record.physical, parameters=record.parameters,
                               stack_name=record.name, region=record.region, account_id=record.account_id,
                               partition=record.partition, absent_types=absent_types)


def _value(resolver: Resolver, value: Any, where: str) -> str | None:
    """The value resolved; None when it names a resource the stack was allowed to lack."""
    try:
        resolved = resolver(value)
    except NotInStack:
        return None
    except ResolveError as exc:
        raise StackEnvError(f"{where}: {exc}") from None
    if isinstance(resolved, dict | list):
        raise StackEnvError(f"{where}: resolves to a {type(resolved).__name__}, not a string")
    return str(resolved)


def function_environment(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's environment variables as the template declares them (Globals first, the function's
    own over them), unresolved: ``{logical id: {name: value or intrinsic}}``."""
    shared = (template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    result: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != FUNCTION_TYPE:
            continue
        own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        result[logical_id] = {**shared, **own}
    return result


def sam_env_vars(template: Mapping[str, Any], resolver: Resolver) -> dict[str, dict[str, str]]:
    """The ``sam local invoke --env-vars`` file: every function's every variable, resolved, sorted."""
    return {function: {name: _value(resolver, value, f"{function} {name}") or ""
                       for name, value in sorted(variables.items())}
            for function, variables in sorted(function_environment(template).items())}


def shell_name(output_name: str) -> str:
    """``RawBucketName`` -> ``ACCESSWATCH_RAW_BUCKET``; ``DigestTopicArn`` -> ``ACCESSWATCH_DIGEST_TOPIC_ARN``."""
    base = output_name[:-4] if output_name.endswith("Name") and len(output_name) > 4 else output_name
    return SHELL_PREFIX + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", base).upper()


def shell_variables(template: Mapping[str, Any], resolver: Resolver) -> dict[str, str]:
    """The template's outputs, resolved, under their ``ACCESSWATCH_*`` names, in the template's order."""
    values = {shell_name(name): _value(resolver, spec.get("Value"), f"output {name}")
              for name, spec in template.get("Outputs", {}).items()}
    return {name: value for name, value in values.items() if value is not None}


def shell_lines(variables: Mapping[str, str]) -> list[str]:
    """``export NAME=value`` lines a POSIX shell can ``eval``; values quoted as needed."""
    for name in variables:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise StackEnvError(f"{name!r} is not a shell variable name")
    return [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
