"""template.yaml deploys in a fresh account and can be removed (docs/operations.md, "Deploying and removing").

Checked on the template itself and on the CloudFormation the SAM translator makes of it, with the parameter
values that make names longest: every name the stack sets fits its service's limit for any stack name, in any
region; every stateful resource says what happens to it when the stack is deleted or the resource replaced;
reserved concurrency is optional; a deploy that changes the layer deletes the version it replaces; the
teardown procedure names everything a deleted stack keeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from support.sam_transform import transformed_template

from accesswatch_tools.embedded.template import PROJECT_ROOT, load_template, resources_of_type

TEMPLATE = load_template()
PARAMETERS = TEMPLATE["Parameters"]
RESOURCES = TEMPLATE["Resources"]
OPERATIONS = (PROJECT_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")

# The longest values the pseudo parameters take. A stack name is 1-128 characters; region names are the
# longest of today's (the isolated partitions' included); account ids are 12 digits.
LONGEST_STACK_NAME = "s" * 128
REGIONS = ["ap-southeast-2", "ap-northeast-3", "ap-southeast-7", "cn-northwest-1", "us-gov-west-1",
           "eu-isoe-west-1", "us-isob-east-1", "us-isof-south-1"]
LONGEST_REGION = max(REGIONS, key=len)
ACCOUNT_ID = "123456789012"

# What each service allows in the name the template sets: (property path, maximum length, pattern).
NAME_RULES: dict[str, tuple[tuple[str, ...], int, str]] = {
    "AWS::S3::Bucket": (("BucketName",), 63, r"[a-z0-9](?!.*\.\.)[a-z0-9.-]*[a-z0-9]"),
    "AWS::StepFunctions::StateMachine": (("StateMachineName",), 80, r"[A-Za-z0-9_-]+"),
    "AWS::Athena::WorkGroup": (("Name",), 128, r"[A-Za-z0-9._-]+"),
    "AWS::CloudWatch::Alarm": (("AlarmName",), 255, r"[^\x00-\x1f]+"),
    "AWS::CloudWatch::Dashboard": (("DashboardName",), 255, r"[A-Za-z0-9_-]+"),
    "AWS::KMS::Alias": (("AliasName",), 256, r"alias/(?!aws/)[A-Za-z0-9/_-]+"),
    "AWS::Logs::LogGroup": (("LogGroupName",), 512, r"[.\-_/#A-Za-z0-9]+"),
    "AWS::Glue::Database": (("DatabaseInput", "Name"), 255, r"[a-z0-9_]+"),  # what Athena reads unquoted
    "AWS::Glue::Table": (("TableInput", "Name"), 255, r"[a-z0-9_]+"),
    "AWS::Scheduler::Schedule": (("Name",), 64, r"[0-9A-Za-z_.-]+"),
    "AWS::Lambda::LayerVersion": (("LayerName",), 140, r"[A-Za-z0-9_-]+"),
    "AWS::Lambda::Function": (("FunctionName",), 64, r"[A-Za-z0-9_-]+"),
    "AWS::IAM::Role": (("RoleName",), 64, r"[\w+=,.@-]+"),
    "AWS::SNS::Topic": (("TopicName",), 256, r"[A-Za-z0-9_-]+"),
    "AWS::SQS::Queue": (("QueueName",), 80, r"[A-Za-z0-9_-]+"),
    "AWS::DynamoDB::Table": (("TableName",), 255, r"[A-Za-z0-9_.-]+"),
    "AWS::Events::Rule": (("Name",), 64, r"[.\-_A-Za-z0-9]+"),
    "AWS::CloudTrail::Trail": (("TrailName",), 128, r"[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]"),
    "AWS::ApiGatewayV2::Api": (("Name",), 128, r"[A-Za-z0-9._-]+"),
    "AWS::ApiGatewayV2::Stage": (("StageName",), 128, r"\$default|[A-Za-z0-9_-]+"),
    "AWS::ApiGatewayV2::Authorizer": (("Name",), 128, r"[A-Za-z0-9._-]+"),
    "AWS::Cognito::UserPool": (("UserPoolName",), 128, r"[\w\s+=,.@-]+"),
    "AWS::Cognito::UserPoolClient": (("ClientName",), 128, r"[\w\s+=,.@-]+"),
    "AWS::Cognito::UserPoolGroup": (("GroupName",), 128, r"[\w+=,.@-]+"),
    # The hosted sign-in page's prefix: unique in the region, and no reserved word in it.
    "AWS::Cognito::UserPoolDomain": (("Domain",), 63, r"(?!.*(?:aws|amazon|cognito))[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"),
}
# Types whose resources CloudFormation never names from the template (no name property, or not one we set).
UNNAMED_TYPES = {"AWS::KMS::Key", "AWS::S3::BucketPolicy", "AWS::Lambda::Permission", "AWS::SNS::TopicPolicy",
                 "AWS::SQS::QueuePolicy", "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Route"}
# Names scoped to their parent resource (an API's stage and authorizer, a user pool's groups): the same in
# every stack, as they collide with nothing outside it.
SCOPED_NAME_TYPES = {"AWS::ApiGatewayV2::Stage", "AWS::ApiGatewayV2::Authorizer", "AWS::Cognito::UserPoolGroup"}
# A name built on another resource's generated name is at most that long (CloudFormation truncates).
GENERATED_NAME_LENGTH = {"AWS::Lambda::Function": 64}

# Stateful resources: they hold data, or decrypt it. Each says what a stack deletion and a replacement do
# to it, and docs/operations.md ("What a deleted stack keeps") says why.
STATEFUL_TYPES = {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup",
                  "AWS::SQS::Queue", "AWS::Cognito::UserPool"}
KEPT = {"Retain", "RetainExceptOnCreate"}
# The only stateful resources a stack deletion removes, and why that loses nothing.
DELETED_WITH_THE_STACK = {
    "IdempotencyTable": "de-duplication keys that expire after 30 days; re-ingesting a file is harmless anyway",
    "IngestDeadLetterQueue": "pointers (bucket, key, version) to work only this stack can redo; drained first",
    "CaseDeadLetterQueue": "case ids of workflows only this stack can finish; drained first",
}


# ------------------------------------------------------------------ the SAM transform, with given parameters


def _transform(parameters: Mapping[str, str]) -> dict[str, Any]:
    return transformed_template(parameters)


def _longest_value(name: str) -> str:
    """The longest value a name-making parameter accepts; every such parameter must be bounded."""
    spec = PARAMETERS[name]
    if "AllowedValues" in spec:
        return max((str(v) for v in spec["AllowedValues"]), key=len)
    assert "MaxLength" in spec, f"parameter {name} is part of a name but has no MaxLength: names could overflow"
    value = ("a1" * spec["MaxLength"])[: int(spec["MaxLength"])]
    assert _accepts(name, value), f"{name}: {value!r} should be its longest accepted value"
    return value


def _accepts(name: str, value: str) -> bool:
    """What CloudFormation checks before creating anything: the pattern (whole value) and the lengths."""
    spec = PARAMETERS[name]
    pattern = spec.get("AllowedPattern", ".*")
    return (int(spec.get("MinLength", 0)) <= len(value) <= int(spec.get("MaxLength", 4096))
            and re.fullmatch(pattern, value) is not None)


def _name_parameters() -> set[str]:
    """Parameters that any name expression of the template refers to."""
    found: set[str] = set()
    for _, _, expression in _named(TEMPLATE, sam=True):
        found |= _parameter_refs(expression)
    return found


def _parameter_refs(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_parameter_refs(v) for v in value)) if value else set()
    if isinstance(value, str):
        return {m for m in re.findall(r"\$\{([^}.!]+)\}", value) if m in PARAMETERS}
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return {value["Ref"]} if value["Ref"] in PARAMETERS else set()
        return set().union(*(_parameter_refs(v) for v in value.values())) if value else set()
    return set()


def _named(template: Mapping[str, Any], sam: bool = False) -> Iterator[tuple[str, str, Any]]:
    """(logical id, type, name expression) of every resource whose name the template sets."""
    sam_names: dict[str, tuple[str, ...]] = {
        "AWS::Serverless::StateMachine": ("Name",), "AWS::Serverless::LayerVersion": ("LayerName",),
        "AWS::Serverless::Function": ("FunctionName",)}
    for logical_id, res in template["Resources"].items():
        kind = res["Type"]
        path = (sam_names.get(kind) if sam else None) or (NAME_RULES[kind][0] if kind in NAME_RULES else ())
        value: Any = res.get("Properties", {})
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if path and value is not None:
            yield logical_id, kind, value
        if sam and kind == "AWS::Serverless::Function":
            for event in res["Properties"].get("Events", {}).values():
                if event["Type"] == "ScheduleV2" and "Name" in event["Properties"]:
                    yield logical_id, "AWS::Scheduler::Schedule", event["Properties"]["Name"]


class _Evaluator:
    """Resolves the intrinsic functions a name may use, with the given parameter and pseudo values."""

    def __init__(self, cfn: Mapping[str, Any], parameters: Mapping[str, str], stack_name: str, region: str) -> None:
        self.resources = cfn["Resources"]
        self.values = {name: str(spec.get("Default", "")) for name, spec in PARAMETERS.items()}
        self.values.update(parameters)
        self.values.update({"AWS::StackName": stack_name, "AWS::Region": region, "AWS::AccountId": ACCOUNT_ID,
                            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"})

    def ref(self, name: str) -> str:
        if name in self.values:
            return self.values[name]
        kind = self.resources[name]["Type"]
        assert kind in GENERATED_NAME_LENGTH, f"a name refers to {name} ({kind}), whose generated name is unbounded"
        return "g" * GENERATED_NAME_LENGTH[kind]

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str | int):
            return str(value)
        if isinstance(value, list):
            return [self(v) for v in value]
        (fn, arg), = value.items()
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self(variables[m.group(1)])) if m.group(1) in variables
                          else self.ref(m.group(1).split(".")[0]), text)
        if fn == "Fn::Join":
            return str(arg[0]).join(self(arg[1]))
        if fn == "Fn::Split":
            return str(self(arg[1])).split(str(arg[0]))
        if fn == "Fn::Select":
            return self(arg[1])[int(arg[0])]
        raise AssertionError(f"a name uses {fn}, which this check cannot evaluate")


def _names(parameters: Mapping[str, str], stack_name: str = "accesswatch",
           region: str = "ap-southeast-2") -> dict[str, tuple[str, str]]:
    """logical id -> (type, resolved name) for every resource the transformed template names."""
    cfn = _transform(parameters)
    evaluate = _Evaluator(cfn, parameters, stack_name, region)
    # SAM names a layer version's logical id after its content and settings (SharedLayer<hash>): keyed by SharedLayer.
    return {(logical_id.rstrip("0123456789abcdef") if kind == "AWS::Lambda::LayerVersion" else logical_id):
            (kind, str(evaluate(expression))) for logical_id, kind, expression in _named(cfn)}


# ------------------------------------------------------------------ names


@pytest.fixture(scope="module")
def longest_names() -> dict[str, tuple[str, str]]:
    longest = {name: _longest_value(name) for name in _name_parameters()}
    return _names(longest, stack_name=LONGEST_STACK_NAME, region=LONGEST_REGION)


def test_names_are_made_of_bounded_parameters_only():
    """CloudFormation cannot bound a stack name, so no name may contain it; the parameters in names are bounded."""
    for logical_id, _, expression in _named(TEMPLATE, sam=True):
        assert "AWS::StackName" not in repr(expression), f"{logical_id}: its name contains the stack name"
    assert {"NamePrefix", "Stage"} <= _name_parameters()
    for name in _name_parameters():
        _longest_value(name)


def test_every_name_fits_for_any_stack_name_in_any_region(longest_names):
    assert {kind for kind, _ in longest_names.values()} >= {
        "AWS::S3::Bucket", "AWS::StepFunctions::StateMachine", "AWS::Athena::WorkGroup", "AWS::CloudWatch::Alarm",
        "AWS::Logs::LogGroup", "AWS::Scheduler::Schedule", "AWS::Lambda::LayerVersion", "AWS::Glue::Database"}
    for logical_id, (kind, name) in longest_names.items():
        _, limit, pattern = NAME_RULES[kind]
        assert len(name) <= limit, f"{logical_id}: {len(name)} characters, {kind} allows {limit}: {name}"
        assert re.fullmatch(pattern, name), f"{logical_id}: {name!r} is not a valid {kind} name"


def test_the_raw_bucket_name_at_its_longest_is_within_s3s_limit(longest_names):
    kind, name = longest_names["RawBucket"]
    assert name.endswith(f"-raw-{ACCOUNT_ID}-{LONGEST_REGION}")
    assert len(name) <= 63, name


def test_every_resource_type_is_either_name_checked_or_named_by_cloudformation():
    """A resource type added to the template must be placed in NAME_RULES or UNNAMED_TYPES here."""
    kinds = {res["Type"] for res in _transform({})["Resources"].values()}
    assert kinds <= set(NAME_RULES) | UNNAMED_TYPES, kinds - set(NAME_RULES) - UNNAMED_TYPES


def test_two_stacks_and_a_redeploy_never_share_a_name():
    """Another NamePrefix (a redeploy next to what a deleted stack kept) or another Stage (a second stack in
    the account) changes every name the template sets, the retained raw bucket's and log groups' included."""
    base = _names({})
    for other in ({"NamePrefix": "accesswatch2"}, {"Stage": "test"}):
        names = _names(other)
        assert names.keys() == base.keys()
        for logical_id, (kind, name) in names.items():
            if name.startswith("/aws/lambda/") or kind == "AWS::Glue::Table" or kind in SCOPED_NAME_TYPES:
                continue  # after a function's generated name, new for every stack; within their parent
            assert name != base[logical_id][1], f"{logical_id}: {name} does not change with {other}"


def test_local_names_are_unchanged_by_the_defaults():
    """The default NamePrefix gives the embedded runtime (stack 'accesswatch', stage 'local') the names
    it always had: sample events and local state name them."""
    names = _names({"Stage": "local"})
    assert names["RawBucket"][1] == "accesswatch-local-raw-123456789012-ap-southeast-2"
    assert names["DetectionStateMachine"][1] == "accesswatch-local-detection"


@pytest.mark.parametrize("parameter,good,bad", [
    ("NamePrefix", ["accesswatch", "aw", "a", "accesswatch-g2", "a" * 16],
     ["", "Accesswatch", "2accesswatch", "access_watch", "access--watch", "accesswatch-", "-aw", "a" * 17,
      "access.watch"]),
    ("Stage", ["prod", "local", "test-2", "1", "s" * 12],
     ["", "Prod", "pro_d", "pro--d", "-prod", "prod-", "s" * 13, "pr od"]),
])
def test_name_parameters_fail_before_anything_is_created(parameter, good, bad):
    """A value the names could not take is refused by CloudFormation's parameter check, with a message
    that says what is allowed and why (ConstraintDescription)."""
    spec = PARAMETERS[parameter]
    assert spec["Type"] == "String"
    assert "63" in spec["ConstraintDescription"] and parameter in spec["ConstraintDescription"]
    assert _accepts(parameter, str(spec["Default"]))
    for value in good:
        assert _accepts(parameter, value), value
    for value in bad:
        assert not _accepts(parameter, value), value


# ------------------------------------------------------------------ deletion and replacement


STATEFUL = {name: res for name, res in RESOURCES.items() if res["Type"] in STATEFUL_TYPES}


def test_the_stateful_resources_are_the_expected_ones():
    assert set(STATEFUL) == {
        "DataKey", "OpsKey", "RawBucket", "CuratedBucket", "EvidenceBucket", "AccessLogBucket", "TrailBucket",
        "FindingsTable", "CasesTable", "LedgerTable", "IdempotencyTable", "AuditTable",
        "IngestDeadLetterQueue", "CaseDeadLetterQueue", "ConsoleUserPool",
        *(f"{f}LogGroup" for f in ("IngestFunction", "ReferenceFunction", "DetectFunction", "DetectionOutcomeFunction",
                                   "CaseStepFunction", "CaseQueueFunction", "ReportFunction", "DigestFunction",
                                   "ConsoleFunction", "ConsoleApiAccess", "DetectionStateMachine", "CaseStateMachine")),
    }
    assert {res["Type"] for res in STATEFUL.values()} == STATEFUL_TYPES


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_every_stateful_resource_says_what_deletion_and_replacement_do(name):
    res = STATEFUL[name]
    assert "DeletionPolicy" in res and "UpdateReplacePolicy" in res, name
    if name in DELETED_WITH_THE_STACK:
        assert (res["DeletionPolicy"], res["UpdateReplacePolicy"]) == ("Delete", "Delete"), name
        return
    assert res["DeletionPolicy"] in KEPT, name
    assert res["UpdateReplacePolicy"] == "Retain", name  # a replacement never deletes what it replaces
    props = res.get("Properties", {})
    if props.get("DeletionProtectionEnabled") or props.get("DeletionProtection") == "ACTIVE":  # tables; user pool
        # Deletion protection would stop a failed first deploy's rollback from deleting it: plain Retain.
        assert res["DeletionPolicy"] == "Retain", name


@pytest.mark.parametrize("policy", sorted(resources_of_type(TEMPLATE, "AWS::S3::BucketPolicy")))
def test_a_kept_bucket_keeps_its_policy(policy):
    """Deleting the stack must not leave a kept bucket open to plain HTTP, or its access logs undelivered."""
    res = RESOURCES[policy]
    bucket = RESOURCES[res["Properties"]["Bucket"]["Ref"]]
    assert res.get("DeletionPolicy") == bucket["DeletionPolicy"], policy
    assert res.get("UpdateReplacePolicy") == "Retain", policy


@pytest.mark.parametrize(("key", "at_least"), [("DataKey", 10), ("OpsKey", 10)])
def test_the_keys_outlive_everything_they_encrypt(key, at_least):
    """Deleting a key would make every retained bucket, table and log group it encrypts unreadable."""
    assert RESOURCES[key]["DeletionPolicy"] == "Retain"
    assert RESOURCES[key]["UpdateReplacePolicy"] == "Retain"
    encrypted = [name for name, res in STATEFUL.items() if name != key and f"'{key}'" in repr(res)]
    assert len(encrypted) >= at_least, encrypted


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_the_teardown_procedure_names_every_stateful_resource(name):
    section = _section(OPERATIONS, "## Deploying and removing")
    assert f"`{name}`" in section, f"docs/operations.md, 'Deploying and removing', does not say what happens to {name}"


def test_the_teardown_procedure_covers_the_steps():
    section = _section(OPERATIONS, "## Deploying and removing")
    for needle in ("sam delete", "NamePrefix", "ReportDigestReservedConcurrency", "s3:BypassGovernanceRetention",
                   "schedule-key-deletion", "--no-deletion-protection-enabled", "RetainExceptOnCreate",
                   "DetectMaxConcurrency"):
        assert needle in section, needle


def _section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    level = heading.split(" ")[0]
    rest = text[start + len(heading) + 1:]
    end = re.search(rf"^{level} ", rest, re.M)
    return rest[: end.start()] if end else rest


# ------------------------------------------------------------------ reserved concurrency and the layer


@pytest.mark.parametrize("value,reserved", [("0", None), ("1", 1)])
def test_reserved_concurrency_is_a_parameter_off_by_default(value, reserved):
    param = PARAMETERS["ReportDigestReservedConcurrency"]
    assert str(param["Default"]) == "0" and [str(v) for v in param["AllowedValues"]] == ["0", "1"]
    condition = TEMPLATE["Conditions"]["ReserveReportDigestConcurrency"]
    assert condition == {"Fn::Equals": [{"Ref": "ReportDigestReservedConcurrency"}, "1"]}  # parameters are strings
    cfn = _transform({"ReportDigestReservedConcurrency": value})
    functions = resources_of_type(cfn, "AWS::Lambda::Function")
    for name, res in functions.items():
        setting = res["Properties"].get("ReservedConcurrentExecutions")
        if name in ("ReportFunction", "DigestFunction"):
            assert _if(setting, {"ReserveReportDigestConcurrency": value == "1"}) == reserved, name
        else:
            assert setting is None, name


@pytest.mark.e2e
@pytest.mark.parametrize("value", ["0", "1"])
def test_reserved_concurrency_as_a_deployed_stack_has_it(value):
    """The condition as a CloudFormation implementation evaluates it (moto's). moto turns a Number parameter
    into a number, which then never equals "1": why the parameter is a String, compared as one everywhere."""
    from accesswatch_tools.embedded.runtime import EmbeddedAws

    with EmbeddedAws(parameters={"ReportDigestReservedConcurrency": value}) as aws:
        lam = aws.client("lambda")
        for name in sorted(resources_of_type(TEMPLATE, "AWS::Serverless::Function")):
            reserved = lam.get_function(FunctionName=aws.resource_name(name)).get("Concurrency", {})
            expected = 1 if value == "1" and name in ("ReportFunction", "DigestFunction") else None
            assert reserved.get("ReservedConcurrentExecutions") == expected, (name, value)


def _if(value: Any, conditions: Mapping[str, bool]) -> Any:
    if isinstance(value, dict) and "Fn::If" in value:
        condition, yes, no = value["Fn::If"]
        chosen = yes if conditions[condition] else no
        return None if chosen == {"Ref": "AWS::NoValue"} else chosen
    return value


def test_a_layer_change_deletes_the_version_it_replaces():
    cfn = _transform({})
    layers = resources_of_type(cfn, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    (logical_id, layer), = layers.items()
    assert logical_id.startswith("SharedLayer") and logical_id != "SharedLayer"  # a new logical id per content
    assert layer["DeletionPolicy"] == "Delete"
    assert RESOURCES["SharedLayer"]["Properties"]["RetentionPolicy"] == "Delete"
    for name, res in resources_of_type(cfn, "AWS::Lambda::Function").items():
        assert res["Properties"]["Layers"] == [{"Ref": logical_id}], name


def test_samconfig_deploys_with_the_defaults_the_docs_describe(root: Path):
    import tomllib

    config = tomllib.loads((root / "samconfig.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]
    overrides = dict(re.findall(r'(\w+)="([^"]*)"', deploy["parameter_overrides"]))
    for name, value in overrides.items():
        assert name in PARAMETERS and _accepts(name, value), f"samconfig.toml: {name}={value!r} would be refused"
    assert overrides.get("ReportDigestReservedConcurrency", "0") == "0"
    assert "CAPABILITY_IAM" in deploy["capabilities"]


# A helper for the docs: the maximum NamePrefix + Stage the raw bucket's name leaves room for.
def _room(limit: int = 63) -> int:
    return limit - len(f"--raw-{ACCOUNT_ID}-{LONGEST_REGION}")


def test_the_documented_length_bounds_are_the_template_s():
    assert int(PARAMETERS["NamePrefix"]["MaxLength"]) + int(PARAMETERS["Stage"]["MaxLength"]) <= _room()
    section = _section(OPERATIONS, "## Deploying and removing")
    assert f"{PARAMETERS['NamePrefix']['MaxLength']} characters" in section
    assert f"{PARAMETERS['Stage']['MaxLength']} characters" in section

