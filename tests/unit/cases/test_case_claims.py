"""Claims on a waiting case step (compare-and-set of people's actions): the pure rules in
``accesswatch.cases.actions`` and the conditional writes of ``CaseStore`` on a moto table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accesswatch.cases.actions import (
    CaseActionError,
    claim_problem,
    decision_output,
    done_message,
    iso,
    live_claim,
    new_claim,
    outcome_output,
    token_ref,
)
from accesswatch.cases.vocabulary import CaseVocabulary
from accesswatch.dal.cases import CaseStore

VOCAB = CaseVocabulary()
T0 = datetime(2025, 4, 1, 0, 0, tzinfo=UTC)
DECISION = {"decision": "unfounded", "er_type": "", "note": "n", "actor": "inv.a", "reason": "duplicate",
            "rule_decisions": {"SELF_RECORD": {"decision": "unfounded", "reason": "duplicate"}}}


def waiting_case(**extra: Any) -> dict[str, Any]:
    return {"case_id": "CASE-1", "status": "investigating", "task_token": "tok", "rules": ["SELF_RECORD"], **extra}


def test_a_claim_names_its_token_actor_time_and_action() -> None:
    claim = new_claim("decision", "tok", {**DECISION, "claim_id": "ignored"}, now=T0, ttl_s=120)
    assert claim["token_ref"] == token_ref("tok") != token_ref("tok2")
    assert (claim["kind"], claim["actor"], claim["at"], claim["expires_at"]) == (
        "decision", "inv.a", "2025-04-01T00:00:00.000Z", "2025-04-01T00:02:00.000Z")
    assert claim["action"] == DECISION
    assert new_claim("decision", "tok", DECISION)["claim_id"] != claim["claim_id"]


def test_which_claims_block() -> None:
    claim = new_claim("decision", "tok", DECISION, now=T0, ttl_s=120)
    before, after = iso(T0 + timedelta(seconds=60)), iso(T0 + timedelta(seconds=121))
    assert live_claim(waiting_case(claim=claim), now=before) == claim
    assert live_claim(waiting_case(claim=claim), now=after) is None, "never sent: lapses"
    sent = {**claim, "sent_at": iso(T0)}
    assert live_claim(waiting_case(claim=sent), now=after) == sent, "sent: only a new token ends it"
    assert live_claim(waiting_case(claim=sent, task_token="tok2"), now=before) is None, "made for another token"
    assert live_claim(waiting_case(claim=sent, task_token=""), now=before) is None
    assert live_claim(waiting_case(), now=before) is None


def test_the_checks_say_who_holds_or_decided_the_case() -> None:
    claim = new_claim("decision", "tok", DECISION, now=datetime.now(UTC))
    with pytest.raises(CaseActionError, match=r"^case CASE-1 already being decided by inv\.a \(claimed at .* NZ[DS]T\): "
                                              r"unfounded \(duplicate\); if that attempt failed, its claim lapses"):
        decision_output(waiting_case(claim=claim), decision="founded", er_type="privacy_breach", note="",
                        actor="inv.b", vocabulary=VOCAB)
    with pytest.raises(CaseActionError, match=r"already being decided by inv\.a .*: unfounded \(duplicate\)$"):
        decision_output(waiting_case(claim={**claim, "sent_at": iso(T0)}), decision="founded",
                        er_type="privacy_breach", note="", actor="inv.b", vocabulary=VOCAB)
    decided = waiting_case(status="awaiting_outcome", task_token="t2", decided_by="inv.a", decided_at="T",
                           decision="founded", er_type="privacy_breach")
    assert done_message(decided, "decision") == "case CASE-1 already decided by inv.a at T: founded (privacy_breach)"
    with pytest.raises(CaseActionError, match=r"^case CASE-1 already decided by inv\.a at T: founded "
                                              r"\(privacy_breach\); it is awaiting_outcome, not waiting for a decision"):
        decision_output(decided, decision="founded", er_type="privacy_breach", note="", actor="inv.b",
                        vocabulary=VOCAB)
    closed = {**decided, "status": "closed_founded", "outcome": "dismissal", "outcome_by": "er", "outcome_at": "U"}
    with pytest.raises(CaseActionError, match=r"^case CASE-1 outcome already decided by er at U: dismissal; it is "
                                              r"closed_founded, not waiting for an ER outcome"):
        outcome_output(closed, outcome="dismissal", note="", actor="er.b", vocabulary=VOCAB)


def test_the_record_step_takes_exactly_the_claimed_action() -> None:
    claim = new_claim("decision", "tok", DECISION)
    case = waiting_case(claim=claim)
    sent = {**DECISION, "claim_id": claim["claim_id"]}
    assert claim_problem(case, sent, "decision") is None
    assert "sent without a claim" in str(claim_problem(case, DECISION, "decision"))
    assert "is not the claimed one (the case is claimed by inv.a" in str(
        claim_problem(case, {**sent, "claim_id": "other"}, "decision"))
    assert "the case holds no claim" in str(claim_problem(waiting_case(), sent, "decision"))
    assert "differs from the one claimed (note, actor)" in str(
        claim_problem(case, {**sent, "note": "x", "actor": "inv.b"}, "decision"))
    assert "claimed for another step" in str(claim_problem(waiting_case(claim=claim, task_token="tok2"), sent,
                                                           "decision"))
    assert "claimed for another step" in str(claim_problem(case, sent, "outcome"))
    outcome = {"outcome": "dismissal", "note": "", "actor": "er"}
    oclaim = new_claim("outcome", "tok", outcome)
    assert claim_problem(waiting_case(claim=oclaim), {**outcome, "claim_id": oclaim["claim_id"]}, "outcome") is None


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
        cases = CaseStore("cases", dynamodb)
        cases.table.put_item(Item={**cases.case_key("CASE-1"), "case_id": "CASE-1", "status": "investigating",
                                   "task_token": "tok", "user_id": "u1"})
        yield cases


def test_one_claim_at_a_time_until_sent_recorded_released_or_lapsed(store: CaseStore) -> None:
    def claim(actor: str, at: datetime, token: str = "tok") -> dict[str, Any]:
        return new_claim("decision", token, {**DECISION, "actor": actor}, now=at, ttl_s=120)

    def take(c: dict[str, Any], at: datetime, token: str = "tok", waiting: str = "investigating") -> bool:
        return store.claim_action("CASE-1", waiting=waiting, token=token, claim=c, now=iso(at))

    first = claim("inv.a", T0)
    assert take(first, T0)
    assert not take(claim("inv.b", T0), T0), "held"
    assert not take(claim("inv.a", T0), T0), "held, also against its own actor"
    assert not take(claim("inv.b", T0), T0, token="stale"), "not the token the case holds"
    assert not take(claim("inv.b", T0), T0, waiting="awaiting_outcome"), "not the step the case waits on"
    late = T0 + timedelta(seconds=121)
    assert store.mark_claim_sent("CASE-1", first["claim_id"], iso(T0))
    assert not take(claim("inv.b", late), late), "sent: does not lapse"
    assert not store.release_claim("CASE-1", "someone-else's"), "only its own claim"
    assert store.release_claim("CASE-1", first["claim_id"])
    second = claim("inv.b", T0)
    assert take(second, T0), "released: free at once"
    assert take(claim("inv.c", late), late), "never sent, lapsed: taken over"
    assert not store.mark_claim_sent("CASE-1", second["claim_id"], iso(late)), "a lapsed claim is not revived"
    assert (store.get("CASE-1") or {})["claim"]["actor"] == "inv.c"
    store.update("CASE-1", task_token="tok2")  # a new token (escalation, rejection): the old claim is inert
    assert take(claim("inv.d", T0, token="tok2"), T0, token="tok2")


def test_a_transition_under_a_claim_needs_that_claim_and_removes_it(store: CaseStore) -> None:
    mine = new_claim("decision", "tok", DECISION, now=T0)
    assert store.claim_action("CASE-1", waiting="investigating", token="tok", claim=mine, now=iso(T0))
    history = {"state": "decided", "actor": "inv.a", "note": "n", "claim_id": mine["claim_id"]}
    assert not store.transition("CASE-1", expected={"investigating"}, status="decided", history=history,
                                claim_id="other", remove=("claim",))
    assert store.transition("CASE-1", expected={"investigating"}, status="decided", history=history,
                            attrs={"decision_claim_id": mine["claim_id"]}, claim_id=mine["claim_id"],
                            remove=("claim",))
    case = store.get("CASE-1") or {}
    assert case["status"] == "decided" and "claim" not in case and case["decision_claim_id"] == mine["claim_id"]
    assert [h["claim_id"] for h in store.history("CASE-1")] == [mine["claim_id"]]
