"""Two people acting on one case at once (issue 18, item 2): case actions are compare-and-set.

Each action claims the waiting step with a conditional write before the task token is sent
(``CaseStore.claim_action``); the record step records only the claimed action. Driven on the embedded
runtime with the real ASL and the service the CLI uses:

- racing decisions (founded against unfounded, and two identical ones by different people) and racing
  outcomes: exactly one wins; the other is told who decided, and when, and nothing of theirs is recorded;
  the history has exactly one decision (outcome) with the winner's actor and note, and the case goes
  where the winner's decision leads;
- a claim left by a CLI that died between claim and send blocks others only until it lapses;
- a CLI that died after sending: its decision is recorded, and a retry is told it is decided;
- a claim that lapsed while its CLI stalled: the stalled send finds the token used (on AWS a second
  SendTaskSuccess fails: TaskTimedOut; moto accepts it silently) and is told who decided;
- an output that is not the claimed action is refused by the workflow and recorded as rejected.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.cases import WAIT_S, wait_for, waiting

from accesswatch.cases.actions import WAITING_FOR, CaseActionError, new_claim
from accesswatch.cases.scoring import ScoringSettings
from accesswatch.dal.cases import CaseStore, CaseTasks
from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import now_iso
from accesswatch.quarters import nz_time
from accesswatch.rules import RULES_BY_ID
from accesswatch.services.routing import case_router
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate.cases import case_service

pytestmark = pytest.mark.e2e



@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as runtime:
        yield runtime


@pytest.fixture(scope="module")
def store(aws: EmbeddedAws) -> CaseStore:
    return CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))


@pytest.fixture(scope="module")
def service(aws: EmbeddedAws) -> Any:
    return case_service(aws)


def open_case(aws: Any, user_id: str, rule: str = "SELF_RECORD") -> str:
    """One immediate-tier finding of the user, routed as detection routes it: a new case."""
    findings = FindingStore(aws.resource_name("FindingsTable"), aws.resource("dynamodb"))
    at = datetime(2025, 3, 3, 22, 0, tzinfo=UTC)
    item = {
        "finding_id": f"{user_id}-c1-{rule}", "system": "cms", "event_id": f"e-{user_id}", "rule": rule,
        "severity": "high", "rule_status": "live", "user_id": user_id, "tier": RULES_BY_ID[rule].tier(),
        "modifiers": "", "client_id": "c1", "occurred_at": at.isoformat(), "occurred_at_utc": at.isoformat(),
        "nz_date": "2025-03-04", "quarter": "2025-03-31", "rule_quarter": f"{rule}#2025-03-31",
        "explanation": f"{rule} fired (test)", "evidence": json.dumps({"test": True}),
        "snapshot_id": "test-snapshot", "partition_key": "events/test.parquet",
    }
    stored = [findings.put_if_new(item)[1]]
    cases = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    case_router(cases=cases, findings=findings, executions=Executions(aws.client("stepfunctions")),
                case_state_machine_arn=aws.resource_name("CaseStateMachine"), scoring=ScoringSettings()).route(stored)
    case_id = (findings.get(item["finding_id"]) or {}).get("case_id")
    assert case_id
    return str(case_id)


def settled(store: CaseStore, case_id: str) -> dict[str, Any]:
    """The case resting: closed, or waiting on a person, with its history written."""
    return wait_for(store, case_id, lambda c: (str(c.get("status", "")).startswith("closed") or waiting(
        "awaiting_outcome")(c) or waiting("investigating")(c)) and not c.get("pending_history"))


class BarrierStore(CaseStore):
    """A case store whose claims wait until both racers have read the case and built their action, so that
    the compare-and-set itself decides the race (not one racer reading after the other won)."""

    def __init__(self, base: CaseStore, barrier: threading.Barrier) -> None:
        super().__init__(base.table_name, base.resource)
        self.barrier = barrier

    def claim_action(self, *args: Any, **kwargs: Any) -> bool:
        self.barrier.wait(timeout=60)
        return super().claim_action(*args, **kwargs)


class CountingTasks(CaseTasks):
    """Sends as the CLI does, and notes each send."""

    def __init__(self, base: CaseTasks, sent: list[str]) -> None:
        super().__init__(base.sfn)
        self.sent = sent

    def complete(self, token: str, output: Any) -> None:
        self.sent.append(str(output.get("actor")))
        super().complete(token, output)


def race(service: Any, store: CaseStore, *actions: Callable[[Any], dict[str, Any]]) -> list[Any]:
    """Run the actions at once, each through its own service; each result is the case or the error raised.
    Exactly one of them sends its task token: the loser of the compare-and-set sends nothing."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)
    sent: list[str] = []

    def run(i: int, action: Callable[[Any], dict[str, Any]]) -> None:
        mine = replace(service, cases=BarrierStore(store, barrier), tasks=CountingTasks(service.tasks, sent))
        try:
            results[i] = action(mine)
        except CaseActionError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WAIT_S)
    assert len(sent) == 1, f"sent by {sent}: both claims succeeded"
    return results


