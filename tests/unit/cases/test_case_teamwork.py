"""Cases from every source and working a case (issue 17, items 1 and 4): the request checks
(``accesswatch.cases.sources``), and assign / note / amend / reopen (``accesswatch.cases.teamwork``) as
append-only history with the conditional writes of ``CaseStore``, on a moto table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from accesswatch.cases.actions import CaseActionError
from accesswatch.cases.sources import SourceError, SourceRequest
from accesswatch.cases.teamwork import DECISION_FIELDS, CaseTeamwork, case_of_execution, reopen_execution_name
from accesswatch.cases.vocabulary import CaseVocabulary
from accesswatch.cases.workflow import CaseWorkflow
from accesswatch.dal.cases import CaseStore

VOCAB = CaseVocabulary()


def request(**fields: Any) -> SourceRequest:
    base: dict[str, Any] = {"user_id": "u1", "source": "complaint", "note": "complaint PC-1", "actor": "inv.a"}
    return SourceRequest(**{**base, **fields})


def test_a_request_is_checked_and_identified_by_its_content() -> None:
    with pytest.raises(SourceError, match=r"^unknown source 'rumour'; one of complaint, manager_concern, "
                                          r"privacy_request$"):
        request(source="rumour")
    with pytest.raises(SourceError, match="--note is required"):
        request(note="  ")
    with pytest.raises(SourceError, match="is not an id"):
        request(user_id="Jane Smith")
    with pytest.raises(SourceError, match="is not an id"):
        request(client_ids=("0012 345",))
    with pytest.raises(SourceError, match="--from 2025-04-03 is after --to 2025-04-01"):
        request(period_from=date(2025, 4, 3), period_to=date(2025, 4, 1))
    one = request(client_ids=("c2", "c1", "c2"))
    assert one.client_ids == ("c1", "c2")
    assert one.request_id == request(client_ids=("c1", "c2")).request_id, "the same report is the same request"
    assert one.request_id != request(client_ids=("c1",)).request_id
    assert one.request_id != request(client_ids=("c1", "c2"), source="privacy_request").request_id
    assert one.case_id == request(client_ids=("c1", "c2")).case_id and one.case_id.startswith("CASE-")
    opening = one.opening()
    assert (opening["source"], opening["trigger"], opening["opened_by"], opening["sources"]) == (
        "complaint", "complaint", "inv.a", ["complaint"])
    assert opening["source_requests"] == {one.request_id}
    entry = one.join_entry(2)
    assert (entry["state"], entry["actor"], entry["source"], entry["request_id"]) == (
        "joined", "inv.a", "complaint", one.request_id)
    assert "2 finding(s) carried" in entry["note"] and "c1, c2" in entry["note"]


class FakeExecutions:
    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.failed: set[str] = set()

    def start(self, arn: str, name: str, payload: dict[str, Any]) -> str:
        if all(n != name for n, _ in self.started):
            self.started.append((name, payload))
        return f"{arn}:{name}"

    def status(self, arn: str) -> str:
        name = arn.rsplit(":", 1)[1]
        if name in self.failed:
            return "FAILED"
        return "RUNNING" if any(n == name for n, _ in self.started) else "missing"


@pytest.fixture
def store() -> Iterator[CaseStore]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="ap-southeast-2")
        dynamodb.create_table(TableName="cases", BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "S"}])
        yield CaseStore("cases", dynamodb)


def put_case(store: CaseStore, case_id: str, status: str, **fields: Any) -> None:
    store.table.put_item(Item={**store.case_key(case_id), "case_id": case_id, "user_id": "u1", "status": status,
                               "opened_at": "2025-04-01T00:00:00.000Z", "parts": [], **fields})


def got(store: CaseStore, case_id: str) -> dict[str, Any]:
    case = store.get(case_id)
    assert case is not None
    return case


def pointer(store: CaseStore, user_id: str) -> dict[str, Any]:
    found = store.open_pointer(user_id)
    assert found is not None
    return found


def states(store: CaseStore, case_id: str) -> list[str]:
    return [str(h["state"]) for h in store.history(case_id)]


def test_assign_and_note_are_history_entries(store: CaseStore) -> None:
    put_case(store, "CASE-1", "investigating")
    team = CaseTeamwork(store)
    case = team.assign("CASE-1", assignee="inv.b", actor="inv.a")
    assert (case["assignee"], case["assigned_by"]) == ("inv.b", "inv.a")
    with pytest.raises(CaseActionError, match="already assigned to inv.b"):
        team.assign("CASE-1", assignee="inv.b", actor="inv.a")
    with pytest.raises(CaseActionError, match="not a login"):
        team.assign("CASE-1", assignee="Jane Smith", actor="inv.a")
    team.assign("CASE-1", assignee="inv.c", actor="inv.a")
    team.note("CASE-1", text="called the client", actor="inv.c")
    with pytest.raises(CaseActionError, match="--note is required"):
        team.note("CASE-1", text=" ", actor="inv.c")
    with pytest.raises(CaseActionError, match="no case CASE-9"):
        team.note("CASE-9", text="x", actor="inv.c")
    history = store.history("CASE-1")
    assert [h["state"] for h in history] == ["assigned", "assigned", "note"]
    assert history[1]["previous_assignee"] == "inv.b" and history[2]["actor"] == "inv.c"
    assert got(store, "CASE-1")["status"] == "investigating", "neither moves the case"


def test_amend_changes_only_what_the_person_saw_and_keeps_the_old_value(store: CaseStore) -> None:
    put_case(store, "CASE-1", "closed_founded", decision="founded", er_type="privacy_breach", outcome="dismissal")
    team = CaseTeamwork(store)
    case = team.amend("CASE-1", actor="inv.a", reason="appeal", vocabulary=VOCAB, outcome="final_written_warning")
    assert (case["outcome"], case["amendments"], case["amended_by"]) == ("final_written_warning", 1, "inv.a")
    entry = store.history("CASE-1")[-1]
    assert (entry["state"], entry["field"], entry["from"], entry["to"], entry["note"]) == (
        "amended", "outcome", "dismissal", "final_written_warning", "appeal")
    # A concurrent amendment made from a stale read changes nothing (the case no longer records what it saw).
    assert not store.transition("CASE-1", expected={"closed_founded"}, attrs={"outcome": "written_warning"},
                                equals={"outcome": "dismissal"}, history={"state": "amended", "actor": "x"})
    with pytest.raises(CaseActionError, match="already records outcome final_written_warning"):
        team.amend("CASE-1", actor="inv.a", reason="r", vocabulary=VOCAB, outcome="final_written_warning")
    with pytest.raises(CaseActionError, match="unknown outcome 'sacked'"):
        team.amend("CASE-1", actor="inv.a", reason="r", vocabulary=VOCAB, outcome="sacked")
    with pytest.raises(CaseActionError, match="reopen it"):
        team.amend("CASE-1", actor="inv.a", reason="r", vocabulary=VOCAB, decision="unfounded")
    with pytest.raises(CaseActionError, match="only when it is closed_unfounded"):
        team.amend("CASE-1", actor="inv.a", reason="r", vocabulary=VOCAB, unfounded_reason="duplicate")
    with pytest.raises(CaseActionError, match="changes whether the case goes to the Police"):
        team.amend("CASE-1", actor="inv.a", reason="r", vocabulary=VOCAB, er_type="fraud_or_dishonesty")
    assert team.amend("CASE-1", actor="inv.a", reason="r", vocabulary=VOCAB,
                      er_type="inappropriate_access")["er_type"] == "inappropriate_access"
    with pytest.raises(CaseActionError, match="one thing at a time"):
        team.amend("CASE-1", actor="inv.a", reason="r", vocabulary=VOCAB)
    with pytest.raises(CaseActionError, match="--reason is required"):
        team.amend("CASE-1", actor="inv.a", reason="", vocabulary=VOCAB, outcome="dismissal")
    put_case(store, "CASE-2", "closed_unfounded", decision="unfounded", decision_reason="legitimate_work",
             rule_decisions={"SELF_RECORD": {"decision": "unfounded", "reason": "legitimate_work"}})
    case = team.amend("CASE-2", actor="inv.a", reason="dup", vocabulary=VOCAB, unfounded_reason="duplicate")
    assert case["decision_reason"] == "duplicate"
    assert case["rule_decisions"] == {"SELF_RECORD": {"decision": "unfounded", "reason": "duplicate"}}


def test_reopen_waits_for_a_decision_again_through_a_new_execution(store: CaseStore) -> None:
    put_case(store, "CASE-1", "closed_unfounded", decision="unfounded", decision_reason="legitimate_work",
             decided_by="inv.a", closed_at="2025-04-02T00:00:00.000Z", police_referral=False,
             rule_decisions={"SELF_RECORD": {"decision": "unfounded", "reason": "legitimate_work"}})
    store.count_rule_decisions("CASE-1", {"SELF_RECORD": "unfounded"})
    assert store.rule_stats()["SELF_RECORD"] == (0, 1)
    runs = FakeExecutions()
    team = CaseTeamwork(store, runs, "arn:aws:states:ap-southeast-2:123456789012:stateMachine:case")  # type: ignore[arg-type]
    with pytest.raises(CaseActionError, match="--reason is required"):
        team.reopen("CASE-1", actor="inv.b", reason="")
    case = team.reopen("CASE-1", actor="inv.b", reason="new evidence")
    assert case["status"] == "reopened" and case["reopens"] == 1 and case["reopened_by"] == "inv.b"
    assert not any(k in case for k in DECISION_FIELDS), "the decision is history now"
    entry = store.history("CASE-1")[-1]
    assert (entry["state"], entry["previous_status"], entry["decision"], entry["note"]) == (
        "reopened", "closed_unfounded", "unfounded", "new evidence")
    assert store.rule_stats()["SELF_RECORD"] == (0, 0), "its verdicts left the precision counts"
    assert pointer(store, "u1")["case_id"] == "CASE-1", "the user's one open case"
    assert runs.started == [(reopen_execution_name("CASE-1", 1), {"case_id": "CASE-1", "resume_at": "AwaitDecision"})]
    assert case["execution_arn"].endswith(":CASE-1-reopen-1")
    # Again (a retry): nothing new but the execution, started once by name.
    team.reopen("CASE-1", actor="inv.b", reason="new evidence")
    assert states(store, "CASE-1").count("reopened") == 1 and len(runs.started) == 1
    # Its run failed (a step past its retries): reopening again starts the round's next redrive.
    runs.failed.add("CASE-1-reopen-1")
    assert team.reopen("CASE-1", actor="inv.b", reason="again")["execution_arn"].endswith(":CASE-1-reopen-1-redrive-1")
    assert [n for n, _ in runs.started] == ["CASE-1-reopen-1", "CASE-1-reopen-1-redrive-1"]
    # The new execution's AwaitDecision moves it to investigating, with its history entry.
    CaseWorkflow(store, VOCAB).run("await_decision", "CASE-1", {"task_token": "tok2", "deadline_seconds": 60})
    case = got(store, "CASE-1")
    assert case["status"] == "investigating" and case["task_token"] == "tok2" and case.get("decision_due_at")
    assert states(store, "CASE-1")[-2:] == ["reopened", "investigating"]
    with pytest.raises(CaseActionError, match="only a closed case can be reopened"):
        team.reopen("CASE-1", actor="inv.b", reason="again")


def test_reopen_is_refused_while_the_user_has_another_open_case(store: CaseStore) -> None:
    put_case(store, "CASE-1", "closed_founded", decision="founded", closed_at="2025-04-02T00:00:00.000Z")
    put_case(store, "CASE-2", "investigating")
    store.claim_user("u1", "CASE-2", "immediate")
    team = CaseTeamwork(store, FakeExecutions(), "arn:sm")  # type: ignore[arg-type]
    with pytest.raises(CaseActionError, match="user u1 has open case CASE-2: one open case per user"):
        team.reopen("CASE-1", actor="inv.b", reason="x")
    assert got(store, "CASE-1")["status"] == "closed_founded" and pointer(store, "u1")["case_id"] == "CASE-2"
    # A pointer left by a case since decided does not block.
    store.table.update_item(Key=store.case_key("CASE-2"), UpdateExpression="SET #s = :s",
                            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": "er_case"})
    assert team.reopen("CASE-1", actor="inv.b", reason="x")["status"] == "reopened"


def test_a_source_joins_an_open_case_once(store: CaseStore) -> None:
    put_case(store, "CASE-1", "investigating")
    one = request()
    assert store.join_source("CASE-1", request_id=one.request_id, source=one.source, entry=one.join_entry(0))
    assert not store.join_source("CASE-1", request_id=one.request_id, source=one.source, entry=one.join_entry(0))
    other = request(source="manager_concern", note="TL concern")
    assert store.join_source("CASE-1", request_id=other.request_id, source=other.source, entry=other.join_entry(0))
    case = got(store, "CASE-1")
    assert case["sources"] == ["complaint", "manager_concern"]
    assert set(case["source_requests"]) == {one.request_id, other.request_id}
    assert states(store, "CASE-1") == ["joined", "joined"]
    put_case(store, "CASE-2", "closed_unfounded")
    assert not store.join_source("CASE-2", request_id=one.request_id, source=one.source, entry=one.join_entry(0)), (
        "a decided case takes nothing more")


def test_every_case_execution_name_names_its_case() -> None:
    for name in ("CASE-1", "CASE-1-redrive-2", "CASE-1-reopen-1", "CASE-1-reopen-3-redrive-1"):
        assert case_of_execution(name) == "CASE-1"


def test_of_two_people_reopening_at_once_one_reopens_and_the_other_is_told(store: CaseStore,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    put_case(store, "CASE-1", "closed_unfounded", decision="unfounded", closed_at="2025-04-02T00:00:00.000Z")
    team = CaseTeamwork(store, FakeExecutions(), "arn:sm")  # type: ignore[arg-type]
    original = store.transition
    raced: list[str] = []

    def racing(case_id: str, **kwargs: Any) -> bool:
        if kwargs.get("status") == "reopened" and not raced:  # the other person's reopen lands first
            raced.append(case_id)
            assert original(case_id, **{**kwargs, "attrs": {**kwargs["attrs"], "reopened_by": "inv.c"},
                                        "history": {**kwargs["history"], "actor": "inv.c"}})
        return original(case_id, **kwargs)

    monkeypatch.setattr(store, "transition", racing)
    with pytest.raises(CaseActionError, match="case CASE-1 was reopened by inv.c at .*; it is reopened"):
        team.reopen("CASE-1", actor="inv.b", reason="x")
    assert pointer(store, "u1")["case_id"] == "CASE-1", "the winner keeps the user's open case"
    assert [h["actor"] for h in store.history("CASE-1") if h["state"] == "reopened"] == ["inv.c"]
