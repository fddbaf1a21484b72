"""Application audit records of reads and the authenticated actor (issue #20 items 3 and 5): the record's shape
(ids only, keyed by NZ day), the audit table's store (added once, never replaced, read by day), the actor from
an IAM ARN (moto's STS) or the local OS user, never from free text, and the case history's writes."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from accesswatch.audit import (
    ACTIONS,
    MAX_IDS,
    Actor,
    AuditError,
    actor_from_arn,
    check_reason,
    new_record,
    record_view,
)
from accesswatch.dal.audit import AuditStore, AuditWriteError
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.identity import caller_actor

REGION = "ap-southeast-2"
ME = Actor(name="jane", source="local")
# 2025-04-01 12:30 UTC is 2025-04-02 01:30 in New Zealand (NZDT until 6 April).
AT = datetime(2025, 4, 1, 12, 30, tzinfo=UTC)


# ----------------------------------------------------------------------------------- the record
def test_a_record_is_keyed_by_its_nz_day_and_holds_ids_and_counts_only() -> None:
    record = new_record(actor=ME, action="footprint", subject={"client_id": "010693250", "from": date(2025, 3, 1),
                                                               "to": date(2025, 6, 30), "systems": []},
                        result={"accesses": 18, "users": 7}, reason=" OIA-2025-0042 ", now=AT, record_id="abc",
                        target="local")
    assert record["pk"] == "DAY#2025-04-02", "the New Zealand date, not the UTC one"
    assert record["sk"] == "2025-04-01T12:30:00.000Z#abc"
    assert record["nz_date"] == "2025-04-02" and record["at"] == "2025-04-01T12:30:00.000Z"
    assert (record["actor"], record["actor_source"], record["action"], record["source"]) == (
        "jane", "local", "footprint", "cli")
    assert record["subject"] == {"client_id": "010693250", "from": "2025-03-01", "to": "2025-06-30"}, "empty ones dropped"
    assert record["result"] == {"accesses": 18, "users": 7}
    assert record["reason"] == "OIA-2025-0042" and record["target"] == "local"
    assert "pk" not in record_view(record) and record_view(record)["audit_id"] == "abc"


def test_long_id_lists_are_cut_and_say_how_many_there_were() -> None:
    ids = [f"CASE-{i:04d}" for i in range(MAX_IDS + 5)]
    record = new_record(actor=ME, action="export_cases", subject={"case_ids": ids}, result={"cases": len(ids)},
                        reason=None, now=AT)
    assert record["subject"]["case_ids"] == ids[:MAX_IDS] and record["subject"]["case_ids_total"] == len(ids)
    assert record["reason"] == ""


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"action": "peek"}, "unknown audit action 'peek'; one of footprint"),
    ({"source": "email"}, "unknown audit source 'email'; one of cli, console"),
    ({"reason": "x" * 501}, "--reason is longer than 500 characters"),
    ({"reason": "two\nlines"}, "--reason must be one line"),
])
def test_bad_records_are_refused_in_one_line(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"actor": ME, "action": "case_show", "subject": {"case_id": "CASE-1"}, "result": {},
                            "reason": "", **kwargs}
    with pytest.raises(AuditError, match=re.escape(message)):
        new_record(**args)


def test_the_actions_cover_every_audited_read() -> None:
    assert {"footprint", "footprint_client_safe", "export_findings", "export_cases", "run_outputs", "findings_list",
            "case_list", "case_show", "audit_list"} <= set(ACTIONS)
    assert check_reason(None) == ""


# ----------------------------------------------------------------------------------- the actor
@pytest.mark.parametrize(("arn", "name"), [
    ("arn:aws:sts::123456789012:assumed-role/Investigator/jane", "assumed-role/Investigator/jane"),
    ("arn:aws:iam::123456789012:user/ops/team/jane", "user/jane"),
    ("arn:aws:iam::123456789012:root", "root"),
    ("arn:aws:sts::123456789012:federated-user/jane", "federated-user/jane"),
    ("arn:aws-us-gov:sts::123456789012:assumed-role/R/s", "assumed-role/R/s"),
])
def test_an_arn_gives_a_readable_actor(arn: str, name: str) -> None:
    actor = actor_from_arn(arn)
    assert (actor.name, actor.source, actor.arn, actor.account) == (name, "iam", arn, "123456789012")
    assert actor.as_fields() == {"actor": name, "actor_source": "iam", "actor_arn": arn, "account": "123456789012"}


@pytest.mark.parametrize("arn", ["jane", "arn:aws:iam::123", "arn:aws:sts::1:"])
def test_anything_but_an_arn_is_refused(arn: str) -> None:
    with pytest.raises(AuditError, match="not an IAM identity ARN"):
        actor_from_arn(arn)


def test_an_actor_needs_a_known_source_and_a_name() -> None:
    with pytest.raises(AuditError, match="actor source"):
        Actor(name="jane", source="typed")
    with pytest.raises(AuditError, match="no name"):
        Actor(name=" ", source="local")


def test_moto_sts_caller_identity_is_the_actor() -> None:
    with mock_aws():
        actor = caller_actor(boto3.client("sts", region_name=REGION))
    assert actor.source == "iam" and actor.arn.startswith("arn:aws:") and actor.account
    assert actor == actor_from_arn(actor.arn) and actor.name.startswith(("user/", "assumed-role/", "root"))


def test_with_a_stack_the_actor_is_the_iam_identity_and_a_differing_actor_flag_is_refused(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from accesswatch_tools.cli.context import CliError, acting_actor
    from accesswatch_tools.operate import audit as operate_audit
    from accesswatch_tools.operate.deployment import AwsStack

    class FakeStack(AwsStack):
        def __init__(self) -> None:  # no CloudFormation: only STS is asked
            self.stack_name = "aw-prod"
            self.session = boto3.session.Session(region_name=REGION)

    with mock_aws():
        stack = FakeStack()
        expected = caller_actor(stack.client("sts")).name
        assert operate_audit.authenticated_actor(stack).name == expected
        assert operate_audit.target_of(stack) == "stack aw-prod"
        monkeypatch.setenv("ACCESSWATCH_ACTOR", "someone.else")
        assert acting_actor(stack, argparse.Namespace(actor=None)) == expected
        assert "$ACCESSWATCH_ACTOR is ignored: actions are recorded as your IAM identity" in capsys.readouterr().err
        assert acting_actor(stack, argparse.Namespace(actor=expected)) == expected
        with pytest.raises(CliError, match=r"--actor 'investigator1' is not who is acting: actions are recorded as "
                                           r"your IAM identity"):
            acting_actor(stack, argparse.Namespace(actor="investigator1"))


def test_locally_the_actor_is_the_os_user_of_the_process_not_an_environment_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import pwd

    from accesswatch_tools.cli.context import CliError, acting_actor
    from accesswatch_tools.operate.audit import authenticated_actor, local_actor

    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert local_actor() == Actor(name=me, source="local")
    local = object()  # any deployment that is not an AwsStack: the local endpoint, an in-process runtime
    assert authenticated_actor(local) == Actor(name=me, source="local")  # type: ignore[arg-type]
    with pytest.raises(CliError, match="your local OS user .no authentication locally."):
        acting_actor(local, argparse.Namespace(actor="mallory"))  # type: ignore[arg-type]


def test_a_user_without_a_passwd_entry_is_named_by_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import pwd

    from accesswatch_tools.operate.audit import local_actor

    def missing(uid: int) -> Any:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", missing)
    assert local_actor().name == f"uid-{os.geteuid()}"


# ----------------------------------------------------------------------------------- the store
@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name=REGION)
        for name in ("audit", "cases"):
            resource.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                             {"AttributeName": "sk", "KeyType": "RANGE"}],
                                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                        {"AttributeName": "sk", "AttributeType": "S"}])
        yield resource


def test_records_are_added_once_and_read_back_by_nz_day_with_filters(dynamodb: Any) -> None:
    store = AuditStore("audit", dynamodb)
    other = Actor(name="assumed-role/Investigator/ann", source="iam",
                  arn="arn:aws:sts::1:assumed-role/Investigator/ann", account="1")
    made = [
        new_record(actor=ME, action="footprint", subject={"client_id": "010693250"}, result={"accesses": 3},
                   reason="OIA-1", now=datetime(2025, 4, 1, 12, 0, tzinfo=UTC)),   # NZ 2 April
        new_record(actor=other, action="case_show", subject={"case_id": "CASE-1"}, result={"findings_shown": 2},
                   reason="", now=datetime(2025, 4, 1, 10, 0, tzinfo=UTC)),   # NZ 1 April 23:00
        new_record(actor=ME, action="case_show", subject={"case_id": "CASE-2"}, result={"findings_shown": 1},
                   reason="", now=datetime(2025, 4, 2, 0, 0, tzinfo=UTC)),    # NZ 2 April
    ]
    for record in made:
        store.add(record)
    with pytest.raises(AuditWriteError, match="ConditionalCheckFailed"):
        store.add({**made[0], "reason": "rewritten"})
    days = list(store.between(date(2025, 4, 1), date(2025, 4, 2)))
    assert [r["audit_id"] for r in days] == [made[1]["audit_id"], made[0]["audit_id"], made[2]["audit_id"]]
    assert days[1]["reason"] == "OIA-1" and days[1]["result"] == {"accesses": 3}, "the first write stands"
    assert [r["audit_id"] for r in store.between(date(2025, 4, 2), date(2025, 4, 2), actor="jane",
                                                 action="case_show")] == [made[2]["audit_id"]]
    assert [r["actor_arn"] for r in store.between(date(2025, 4, 1), date(2025, 4, 3), actor=other.name)] == [other.arn]
    assert list(store.between(date(2025, 4, 3), date(2025, 4, 2))) == []


def test_a_read_is_refused_when_its_record_cannot_be_written(dynamodb: Any) -> None:
    from accesswatch_tools.operate.audit import audit_records, record_read
    from accesswatch_tools.operate.deployment import OperationError

    class Dep:
        template: dict[str, Any] = {}

        def __init__(self, physical: dict[str, str]) -> None:
            self.physical = physical

        def resource(self, service: str) -> Any:
            return dynamodb

        def resource_name(self, logical_id: str) -> str:
            return self.physical[logical_id]

    written = record_read(Dep({"AuditTable": "audit"}), ME, "case_list", subject={"status": "open"},  # type: ignore[arg-type]
                          result={"cases": 4}, reason="weekly review")
    assert written["target"] == "local"
    today = date.fromisoformat(written["nz_date"])
    assert [r["audit_id"] for r in audit_records(Dep({"AuditTable": "audit"}), today, today)] == [  # type: ignore[arg-type]
        written["audit_id"]]
    with pytest.raises(OperationError, match="not shown: the audit record of this read could not be written "
                                             r"\(ResourceNotFoundException"):
        record_read(Dep({"AuditTable": "gone"}), ME, "case_list", subject={}, result={}, reason="")  # type: ignore[arg-type]
    with pytest.raises(OperationError, match="this deployment has no AuditTable .it predates audit records."):
        record_read(Dep({}), ME, "case_list", subject={}, result={}, reason="")  # type: ignore[arg-type]
    with pytest.raises(OperationError, match="more than 366 days"):
        audit_records(Dep({"AuditTable": "audit"}), date(2024, 1, 1), date(2025, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(OperationError, match="before --from"):
        audit_records(Dep({"AuditTable": "audit"}), date(2025, 1, 2), date(2025, 1, 1))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------- case history
def test_case_history_entries_are_only_ever_added(dynamodb: Any) -> None:
    """Every write of a history entry (``HIST#``) is a conditional put: a retried or forged entry with the key of
    one already written changes nothing; the cases DAL deletes only user pointers and part chunks."""
    cases = CaseStore("cases", dynamodb)
    case = {"case_id": "CASE-1", "opened_at": "2025-04-01T00:00:00.000Z", "finding_ids": ["f1"], "rules": [],
            "client_ids": []}
    cases.record_opened(case)
    cases.record_opened({**case, "finding_ids": ["forged"]})
    entries = cases.history("CASE-1")
    assert len(entries) == 1 and entries[0]["finding_ids"] == ["f1"]
    source = (Path(__file__).resolve().parents[3] / "layers/shared/accesswatch/dal/cases.py").read_text()
    history_puts = re.findall(r"put_item\(Item=(?:entry|self\.history_item)[^\n]*\n?[^\n]*", source)
    history_puts += re.findall(r'\{"Put": \{[^\n]*"Item": entry[^\n]*\n[^\n]*', source)
    assert len(history_puts) >= 4, history_puts  # append_history, record_opened, transition, flush_history
    for put in history_puts:
        assert "attribute_not_exists(pk)" in put, put
    for delete in re.findall(r"delete_item\(Key=[^)]*\)", source):
        assert "HIST" not in delete and ("user_key" in delete or "chunk" in delete), delete


def test_audit_list_describes_ids_briefly_and_counts_whole() -> None:
    from accesswatch_tools.cli.commands.audit import describe

    assert describe({"case_ids": ["C1", "C2", "C3", "C4"], "case_ids_total": 1500, "status": "open"}) == \
        "case_ids C1,C2,C3,+1497 status open"
    assert describe({"findings_shown": 20, "findings_total": 31}) == "findings_shown 20 findings_total 31"
    assert describe({"client_id": "010693250", "with_staff_names": False}) == "client_id 010693250"
    assert describe({"with_staff_names": True, "case_ids": []}) == "with_staff_names case_ids -"
    assert describe({}) == "-"


def test_the_audit_table_is_kept_and_no_function_can_touch_it() -> None:
    """Audit records are written for people's reads: by the CLI with the reader's own credentials, or by the
    console function for the pages it shows, which may only add records (PutItem on the table itself): no
    function can read, change or delete one, so no deployed code can alter what people read."""
    from accesswatch_tools.embedded.template import load_template, resources_of_type

    template = load_template()
    table = template["Resources"]["AuditTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert props["DeletionProtectionEnabled"] is True and "TimeToLiveSpecification" not in props
    assert template["Outputs"]["AuditTableName"]["Value"] == {"Ref": "AuditTable"}
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        if name == "ConsoleFunction":
            grants = [st for policy in function["Properties"]["Policies"] for st in policy.get("Statement", [])
                      if "AuditTable" in repr(st)]
            assert grants and all(st["Action"] in ("dynamodb:PutItem", ["dynamodb:PutItem"]) for st in grants), grants
            continue
        assert "AuditTable" not in repr(function), name
    assert "AuditTable" not in repr(template.get("Globals", {}))