def one_winner(results: list[Any]) -> tuple[int, CaseActionError]:
    won = [i for i, r in enumerate(results) if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, CaseActionError)]
    assert len(won) == 1 and len(lost) == len(results) - 1, results
    return won[0], lost[0]


def entries(store: CaseStore, case_id: str, state: str) -> list[dict[str, Any]]:
    return [h for h in store.history(case_id) if h["state"] == state]


def test_racing_founded_and_unfounded_decisions_one_wins_and_the_other_is_told(
        aws: EmbeddedAws, store: CaseStore, service: Any) -> None:
    for n in range(2):  # twice, so that each kind of decision has a chance to win
        case_id = open_case(aws, f"u-race-mixed-{n}")
        wait_for(store, case_id, waiting("investigating"))
        results = race(service, store,
                       lambda s, c=case_id: s.decide(c, decision="founded", er_type="fraud_or_dishonesty",
                                                     note="payments screen", actor="inv.founded"),
                       lambda s, c=case_id: s.decide(c, decision="unfounded", er_type=None, note="on the roster",
                                                     actor="inv.unfounded", reason="legitimate_work"))
        winner, lost = one_winner(results)
        actor, note, decision = [("inv.founded", "payments screen", "founded"),
                                 ("inv.unfounded", "on the roster", "unfounded")][winner]
        case = settled(store, case_id)
        assert str(lost).startswith(f"case {case_id} already ")
        assert f"decided by {actor}" in str(lost), str(lost)
        decided = entries(store, case_id, "decided")
        assert len(decided) == 1
        assert (decided[0]["actor"], decided[0]["note"], decided[0]["decision"]) == (actor, note, decision)
        assert (case["decided_by"], case["decision_note"], case["decision"]) == (actor, note, decision)
        assert decided[0]["claim_id"] == case["decision_claim_id"]
        # What the winner was told is what the case and its history record.
        told = results[winner]
        assert (told["decided_by"], told["decision"], told["decision_claim_id"]) == (actor, decision,
                                                                                   case["decision_claim_id"])
        # The state follows the winner: an ER case awaiting its outcome, or closed.
        assert case["status"] == ("awaiting_outcome" if decision == "founded" else "closed_unfounded")
        assert not entries(store, case_id, "decision_rejected") and "claim" not in case


def test_racing_identical_decisions_keep_the_winners_actor_and_note(aws: EmbeddedAws, store: CaseStore,
                                                                     service: Any) -> None:
    case_id = open_case(aws, "u-race-same")
    wait_for(store, case_id, waiting("investigating"))
    results = race(service, store,
                   *[lambda s, who=who: s.decide(case_id, decision="unfounded", er_type=None, note=f"note of {who}",
                                                 actor=who, reason="duplicate") for who in ("inv.a", "inv.b")])
    winner, lost = one_winner(results)
    who, other = ("inv.a", "inv.b") if winner == 0 else ("inv.b", "inv.a")
    case = settled(store, case_id)
    assert f"already decided by {who} at " in str(lost) or f"already being decided by {who} " in str(lost)
    decided = entries(store, case_id, "decided")
    assert [(h["actor"], h["note"]) for h in decided] == [(who, f"note of {who}")]
    assert (case["status"], case["decided_by"], case["decision_note"]) == ("closed_unfounded", who, f"note of {who}")
    assert all(other not in str(h) for h in store.history(case_id)), "nothing of the loser's is recorded"


