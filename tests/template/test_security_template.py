"""Security properties of template.yaml, checked where moto cannot enforce them.

moto ignores IAM, bucket policies, Object Lock and encryption settings, so they are asserted on the
template itself and, for IAM, on the CloudFormation that the SAM translator produces from it.
"""

from __future__ import annotations

import fnmatch
import re

import pytest
from support.sam_transform import transformed_template

from accesswatch_tools.embedded.template import TEMPLATE_PATH, load_template, resources_of_type

TEMPLATE = load_template()
RES = TEMPLATE["Resources"]
BUCKETS = resources_of_type(TEMPLATE, "AWS::S3::Bucket")
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
STATE_MACHINES = resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine")
DATA_KEY_ARN = {"Fn::GetAtt": ["DataKey", "Arn"]}
DATA_KEY_REF = {"Ref": "DataKey"}
OPS_KEY_ARN = {"Fn::GetAtt": ["OpsKey", "Arn"]}
OPS_KEY_REF = {"Ref": "OpsKey"}
ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
CRYPTO = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey", "kms:GenerateDataKey*"}


@pytest.mark.parametrize("key", ["DataKey", "OpsKey"])
def test_keys_rotate_and_administration_is_split_from_use(key):
    """The administrator (KeyAdminPrincipalArn, else the account root) administers and never decrypts; the
    account's principals use the key only through AWS services (kms:ViaService). Service grants:
    tests/template/test_privacy_template.py."""
    props = RES[key]["Properties"]
    assert props["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in props["KeyPolicy"]["Statement"] if "Sid" in s}
    admin = statements["KeyAdministration"]
    assert admin["Principal"] == {"AWS": {"Fn::If": ["HasKeyAdmin", {"Ref": "KeyAdminPrincipalArn"}, ROOT]}}
    uses = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
            "kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant"]
    assert not [(a, u) for a in admin["Action"] for u in uses if fnmatch.fnmatch(u.lower(), a.lower())]
    assert not any(a in ("kms:*", "*") for a in admin["Action"])
    use = statements["AccountPrincipalsUseTheKeyThroughTheServices"]
    assert use["Principal"] == {"AWS": ROOT}
    assert use["Condition"]["StringEquals"]["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}
    assert use["Condition"]["StringEquals"]["kms:ViaService"]
    for statement in props["KeyPolicy"]["Statement"]:
        for action in _listify(statement.get("Action", [])) if isinstance(statement, dict) else []:
            assert action not in ("kms:*", "*"), (key, statement.get("Sid"))


@pytest.mark.parametrize("bucket", sorted(BUCKETS))
def test_buckets_are_private_versioned_encrypted_and_tls_only(bucket):
    props = BUCKETS[bucket]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    default = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    if bucket == "AccessLogBucket":
        assert default == {"SSEAlgorithm": "AES256"}  # S3 server access logs cannot go to SSE-KMS buckets
    else:
        assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": DATA_KEY_ARN}
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    policies = [r for r in resources_of_type(TEMPLATE, "AWS::S3::BucketPolicy").values()
                if r["Properties"]["Bucket"] == {"Ref": bucket}]
    assert len(policies) == 1, bucket
    deny = [s for s in policies[0]["Properties"]["PolicyDocument"]["Statement"] if s.get("Effect") == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Principal"] == "*"
               and s["Action"] == "s3:*" and len(s["Resource"]) == 2 for s in deny), bucket


def test_raw_logs_are_locked_in_governance_mode():
    props = BUCKETS["RawBucket"]["Properties"]
    assert props["ObjectLockEnabled"] is True
    rule = props["ObjectLockConfiguration"]
    assert rule["ObjectLockEnabled"] == "Enabled"
    assert rule["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": {"Ref": "RawRetentionDays"}}
    assert int(TEMPLATE["Parameters"]["RawRetentionDays"]["Default"]) >= 365 * 7


def test_access_log_delivery_is_limited_to_the_stack_buckets():
    statements = RES["AccessLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "logging.s3.amazonaws.com"} and allow[0]["Action"] == "s3:PutObject"
    assert allow[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


@pytest.mark.parametrize("table", sorted(resources_of_type(TEMPLATE, "AWS::DynamoDB::Table")))
def test_tables_are_encrypted_recoverable_and_protected(table):
    props = RES[table]["Properties"]
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": DATA_KEY_ARN}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    if table != "IdempotencyTable":  # expiring de-duplication keys only (docs/operations.md)
        assert props["DeletionProtectionEnabled"] is True


@pytest.mark.parametrize("kind", ["AWS::SNS::Topic", "AWS::SQS::Queue"])
def test_topics_and_queues_use_the_data_key_and_the_alarm_topic_the_ops_key(kind):
    for name, res in resources_of_type(TEMPLATE, kind).items():
        expected = OPS_KEY_REF if name == "OpsTopic" else DATA_KEY_REF
        assert res["Properties"]["KmsMasterKeyId"] == expected, name


def test_functions_encrypt_their_environment_and_trace():
    globals_fn = TEMPLATE["Globals"]["Function"]
    assert globals_fn["KmsKeyArn"] == DATA_KEY_ARN
    assert globals_fn["Tracing"] == "Active"
    assert globals_fn["Environment"]["Variables"]["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    for name, res in FUNCTIONS.items():
        assert "KmsKeyArn" not in res["Properties"] or res["Properties"]["KmsKeyArn"] == DATA_KEY_ARN, name


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_has_a_retained_encrypted_log_group(function):
    groups = [r for r in resources_of_type(TEMPLATE, "AWS::Logs::LogGroup").values()
              if r["Properties"].get("LogGroupName") == {"Fn::Sub": "/aws/lambda/${" + function + "}"}]
    assert len(groups) == 1, function
    props = groups[0]["Properties"]
    assert props["KmsKeyId"] == OPS_KEY_ARN
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # Kept when the stack is deleted (tests/template/test_deploy_template.py checks every stateful resource).
    assert groups[0]["DeletionPolicy"] in ("Retain", "RetainExceptOnCreate")


def test_log_retention_is_at_least_a_year():
    param = TEMPLATE["Parameters"]["LogRetentionDays"]
    assert int(param["Default"]) >= 365 and min(param["AllowedValues"]) >= 365


@pytest.mark.parametrize("machine", sorted(STATE_MACHINES))
def test_state_machines_log_errors_without_execution_data_to_encrypted_groups(machine):
    logging = STATE_MACHINES[machine]["Properties"]["Logging"]
    assert logging["IncludeExecutionData"] is False
    assert logging["Level"] in ("ERROR", "FATAL", "ALL")
    (destination,) = logging["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert RES[group]["Properties"]["KmsKeyId"] == OPS_KEY_ARN
    assert STATE_MACHINES[machine]["Properties"]["Tracing"] == {"Enabled": True}


# ------------------------------------------------------------------ IAM, after the SAM transform


@pytest.fixture(scope="module")
def transformed() -> dict:
    return transformed_template()


def _statements(cfn: dict) -> list[tuple[str, dict]]:
    out = []
    for name, res in cfn["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            for policy in res["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    out.append((name, statement))
    return out


def _listify(value):
    return value if isinstance(value, list) else [value]


# Actions AWS offers no resource-level scope for, and why they are granted.
RESOURCE_STAR_ALLOWED = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    # The console: a callback task token names no IAM resource; GetMetricData has no resource-level scope.
    "states:SendTaskSuccess", "states:SendTaskFailure", "cloudwatch:GetMetricData",
}
MANAGED_POLICIES_ALLOWED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",  # write the function's own logs
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",  # tracing (X-Ray has no resource scope)
}


def test_no_wildcard_actions_and_star_resources_only_where_aws_has_no_scope(transformed):
    statements = _statements(transformed)
    assert statements
    for role, statement in statements:
        assert statement["Effect"] == "Allow", role
        for action in _listify(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), (role, action)
        if "*" in _listify(statement["Resource"]):
            assert set(_listify(statement["Action"])) <= RESOURCE_STAR_ALLOWED, (role, statement["Action"])


def test_managed_policies_are_the_two_expected(transformed):
    for name, res in transformed["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            assert set(res["Properties"].get("ManagedPolicyArns", [])) <= MANAGED_POLICIES_ALLOWED, name


def test_nothing_deletes_stored_data_or_changes_bucket_settings(transformed):
    forbidden = {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:PutObjectAcl",
                 "s3:PutBucketPolicy", "s3:BypassGovernanceRetention", "s3:PutObjectRetention",
                 "dynamodb:DeleteTable", "kms:ScheduleKeyDeletion", "kms:DisableKey"}
    for role, statement in _statements(transformed):
        assert not forbidden & set(_listify(statement["Action"])), (role, statement["Action"])


def test_kms_use_is_decrypt_and_data_keys_only(transformed):
    for role, statement in _statements(transformed):
        kms = {a for a in _listify(statement["Action"]) if a.startswith("kms:")}
        assert kms <= {"kms:Decrypt", "kms:GenerateDataKey"}, (role, kms)


def test_functions_only_read_the_raw_bucket_but_the_console_writes_its_own_access_log(transformed):
    raw = "${NamePrefix}-${Stage}-raw-"
    readers = set()
    for role, statement in _statements(transformed):
        text = repr(statement["Resource"])
        if raw in text:
            readers.add(role)
            writes = {a for a in _listify(statement["Action"]) if a.startswith("s3:Put") or a.startswith("s3:Delete")}
            if role == "ConsoleFunctionRole" and writes:  # its page views, the access log of the system accesswatch
                assert writes == {"s3:PutObject"}, writes
                assert [r["Fn::Sub"].split(raw)[1] for r in _listify(statement["Resource"])] == [
                    "${AWS::AccountId}-${AWS::Region}/access-logs/accesswatch/*"]
                continue
            assert not writes, (role, writes)
    assert {"IngestFunctionRole", "ReferenceFunctionRole", "ConsoleFunctionRole"} <= readers


# ------------------------------------------------------------------ secrets and justified skips


def test_no_secrets_in_the_template():
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
    assert not re.search(r"(?i)(password|secret|token|api[_-]?key)\s*:\s*['\"]?[A-Za-z0-9/+]{8,}", text)
    for name, param in TEMPLATE.get("Parameters", {}).items():
        assert not re.search(r"(?i)password|secret|token|apikey", name) or param.get("NoEcho"), name


def test_every_checkov_skip_is_justified_in_place():
    skips = 0
    for name, res in RES.items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            skips += 1
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
            assert len(skip.get("comment", "").split()) >= 6, f"{name}: skip {skip['id']} needs a reason"
    assert skips, "expected the justified skips documented in docs/operations.md"


def test_reserved_concurrency_where_sensible():
    """Report and digest run one at a time where the account can spare a reservation (a parameter, off by
    default: a new account's quota of 10 leaves none to reserve); the others say why they need none."""
    param = TEMPLATE["Parameters"]["ReportDigestReservedConcurrency"]
    assert str(param["Default"]) == "0"
    reserved = {"Fn::If": ["ReserveReportDigestConcurrency", 1, {"Ref": "AWS::NoValue"}]}
    for name in ("ReportFunction", "DigestFunction"):
        assert FUNCTIONS[name]["Properties"]["ReservedConcurrentExecutions"] == reserved, name
    for name, res in FUNCTIONS.items():
        if "ReservedConcurrentExecutions" not in res["Properties"]:
            ids = {s["id"] for s in res.get("Metadata", {}).get("checkov", {}).get("skip", [])}
            assert "CKV_AWS_115" in ids, f"{name}: no reserved concurrency and no reason why"
