"""Privacy properties of template.yaml (issue #20), asserted on the CloudFormation the SAM translator makes of it.

moto enforces no IAM, bucket policy, key policy, lifecycle or Object Lock, so these are checked here: every
bucket disposes of what it holds on the retention schedule; every service grant in every key policy is
conditioned; a trail of S3 and DynamoDB data events is declared (when CreateDataEventTrail is true); no
function or state machine role can write a reference prefix or delete a case's history; every store of the
template appears in docs/privacy.md.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Iterator
from typing import Any

import pytest
from support.sam_transform import transformed_template

from accesswatch.dal.digests import DIGESTS_PREFIX
from accesswatch.dal.objects import CuratedLayout
from accesswatch.services.report import REPORTS_PREFIX
from accesswatch_tools.embedded.template import PROJECT_ROOT, load_template

TEMPLATE = load_template()
PARAMETERS = TEMPLATE["Parameters"]
PRIVACY = (PROJECT_ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")

# The retention schedule: every parameter that says how long something is kept (docs/privacy.md).
RETENTION_PARAMETERS = {"RawRetentionDays", "EvidenceRetentionDays", "CuratedRetentionDays", "ReferenceCopyRetentionDays",
                        "QuarantineRetentionDays", "ReportRetentionDays", "WorkingFileRetentionDays",
                        "NoncurrentVersionRetentionDays", "TrailRetentionDays", "LogRetentionDays"}
# Types that hold data (or decrypt it): each such resource is a row of docs/privacy.md's table.
STORE_TYPES = {"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic",
               "AWS::Logs::LogGroup", "AWS::KMS::Key", "AWS::StepFunctions::StateMachine", "AWS::CloudTrail::Trail"}
CRYPTO_ACTIONS = {"kms:encrypt", "kms:decrypt", "kms:reencrypt*", "kms:reencryptfrom", "kms:reencryptto",
                  "kms:generatedatakey", "kms:generatedatakey*", "kms:generatedatakeywithoutplaintext", "kms:*", "*"}
SERVICE_CONDITION_KEYS = ("aws:SourceAccount", "aws:SourceArn", "kms:EncryptionContext", "kms:ViaService",
                          "kms:CallerAccount")

RAW = "arn:aws:s3:::RAW"
CURATED = "arn:aws:s3:::CURATED"
EVIDENCE = "arn:aws:s3:::EVIDENCE"


# ------------------------------------------------------------------ the transformed template


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transformed_template()


def of_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in cfn["Resources"].items() if res["Type"] == kind}


def listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def branches(statement: Any) -> Iterator[dict[str, Any]]:
    """The statement, or each present branch of an ``Fn::If`` statement (both are deployable)."""
    if isinstance(statement, dict) and "Fn::If" in statement:
        for branch in statement["Fn::If"][1:]:
            if branch != {"Ref": "AWS::NoValue"}:
                yield from branches(branch)
    else:
        yield statement


def conditions(statement: dict[str, Any]) -> list[dict[str, Any]]:
    """The statement's Condition blocks, each branch of an ``Fn::If`` condition separately ({} when absent)."""
    condition = statement.get("Condition", {})
    if isinstance(condition, dict) and "Fn::If" in condition:
        return [{} if b == {"Ref": "AWS::NoValue"} else b for b in condition["Fn::If"][1:]]
    return [condition]


def text(value: Any) -> str:
    """A resource ARN as text, the stack's buckets written RAW and CURATED and other references as *."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        body = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        body = body.replace("arn:${AWS::Partition}:s3:::${NamePrefix}-${Stage}-raw-${AWS::AccountId}-${AWS::Region}", RAW)
        body = body.replace("${CuratedBucket.Arn}", CURATED).replace("${RawBucket.Arn}", RAW)
        body = body.replace("${EvidenceBucket.Arn}", EVIDENCE)
        return re.sub(r"\$\{[^}]+\}", "*", body)
    if "Fn::GetAtt" in value:
        name = value["Fn::GetAtt"][0]
        return {"CuratedBucket": CURATED, "RawBucket": RAW, "EvidenceBucket": EVIDENCE}.get(name, f"arn:aws:*:::{name}")
    return "*"


def role_statements(cfn: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, res in of_type(cfn, "AWS::IAM::Role").items():
        for policy in res["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement


def grants(statement: dict[str, Any], action: str) -> bool:
    return statement["Effect"] == "Allow" and any(
        fnmatch.fnmatch(action.lower(), a.lower()) for a in listify(statement["Action"]))


def writers_of(cfn: dict[str, Any], key: str) -> set[str]:
    """The roles whose IAM policies allow s3:PutObject on the object ARN ``key``."""
    return {role for role, statement in role_statements(cfn) if grants(statement, "s3:PutObject")
            and any(fnmatch.fnmatch(key, text(r)) for r in listify(statement["Resource"]))}


def can_delete_case_items(statement: dict[str, Any]) -> bool:
    """Whether the statement lets a role delete (or batch-write, which can delete) a CASE# item of CasesTable."""
    if statement["Effect"] != "Allow" or "CasesTable" not in repr(statement["Resource"]):
        return False
    deleting = any(grants(statement, a) for a in ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                                                  "dynamodb:PartiQLDelete"))
    if not deleting:
        return False
    for condition in conditions(statement):
        keys = condition.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        if keys is None or any(fnmatch.fnmatchcase("CASE#C-1", k) for k in listify(keys)):
            return True
    return False