def test_racing_outcomes_one_wins_and_the_other_is_told(aws: EmbeddedAws, store: CaseStore, service: Any) -> None:
    case_id = open_case(aws, "u-race-outcome")
    wait_for(store, case_id, waiting("investigating"))
    service.decide(case_id, decision="founded", er_type="fraud_or_dishonesty", note="", actor="inv")
    wait_for(store, case_id, waiting("awaiting_outcome"))
    results = race(service, store,
                   lambda s: s.record_outcome(case_id, outcome="dismissal", note="panel", actor="er.one"),
                   lambda s: s.record_outcome(case_id, outcome="written_warning", note="first offence",
                                              actor="er.two"))
    winner, lost = one_winner(results)
    actor, note, outcome = [("er.one", "panel", "dismissal"), ("er.two", "first offence", "written_warning")][winner]
    case = wait_for(store, case_id, lambda c: c.get("status") == "closed_founded" and not c.get("pending_history"))
    assert f"outcome already decided by {actor} at " in str(lost) or f"already being decided by {actor} " in str(lost)
    recorded = entries(store, case_id, "outcome_recorded")
    assert [(h["actor"], h["note"], h["outcome"]) for h in recorded] == [(actor, note, outcome)]
    assert recorded[0]["claim_id"] == case["outcome_claim_id"]
    assert (case["outcome_by"], case["outcome_note"], case["outcome"]) == (actor, note, outcome)
    assert results[winner]["outcome"] == outcome
    assert case["police_referral"] is True  # fraud: referred whichever outcome won, once
    assert len(entries(store, case_id, "police_referral")) == 1


class Crash(BaseException):
    """The CLI's process dying (kill -9): nothing after it runs, no claim is released."""


class CrashingTasks(CaseTasks):
    """Completes (or not) the task, then dies."""

    def __init__(self, base: CaseTasks, *, send: bool) -> None:
        super().__init__(base.sfn)
        self.send = send

    def complete(self, token: str, output: Any) -> None:
        if self.send:
            super().complete(token, output)
        raise Crash


@pytest.mark.parametrize("kind", ["decision", "outcome"])
def test_a_claim_left_by_a_crash_before_the_send_lapses(aws: EmbeddedAws, store: CaseStore, service: Any,
                                                        kind: str) -> None:
    case_id = open_case(aws, f"u-crash-before-{kind}")
    wait_for(store, case_id, waiting("investigating"))
    if kind == "outcome":
        service.decide(case_id, decision="founded", er_type="privacy_breach", note="", actor="inv")
        wait_for(store, case_id, waiting("awaiting_outcome"))

    def act(s: Any, actor: str) -> dict[str, Any]:
        if kind == "decision":
            return dict(s.decide(case_id, decision="unfounded", er_type=None, note=actor, actor=actor,
                                 reason="legitimate_work"))
        return dict(s.record_outcome(case_id, outcome="written_warning", note=actor, actor=actor))

    ttl = 5.0  # long enough for the next attempt below to come while the claim is young, on a loaded machine
    dying = replace(service, tasks=CrashingTasks(service.tasks, send=False), claim_ttl_s=ttl)
    with pytest.raises(Crash):
        act(dying, "inv.crashed")
    claim = (store.get(case_id) or {})["claim"]
    assert claim["actor"] == "inv.crashed" and "sent_at" not in claim
    # While the claim is young, others are told who holds the case and when the claim lapses ...
    with pytest.raises(CaseActionError, match=r"already being decided by inv\.crashed \(claimed at .*\).*"
                                              r"if that attempt failed, its claim lapses at .*: try again then"):
        act(service, "inv.other")
    # ... and once it lapsed (nothing was sent: the token is still the one claimed), anyone may act.
    time.sleep(ttl + 0.2)
    case = act(service, "inv.other")
    state = "decided" if kind == "decision" else "outcome_recorded"
    assert [(h["actor"], h["note"]) for h in entries(store, case_id, state)] == [("inv.other", "inv.other")]
    assert case[f"{'decided' if kind == 'decision' else 'outcome'}_by"] == "inv.other"
    assert "claim" not in (store.get(case_id) or {})


