"""Resolving the CloudFormation intrinsic functions in the template's alarm definitions.

On AWS, CloudFormation resolves them and CloudWatch holds the result. The embedded runtime's
CloudFormation (moto) skips ``AWS::CloudWatch::Alarm`` resources, so to evaluate the template's
alarms locally their names, dimensions and actions are resolved here from the deployed stack's
parameters and physical resource ids. Pure: the caller supplies those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

_SUB = re.compile(r"\$\{([^}]+)\}")


class ResolveError(ValueError):
    """An intrinsic function or reference this resolver cannot resolve."""


class NotInStack(ResolveError):
    """A reference to a resource of a type the stack was allowed not to hold (``absent_types``): the local
    runtime's stack, where moto skips the console's API and Cognito resources."""


class _NoValue:
    """AWS::NoValue: the property is removed."""


NO_VALUE = _NoValue()


class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Sub and Fn::Join with the given lookups."""

    def __init__(self, *, parameters: Mapping[str, str], pseudo: Mapping[str, str],
                 ref: Callable[[str], str], getatt: Callable[[str, str], str]) -> None:
        self.parameters = dict(parameters)
        self.pseudo = dict(pseudo)
        self._ref = ref
        self._getatt = getatt

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._ref(name)

    def getatt(self, logical_id: str, attribute: str) -> str:
        return self._getatt(logical_id, attribute)

    def sub(self, text: str, variables: Mapping[str, Any] | None = None) -> str:
        variables = variables or {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return self.getatt(logical, attribute)
            return str(self.ref(name))

        return _SUB.sub(replace, text)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(logical, attribute)
            if fn == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], arg[1])
                return self.sub(arg)
            if fn == "Fn::Join":
                return str(arg[0]).join(str(self(part)) for part in self(arg[1]))
            if fn.startswith("Fn::") or fn == "Condition":
                raise ResolveError(f"{fn} is not supported in alarm definitions")
        return {k: v for k, v in ((k, self(v)) for k, v in value.items()) if v is not NO_VALUE}


def symbolic_resolver(template: Mapping[str, Any]) -> Resolver:
    """References rendered as ``${Name}``/``${Name.Attr}``: for checking the template's shape."""
    parameters = {name: str(spec.get("Default", "${" + name + "}"))
                  for name, spec in template.get("Parameters", {}).items()}
    pseudo = {p: "${" + p + "}" for p in ("AWS::StackName", "AWS::Region", "AWS::AccountId",
                                          "AWS::Partition", "AWS::URLSuffix")}
    resources = template.get("Resources", {})

    def ref(name: str) -> str:
        if name not in resources:
            raise ResolveError(f"Ref to unknown resource or parameter {name}")
        return "${" + name + "}"

    def getatt(name: str, attribute: str) -> str:
        if name not in resources:
            raise ResolveError(f"GetAtt of unknown resource {name}")
        return "${" + name + "." + attribute + "}"

    return Resolver(parameters=parameters, pseudo=pseudo, ref=ref, getatt=getatt)


def deployment_resolver(template: Mapping[str, Any], *, physical: Mapping[str, str],
                        parameters: Mapping[str, str], stack_name: str, region: str, account_id: str,
                        partition: str = "aws", absent_types: Collection[str] = ()) -> Resolver:
    """References resolved against a deployed stack (its parameters and physical resource ids).

    Physical ids follow CloudFormation: a queue's is its URL, a topic's and a state machine's
    their ARN, a function's, table's and bucket's their name. Resources the stack does not hold
    (moto skips alarms) resolve through their own name property; one of ``absent_types`` raises
    NotInStack, any other ResolveError.
    """
    resources = template.get("Resources", {})
    params = {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items()
              if "Default" in spec}
    params.update(parameters)
    pseudo = {"AWS::StackName": stack_name, "AWS::Region": region, "AWS::AccountId": account_id,
              "AWS::Partition": partition, "AWS::URLSuffix": "amazonaws.com"}
    resolver: Resolver

    def type_of(name: str) -> str:
        if name not in resources:
            raise ResolveError(f"reference to unknown resource {name}")
        return str(resources[name].get("Type", ""))

    def ref(name: str) -> str:
        kind = type_of(name)
        if name in physical and physical[name]:
            return physical[name]
        if kind == "AWS::CloudWatch::Alarm" and "AlarmName" in resources[name].get("Properties", {}):
            return str(resolver(resources[name]["Properties"]["AlarmName"]))
        if kind in absent_types:
            raise NotInStack(f"{name} ({kind}) is not in the stack")
        raise ResolveError(f"{name} ({kind}) has no physical id in the stack")

    def getatt(name: str, attribute: str) -> str:
        kind = type_of(name)
        ident = ref(name)
        arn = f"arn:{partition}"
        if kind == "AWS::SQS::Queue":
            queue_name = ident.rstrip("/").rsplit("/", 1)[-1]
            values = {"QueueName": queue_name, "QueueUrl": ident,
                      "Arn": f"{arn}:sqs:{region}:{account_id}:{queue_name}"}
        elif kind == "AWS::SNS::Topic":
            values = {"TopicArn": ident, "TopicName": ident.rsplit(":", 1)[-1]}
        elif kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            values = {"Arn": f"{arn}:lambda:{region}:{account_id}:function:{ident}"}
        elif kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            values = {"Arn": ident, "Name": ident.rsplit(":", 1)[-1]}
        elif kind == "AWS::DynamoDB::Table":
            values = {"Arn": f"{arn}:dynamodb:{region}:{account_id}:table/{ident}"}
        elif kind == "AWS::CloudWatch::Alarm":
            values = {"Arn": f"{arn}:cloudwatch:{region}:{account_id}:alarm:{ident}"}
        elif kind == "AWS::S3::Bucket":
            values = {"Arn": f"{arn}:s3:::{ident}"}
        elif kind == "AWS::KMS::Key":
            values = {"Arn": f"{arn}:kms:{region}:{account_id}:key/{ident}", "KeyId": ident}
        else:
            values = {}
        if attribute not in values:
            raise ResolveError(f"GetAtt {name}.{attribute} ({kind}) is not supported")
        return values[attribute]

    resolver = Resolver(parameters=params, pseudo=pseudo, ref=ref, getatt=getatt)
    return resolver