# ------------------------------------------------------------------ retention schedule


def test_the_retention_schedule_is_parameters_with_documented_defaults():
    for name in sorted(RETENTION_PARAMETERS):
        spec = PARAMETERS[name]
        assert spec["Type"] == "Number" and int(spec["Default"]) > 0, name
        assert f"`{name}`" in PRIVACY, f"docs/privacy.md does not document {name}"
        assert str(spec["Default"]) in PRIVACY, f"docs/privacy.md does not give {name}'s default"


def test_every_bucket_has_lifecycle_rules_old_versions_and_uploads_included(cfn):
    buckets = of_type(cfn, "AWS::S3::Bucket")
    assert {"RawBucket", "CuratedBucket", "EvidenceBucket", "AccessLogBucket", "TrailBucket"} <= set(buckets)
    for name, res in buckets.items():
        rules = res["Properties"]["LifecycleConfiguration"]["Rules"]
        assert rules and all(r["Status"] == "Enabled" for r in rules), name
        whole = [r for r in rules if "Prefix" not in r and "Filter" not in r]
        assert any("NoncurrentVersionExpiration" in r for r in whole), f"{name}: old versions are kept forever"
        assert any("AbortIncompleteMultipartUpload" in r for r in whole), f"{name}: incomplete uploads are kept"
        for rule in rules:
            for days in (rule.get("ExpirationInDays"), rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")):
                if days is not None:
                    assert isinstance(days, dict) and days.get("Ref") in RETENTION_PARAMETERS, (name, rule["Id"])


def _curated_prefixes() -> set[str]:
    keys = {CuratedLayout.partition("cms", __import__("datetime").date(2025, 4, 1), "i", 0),
            CuratedLayout.manifest("i"), CuratedLayout.quarantine("cms", "i"), CuratedLayout.quarantine_raw("cms", "i"),
            CuratedLayout.reference_snapshot("staff", "d"), CuratedLayout.reference_report("staff", "d"),
            CuratedLayout.reference_index("s"), REPORTS_PREFIX + "x", DIGESTS_PREFIX + "x"}
    athena = TEMPLATE["Resources"]["ReportsWorkGroup"]["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"]
    keys.add(athena["OutputLocation"]["Fn::Sub"].split("}/", 1)[1] + "x")
    return keys


@pytest.mark.parametrize("key", sorted(_curated_prefixes()))
def test_every_curated_key_the_code_writes_expires_on_the_schedule(key):
    rules = TEMPLATE["Resources"]["CuratedBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    matching = [r for r in rules if "ExpirationInDays" in r and key.startswith(r.get("Prefix", ""))]
    assert len(matching) == 1, f"{key}: {len(matching)} expiry rules (S3 would apply the shortest)"


@pytest.mark.parametrize(("bucket", "days"), [("RawBucket", "RawRetentionDays"), ("TrailBucket", "TrailRetentionDays"),
                                            ("EvidenceBucket", "EvidenceRetentionDays")])
def test_object_lock_and_lifecycle_of_a_locked_bucket_are_one_number(bucket, days):
    """The lifecycle never asks S3 to delete a version still under its lock, and never keeps it past it."""
    props = TEMPLATE["Resources"][bucket]["Properties"]
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": {"Ref": days}}
    expiries = {r["ExpirationInDays"]["Ref"] for r in props["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r}
    assert expiries == {days}


def test_ttl_only_where_the_code_writes_the_attribute():
    from accesswatch.dal.cases import PURGE_AT

    ttl = {name: res["Properties"]["TimeToLiveSpecification"]["AttributeName"]
           for name, res in TEMPLATE["Resources"].items()
           if res["Type"] == "AWS::DynamoDB::Table" and "TimeToLiveSpecification" in res["Properties"]}
    assert ttl == {"IdempotencyTable": "expiration", "CasesTable": PURGE_AT}


# ------------------------------------------------------------------ keys


def test_every_service_grant_in_every_key_policy_is_conditioned(cfn):
    keys = of_type(cfn, "AWS::KMS::Key")
    assert set(keys) == {"DataKey", "OpsKey"}
    services = 0
    for name, res in keys.items():
        for statement in (s for raw in res["Properties"]["KeyPolicy"]["Statement"] for s in branches(raw)):
            principal = statement["Principal"]
            if isinstance(principal, dict) and "Service" in principal:
                services += 1
                for condition in conditions(statement):
                    keys_used = " ".join(k for block in condition.values() for k in block)
                    assert any(k in keys_used for k in SERVICE_CONDITION_KEYS), (name, statement.get("Sid"))
    assert services >= 4


def test_no_principal_decrypts_with_a_key_outside_the_services_but_the_named_key_user(cfn):
    for name, res in of_type(cfn, "AWS::KMS::Key").items():
        for statement in (s for raw in res["Properties"]["KeyPolicy"]["Statement"] for s in branches(raw)):
            actions = {a.lower() for a in listify(statement["Action"])}
            principal = statement["Principal"]
            if not (isinstance(principal, dict) and "AWS" in principal) or not actions & CRYPTO_ACTIONS:
                continue
            if principal["AWS"] == {"Ref": "KeyUserPrincipalArn"}:
                assert "kms:*" not in actions, name
                continue
            assert statement["Condition"]["StringEquals"]["kms:ViaService"], (name, statement.get("Sid"))


# ------------------------------------------------------------------ audit of reads


def test_a_trail_of_s3_and_dynamodb_data_events_is_declared_conditionally(cfn):
    trails = of_type(cfn, "AWS::CloudTrail::Trail")
    assert list(trails) == ["DataEventTrail"]
    trail = trails["DataEventTrail"]
    assert trail["Condition"] == "CreateTrail"
    assert cfn["Conditions"]["CreateTrail"] == {"Fn::Equals": [{"Ref": "CreateDataEventTrail"}, "true"]}
    assert PARAMETERS["CreateDataEventTrail"]["Default"] == "true"
    props = trail["Properties"]
    assert props["IsLogging"] is True and props["EnableLogFileValidation"] is True
    assert props["S3BucketName"] == {"Ref": "TrailBucket"} and props["KMSKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    selected: dict[str, str] = {}
    for selector in props["AdvancedEventSelectors"]:
        fields = {f["Field"]: f for f in selector["FieldSelectors"]}
        assert fields["eventCategory"]["Equals"] == ["Data"]
        assert "readOnly" not in fields, "reads and writes both"
        (kind,) = fields["resources.type"]["Equals"]
        selected[kind] = repr(fields["resources.ARN"])
    for bucket_arn in ("raw-", "CuratedBucket", "EvidenceBucket"):
        assert bucket_arn in selected["AWS::S3::Object"], bucket_arn
    for table in ("FindingsTable", "CasesTable", "LedgerTable", "AuditTable"):
        assert table in selected["AWS::DynamoDB::Table"], table
    bucket = cfn["Resources"]["TrailBucket"]
    assert bucket["Condition"] == "CreateTrail" and bucket["Properties"]["ObjectLockEnabled"] is True


# ------------------------------------------------------------------ inputs and evidence


@pytest.mark.parametrize("key", [f"{RAW}/reference/staff.csv", f"{RAW}/reference/assignments.csv",
                                 f"{CURATED}/reference/index/s.bin", f"{CURATED}/reference/snapshots/staff/d.parquet"])
def test_no_function_role_can_write_a_reference_prefix(cfn, key):
    allowed = {"ReferenceFunctionRole"} if key.startswith(CURATED) else set()
    assert writers_of(cfn, key) <= allowed, key


def test_no_role_writes_the_raw_bucket_but_the_console_its_own_access_log(cfn):
    for key in (f"{RAW}/access-logs/cms/x.csv", f"{RAW}/access-logs/accesswatchx/x.jsonl", f"{RAW}/x"):
        assert writers_of(cfn, key) == set(), key
    assert writers_of(cfn, f"{RAW}/access-logs/accesswatch/2026/11/30/console-1.jsonl") == {"ConsoleFunctionRole"}


def test_the_log_shippers_deny_lets_the_console_write_its_access_log():
    """With LogShipperArn set, the raw bucket refuses access-log writes from anyone but the shipper and the
    console's role (whose IAM policy keeps it to access-logs/accesswatch/)."""
    raw = TEMPLATE["Resources"]["RawBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (shipper,) = [s["Fn::If"][1] for s in raw if isinstance(s, dict) and "Fn::If" in s
                  and s["Fn::If"][1].get("Sid") == "OnlyTheLogShipperWritesAccessLogs"]
    assert shipper["Effect"] == "Deny" and "s3:PutObject" in shipper["Action"]
    assert shipper["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [
        {"Ref": "LogShipperArn"}, {"Fn::GetAtt": ["ConsoleFunctionRole", "Arn"]}]}}


def test_the_writer_check_sees_a_role_that_could_write_the_reference_prefix(cfn):
    bad = copy.deepcopy(cfn)
    bad["Resources"]["ReportFunctionRole"]["Properties"]["Policies"].append({"PolicyName": "x", "PolicyDocument": {
        "Statement": [{"Effect": "Allow", "Action": "s3:Put*", "Resource": {"Fn::Sub": "${CuratedBucket.Arn}/*"}}]}})
    assert "ReportFunctionRole" in writers_of(bad, f"{CURATED}/reference/index/s.bin")


def test_bucket_policies_deny_reference_writes_to_all_but_the_named_principal():
    raw = {s["Sid"]: s for s in TEMPLATE["Resources"]["RawBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
           if "Sid" in s}
    deny = raw["OnlyTheReferenceUploaderWritesReference"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and "s3:PutObject" in deny["Action"]
    assert deny["Condition"] == {"Fn::If": ["HasReferenceUploader",
                                            {"ArnNotEquals": {"aws:PrincipalArn": {"Ref": "ReferenceUploaderArn"}}},
                                            {"Ref": "AWS::NoValue"}]}, "no uploader named: nobody writes"
    bypass = raw["OnlyBreakGlassBypassesTheLock"]
    assert bypass["Effect"] == "Deny" and bypass["Action"] == "s3:BypassGovernanceRetention"
    curated = {s["Sid"]: s for s in TEMPLATE["Resources"]["CuratedBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    for sid, prefix, role in (("OnlyTheReferenceFunctionWritesReference", "reference/", "ReferenceFunctionRole"),
                              ("OnlyTheIngestFunctionWritesPartitions", "events/", "IngestFunctionRole")):
        only = curated[sid]
        assert only["Effect"] == "Deny" and only["Principal"] == "*" and only["Action"] == "s3:PutObject"
        assert only["Resource"] == {"Fn::Sub": "${CuratedBucket.Arn}/" + prefix + "*"}
        assert only["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [role, "Arn"]}}}


def test_no_function_role_touches_the_evidence_bucket(cfn):
    """Evidence packs are written and read by the CLI with the caller's credentials, never by a function."""
    key = f"{EVIDENCE}/evidence/CASE-1/20261130T081500Z-1a2b3c4d/manifest.json"
    assert writers_of(cfn, key) == set()
    touching = {role for role, statement in role_statements(cfn) if statement["Effect"] == "Allow"
                and any(grants(statement, a) for a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"))
                and any(fnmatch.fnmatch(key, text(r)) or text(r) == EVIDENCE for r in listify(statement["Resource"]))}
    assert touching == set(), touching


def test_the_evidence_bucket_is_locked_tls_only_and_only_break_glass_bypasses_its_lock():
    props = TEMPLATE["Resources"]["EvidenceBucket"]["Properties"]
    assert props["ObjectLockEnabled"] is True and props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    statements = {s["Sid"]: s for s in
                  TEMPLATE["Resources"]["EvidenceBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    tls = statements["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    raw = {s["Sid"]: s for s in TEMPLATE["Resources"]["RawBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
           if "Sid" in s}
    bypass = statements["OnlyBreakGlassBypassesTheLock"]
    assert bypass["Action"] == "s3:BypassGovernanceRetention"
    assert bypass["Condition"] == raw["OnlyBreakGlassBypassesTheLock"]["Condition"]
    assert bypass["Resource"] == [{"Fn::GetAtt": ["EvidenceBucket", "Arn"]}, {"Fn::Sub": "${EvidenceBucket.Arn}/*"}]


def test_only_the_ingest_function_can_write_partitions(cfn):
    assert writers_of(cfn, f"{CURATED}/events/system=cms/nz_date=2025-04-01/i-00000.parquet") == {"IngestFunctionRole"}


def test_every_reference_upload_notifies_the_ops_topic():
    rule = TEMPLATE["Resources"]["ReferenceUploadRule"]["Properties"]
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"prefix": "reference/"}]
    assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": "OpsTopic"}]
    notification = TEMPLATE["Resources"]["RawBucket"]["Properties"]["NotificationConfiguration"]
    assert notification["EventBridgeConfiguration"] == {"EventBridgeEnabled": True}


def test_no_role_can_delete_case_history(cfn):
    deleters = {role for role, statement in role_statements(cfn) if can_delete_case_items(statement)}
    assert deleters == set(), deleters
    # the roles that append history still release pointers and dequeue users, by partition key only
    conditioned = {role for role, statement in role_statements(cfn)
                   if statement["Effect"] == "Allow" and "CasesTable" in repr(statement["Resource"])
                   and grants(statement, "dynamodb:DeleteItem")}
    assert conditioned == {"DetectFunctionRole", "CaseStepFunctionRole", "CaseQueueFunctionRole"}


def test_the_history_check_sees_an_unconditioned_delete():
    crud = {"Effect": "Allow", "Action": ["dynamodb:DeleteItem"], "Resource": {"Fn::GetAtt": ["CasesTable", "Arn"]}}
    assert can_delete_case_items(crud)
    wide = {**crud, "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*"]}}}
    assert can_delete_case_items(wide)
    batch = {**crud, "Action": "dynamodb:BatchWriteItem"}
    assert can_delete_case_items(batch)


def test_no_sam_crud_policy_is_left(cfn):
    """SAM's CRUD templates grant DeleteItem, Scan and BatchWriteItem: every table grant is explicit."""
    for res in TEMPLATE["Resources"].values():
        for policy in res.get("Properties", {}).get("Policies", []) if res["Type"] == "AWS::Serverless::Function" else []:
            assert not (isinstance(policy, dict) and "DynamoDBCrudPolicy" in policy), policy


@pytest.mark.parametrize(("kind", "policy_kind", "key", "action"), [
    ("AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "Topics", "sns:Publish"),
    ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues", "sqs:SendMessage"),
])
def test_topics_and_queues_are_tls_only_and_only_their_publishers_post(kind, policy_kind, key, action):
    policies = {p["Properties"][key][0]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
                for p in TEMPLATE["Resources"].values() if p["Type"] == policy_kind}
    for name, res in TEMPLATE["Resources"].items():
        if res["Type"] != kind:
            continue
        statements = policies[name]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements), name
        restrict = [s for s in statements if s["Effect"] == "Deny" and s["Action"] == action]
        assert restrict and all(s["Principal"] == "*" and s["Condition"] for s in restrict), name


# ------------------------------------------------------------------ docs/privacy.md


def _stores(cfn: dict[str, Any]) -> list[str]:
    return sorted(name for name, res in cfn["Resources"].items() if res["Type"] in STORE_TYPES)


def test_every_store_of_the_template_appears_in_docs_privacy(cfn):
    table = PRIVACY.split("## Stores", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in _stores(cfn) if f"`{name}`" not in table]
    assert not missing, f"docs/privacy.md, 'Stores', does not describe {missing}"
    assert len(_stores(cfn)) >= 25


def test_privacy_doc_has_the_sections_the_other_parts_fill():
    for heading in ("## Retention schedule", "## Stores", "## Minimisation", "## Audit of reads", "## Keys"):
        assert heading in PRIVACY, heading


PRINCIPAL_PARAMETERS = ("KeyAdminPrincipalArn", "KeyUserPrincipalArn", "ReferenceUploaderArn", "LogShipperArn",
                        "QuarantineReaderArn", "BreakGlassPrincipalArn")


@pytest.mark.parametrize("name", PRINCIPAL_PARAMETERS)
def test_principal_parameters_are_optional_and_take_only_an_iam_principal(name):
    spec = PARAMETERS[name]
    assert spec["Default"] == ""
    pattern = spec["AllowedPattern"]
    for good in ("", "arn:aws:iam::123456789012:role/ministry-upload", "arn:aws-us-gov:iam::123456789012:user/a"):
        assert re.fullmatch(pattern, good), (name, good)
    # no wildcard: ArnNotEquals matches * and ? in its value, so role/* would let every role through
    for bad in ("*", "arn:aws:iam::*:role/x", "arn:aws:iam::1234:role/x", "ministry-upload", "arn:aws:s3:::bucket",
                "arn:aws:iam::123456789012:role/*", "arn:aws:iam::123456789012:role/upload?", "arn:aws:iam::123456789012:role/"):
        assert not re.fullmatch(pattern, bad), (name, bad)
    root_allowed = bool(re.fullmatch(pattern, "arn:aws:iam::123456789012:root"))
    assert root_allowed == (name == "KeyAdminPrincipalArn"), "only administration may fall back to the root"
    assert f"`{name}`" in PRIVACY, f"docs/privacy.md does not say what {name} does"