def test_a_crash_after_the_send_records_the_decision_and_a_retry_is_told(aws: EmbeddedAws, store: CaseStore,
                                                                         service: Any) -> None:
    case_id = open_case(aws, "u-crash-after")
    wait_for(store, case_id, waiting("investigating"))
    dying = replace(service, tasks=CrashingTasks(service.tasks, send=True))
    with pytest.raises(Crash):
        dying.decide(case_id, decision="unfounded", er_type=None, note="sent", actor="inv.crashed",
                     reason="duplicate")
    case = wait_for(store, case_id, lambda c: c.get("status") == "closed_unfounded" and not c.get("pending_history"))
    assert case["decided_by"] == "inv.crashed" and "claim" not in case
    with pytest.raises(CaseActionError, match=f"case {case_id} already decided by inv.crashed at "
                                              f"{nz_time(case['decided_at'], seconds=True)}: unfounded .duplicate.; it is closed_unfounded"):
        service.decide(case_id, decision="unfounded", er_type=None, note="sent", actor="inv.crashed",
                       reason="duplicate")


class AwsLikeStepFunctions:
    """Step Functions as AWS answers a second SendTaskSuccess on a token already used (TaskTimedOut); moto
    accepts it silently (its callback endpoints outlive their task). Everything else goes to moto."""

    def __init__(self, sfn: Any, used: set[str]) -> None:
        self.sfn = sfn
        self.used = used

    def send_task_success(self, *, taskToken: str, output: str) -> Any:  # noqa: N803 - the API's name
        if taskToken in self.used:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "Provided task does not exist anymore"}},
                              "SendTaskSuccess")
        self.used.add(taskToken)
        return self.sfn.send_task_success(taskToken=taskToken, output=output)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sfn, name)


class StalledTasks(CaseTasks):
    """Sends only once ``go`` is set: a CLI stalled between claim and send."""

    def __init__(self, sfn: Any, go: threading.Event) -> None:
        super().__init__(sfn)
        self.go = go

    def complete(self, token: str, output: Any) -> None:
        assert self.go.wait(timeout=WAIT_S)
        super().complete(token, output)


@pytest.mark.parametrize("aws_like", [True, False], ids=["aws-rejects-a-used-token", "moto-accepts-it"])
def test_a_send_after_the_claim_lapsed_is_told_who_decided(aws: EmbeddedAws, store: CaseStore, service: Any,
                                                           aws_like: bool) -> None:
    case_id = open_case(aws, f"u-stalled-{aws_like}")
    wait_for(store, case_id, waiting("investigating"))
    used: set[str] = set()
    sfn = AwsLikeStepFunctions(aws.client("stepfunctions"), used) if aws_like else aws.client("stepfunctions")
    go = threading.Event()
    ttl = 1.0
    stalled = replace(service, tasks=StalledTasks(sfn, go), claim_ttl_s=ttl)
    outcome: list[Any] = []

    def slow() -> None:
        try:
            outcome.append(stalled.decide(case_id, decision="founded", er_type="privacy_breach", note="slow",
                                          actor="inv.slow"))
        except CaseActionError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    wait_for(store, case_id, lambda c: bool(c.get("claim")))
    time.sleep(ttl + 0.2)  # the stalled claim lapses (never sent)
    fast = replace(service, tasks=CaseTasks(sfn))
    case = fast.decide(case_id, decision="unfounded", er_type=None, note="fast", actor="inv.fast",
                       reason="legitimate_work")
    assert case["status"] == "closed_unfounded" and case["decided_by"] == "inv.fast"
    go.set()
    thread.join(timeout=WAIT_S)
    assert len(outcome) == 1 and isinstance(outcome[0], CaseActionError), outcome
    assert f"case {case_id} already decided by inv.fast at {nz_time(case['decided_at'], seconds=True)}: unfounded" in str(outcome[0])
    case = settled(store, case_id)
    assert [(h["actor"], h["decision"]) for h in entries(store, case_id, "decided")] == [("inv.fast", "unfounded")]
    assert case["status"] == "closed_unfounded"


def test_an_output_that_is_not_the_claimed_action_is_refused_and_recorded(aws: EmbeddedAws, store: CaseStore,
                                                                          service: Any) -> None:
    case_id = open_case(aws, "u-mismatch")
    case = wait_for(store, case_id, waiting("investigating"))
    sfn = aws.client("stepfunctions")
    claimed_action = {"decision": "unfounded", "er_type": "", "note": "claimed", "actor": "inv.a",
                      "reason": "duplicate", "rule_decisions": {"SELF_RECORD": {"decision": "unfounded",
                                                                                "reason": "duplicate"}}}
    claim = new_claim("decision", case["task_token"], claimed_action)
    assert store.claim_action(case_id, waiting=WAITING_FOR["decision"], token=case["task_token"], claim=claim,
                              now=now_iso())
    # The same claim id, another decision: refused, recorded, and the case waits again (a new token, no claim).
    sent = {**claimed_action, "decision": "founded", "er_type": "privacy_breach", "claim_id": claim["claim_id"],
            "rule_decisions": {"SELF_RECORD": {"decision": "founded"}}}
    sent.pop("reason")
    sfn.send_task_success(taskToken=case["task_token"], output=json.dumps(sent))
    again = wait_for(store, case_id, lambda c: waiting("investigating")(c) and c["task_token"] != case["task_token"])
    assert "decision" not in again and "claim" not in again
    rejected = entries(store, case_id, "decision_rejected")
    assert len(rejected) == 1 and rejected[0]["claim_id"] == claim["claim_id"]
    assert "differs from the one claimed (decision, er_type, reason, rule_decisions)" in rejected[0]["note"]
    # A hand-made send with no claim at all: refused too.
    sfn.send_task_success(taskToken=again["task_token"], output=json.dumps(claimed_action))
    wait_for(store, case_id, lambda c: waiting("investigating")(c) and c["task_token"] != again["task_token"])
    assert "sent without a claim" in entries(store, case_id, "decision_rejected")[-1]["note"]
    # Through the service: recorded.
    done = service.decide(case_id, decision="unfounded", er_type=None, note="claimed", actor="inv.a",
                          reason="duplicate")
    assert done["status"] == "closed_unfounded" and len(entries(store, case_id, "decided")) == 1


def test_a_claim_for_a_token_since_replaced_does_not_block(aws: EmbeddedAws, store: CaseStore,
                                                           service: Any) -> None:
    """A claim names the token it was made for: once the case holds another token (the deadline escalated
    it, a rejection, a redrive), the old claim is inert, however recent, sent or not."""
    case_id = open_case(aws, "u-old-token")
    case = wait_for(store, case_id, waiting("investigating"))
    old = new_claim("decision", "an-earlier-token", {"decision": "founded", "actor": "inv.old"},
                    now=datetime.now(UTC) + timedelta(hours=1))
    store.update(case_id, claim={**old, "sent_at": now_iso()})
    assert (store.get(case_id) or {})["task_token"] == case["task_token"]
    done = service.decide(case_id, decision="unfounded", er_type=None, note="", actor="inv.new", reason="duplicate")
    assert done["decided_by"] == "inv.new" and "claim" not in done
