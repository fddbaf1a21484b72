"""The case state machine (statemachines/case.asl.json, deployed from template.yaml on the embedded
runtime) driven through every branch, with people acting through the same service the CLI uses:

unfounded; founded with each default ER type, each ending in an outcome; fraud with the Police
referral; a decision and an outcome the workflow cannot accept (rejected, then waiting again);
escalation when the investigation deadline passes; a failing task reaching the dead-letter queue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.cases import WAIT_S, wait_for, waiting

from accesswatch.cases.actions import CaseActionError
from accesswatch.cases.assign import case_id_for
from accesswatch.cases.scoring import ScoringSettings
from accesswatch.cases.vocabulary import DEFAULT_ER_TYPES, DEFAULT_OUTCOMES, DEFAULT_POLICE_REFERRAL_TYPES
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingStore
from accesswatch.rules import RULES_BY_ID
from accesswatch.services.routing import case_router
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate.cases import case_service

pytestmark = pytest.mark.e2e



class InjectedFailure(RuntimeError):
    """Raised by the case-step function for the cases a test marks as failing."""


FAILING_CASES: set[str] = set()


def failing_case_step(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """handler_wrapper: the case-step function fails, every time, for the cases in FAILING_CASES."""
    if name != "CaseStepFunction":
        return handler

    def wrapped(event: dict[str, Any], context: Any) -> Any:
        if event.get("case_id") in FAILING_CASES:
            raise InjectedFailure("injected failure")
        return handler(event, context)

    return wrapped


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(handler_wrapper=failing_case_step) as runtime:
        yield runtime


def open_case(aws: Any, user_id: str, client_id: str, rules: dict[str, str], n: int = 1) -> str:
    """Findings of the user as detection stores them, then routed to the user's case as detection does
    (an immediate-tier rule among ``rules`` opens the case; ``n`` findings of each rule)."""
    findings = FindingStore(aws.resource_name("FindingsTable"), aws.resource("dynamodb"))
    stored = []
    start = datetime(2025, 3, 3, 22, 0, tzinfo=UTC)
    for rule, severity in rules.items():
        for i in range(n):
            at = start + timedelta(minutes=i)
            item = {
                "finding_id": f"{user_id}-{client_id}-{rule}-{i}", "system": "cms", "event_id": f"e-{user_id}-{i}",
                "rule": rule, "severity": severity, "rule_status": "live", "user_id": user_id,
                "tier": RULES_BY_ID[rule].tier(), "modifiers": "",
                "client_id": client_id, "occurred_at": at.isoformat(), "occurred_at_utc": at.isoformat(),
                "nz_date": "2025-03-04", "quarter": "2025-03-31", "rule_quarter": f"{rule}#2025-03-31",
                "explanation": f"{rule} fired (test)", "evidence": json.dumps({"test": True}),
                "snapshot_id": "test-snapshot", "partition_key": "events/test.parquet",
            }
            stored.append(findings.put_if_new(item)[1])
    cases = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    case_router(cases=cases, findings=findings, executions=Executions(aws.client("stepfunctions")),
                case_state_machine_arn=aws.resource_name("CaseStateMachine"), scoring=ScoringSettings()).route(stored)
    case_id = {(findings.get(f["finding_id"]) or {}).get("case_id") for f in stored}
    assert len(case_id) == 1, case_id
    return case_id.pop()


def execution(aws: Any, case: dict[str, Any], settled: bool = True) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + WAIT_S
    while True:
        found = sfn.describe_execution(executionArn=case["execution_arn"])
        if not settled or found["status"] != "RUNNING":
            return dict(found)
        assert time.monotonic() < deadline, f"{case['case_id']} execution still running"
        time.sleep(0.1)


def visited_states(aws: Any, case: dict[str, Any]) -> list[str]:
    events = aws.client("stepfunctions").get_execution_history(executionArn=case["execution_arn"],
                                                                maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def history_states(store: CaseStore, case_id: str) -> list[str]:
    return [h["state"] for h in store.history(case_id)]


@pytest.fixture(scope="module")
def store(aws: EmbeddedAws) -> CaseStore:
    return CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))


@pytest.fixture(scope="module")
def service(aws: EmbeddedAws) -> Any:
    return case_service(aws)


MACHINE_STEPS = ["opened", "triaged", "notified", "investigating"]


def test_unfounded_closes_the_case_and_counts_against_its_rules(aws: EmbeddedAws, store: CaseStore,
                                                                service: Any) -> None:
    case_id = open_case(aws, "u-unfounded", "c-1", {"SELF_RECORD": "high", "HOUSEHOLD_RECORD": "high"})
    case = wait_for(store, case_id, waiting("investigating"))
    assert case["priority"] == "critical" and case["route"] == "integrity"
    assert case["decision_due_at"] > case["waiting_since"]

    after = service.decide(case_id, decision="unfounded", er_type=None, note="on the roster that day",
                           actor="inv.one", reason="legitimate_work")
    assert after["status"] == "closed_unfounded"
    assert after["decision"] == "unfounded" and after["decided_by"] == "inv.one"
    assert after["decision_reason"] == "legitimate_work"
    assert after["rule_decisions"] == {r: {"decision": "unfounded", "reason": "legitimate_work"}
                                       for r in ("HOUSEHOLD_RECORD", "SELF_RECORD")}
    assert after["decided_at"] <= after["closed_at"]
    assert after["police_referral"] is False and "er_type" not in after and not after["task_token"]
    assert history_states(store, case_id) == [*MACHINE_STEPS, "decided", "closed_unfounded"]
    decided = store.history(case_id)[-2]
    assert (decided["actor"], decided["note"], decided["decision"]) == ("inv.one", "on the roster that day",
                                                                       "unfounded")
    assert execution(aws, after)["status"] == "SUCCEEDED"
    assert "OpenErCase" not in visited_states(aws, after)
    # The user's next finding opens a new case: a decided case takes no more.
    assert store.open_pointer("u-unfounded") is None
    precision = {r.rule: r for r in service.precision()}
    assert precision["SELF_RECORD"].unfounded >= 1 and precision["HOUSEHOLD_RECORD"].unfounded >= 1


@pytest.mark.parametrize("er_type", DEFAULT_ER_TYPES)
def test_founded_opens_an_er_case_of_each_type_and_closes_with_its_outcome(
        aws: EmbeddedAws, store: CaseStore, service: Any, er_type: str) -> None:
    outcome = DEFAULT_OUTCOMES[DEFAULT_ER_TYPES.index(er_type) % len(DEFAULT_OUTCOMES)]
    case_id = open_case(aws, f"u-{er_type}", "c-2", {"DECLARED_ASSOCIATE": "high"})
    wait_for(store, case_id, waiting("investigating"))

    after = service.decide(case_id, decision="founded", er_type=er_type, note="", actor="inv.two")
    assert after["status"] == "awaiting_outcome" and after["task_token"]
    assert (after["decision"], after["er_type"]) == ("founded", er_type)
    assert after["decided_at"] <= after["er_opened_at"]
    with pytest.raises(CaseActionError, match="not waiting for a decision"):
        service.decide(case_id, decision="unfounded", er_type=None, note="", actor="inv.two")

    closed = service.record_outcome(case_id, outcome=outcome, note="ER meeting held", actor="er.adviser")
    assert closed["status"] == "closed_founded"
    assert (closed["outcome"], closed["outcome_by"]) == (outcome, "er.adviser")
    assert closed["er_opened_at"] <= closed["outcome_at"] <= closed["closed_at"]
    referred = er_type in DEFAULT_POLICE_REFERRAL_TYPES
    assert closed["police_referral"] is referred
    expected = [*MACHINE_STEPS, "decided", "er_case", "awaiting_outcome", "outcome_recorded"]
    expected += ["police_referral", "closed_founded"] if referred else ["closed_founded"]
    assert history_states(store, case_id) == expected
    assert execution(aws, closed)["status"] == "SUCCEEDED"
    states = visited_states(aws, closed)
    assert ("ReferToPolice" in states and "NotifyPoliceReferral" in states) is referred
    assert "CloseUnfounded" not in states


def test_a_decision_or_outcome_the_workflow_cannot_accept_is_rejected_and_waits_again(
        aws: EmbeddedAws, store: CaseStore, service: Any) -> None:
    case_id = open_case(aws, "u-rejected", "c-3", {"PUBLIC_FIGURE": "high", "SENSITIVE_LOOKUP": "medium"}, n=2)
    case = wait_for(store, case_id, waiting("investigating"))
    assert (case["priority"], case["route"], case["tier"]) == ("high", "integrity", "immediate")
    sfn = aws.client("stepfunctions")

    # Sent by hand past the CLI's checks: the state machine checks again.
    sfn.send_task_success(taskToken=case["task_token"], output=json.dumps({"decision": "maybe", "actor": "x"}))
    again = wait_for(store, case_id, lambda c: waiting("investigating")(c) and c["task_token"] != case["task_token"])
    assert "decision" not in again
    assert history_states(store, case_id)[-1] == "decision_rejected"

    # Founded for PUBLIC_FIGURE, unfounded for its SENSITIVE_LOOKUP findings: precision credits only the first.
    with pytest.raises(CaseActionError, match="say of each whether it was founded .* not yet said: PUBLIC_FIGURE"):
        service.decide(case_id, decision="founded", er_type="privacy_breach", note="", actor="inv.three",
                       unfounded_rules={"SENSITIVE_LOOKUP": "legitimate_work"})
    service.decide(case_id, decision="founded", er_type="privacy_breach", note="", actor="inv.three",
                   unfounded_rules={"SENSITIVE_LOOKUP": "legitimate_work"}, founded_rules=["PUBLIC_FIGURE"])
    case = wait_for(store, case_id, waiting("awaiting_outcome"))
    assert case["rule_decisions"] == {"PUBLIC_FIGURE": {"decision": "founded"},
                                      "SENSITIVE_LOOKUP": {"decision": "unfounded", "reason": "legitimate_work"}}
    assert store.rule_stats()["SENSITIVE_LOOKUP"][1] >= 1 and store.rule_stats()["PUBLIC_FIGURE"][0] >= 1
    assert store.open_pointer("u-rejected") is None, "decided: later findings open a new case"
    sfn.send_task_success(taskToken=case["task_token"], output=json.dumps({"outcome": "a_medal", "actor": "x"}))
    again = wait_for(store, case_id, lambda c: waiting("awaiting_outcome")(c) and c["task_token"] != case["task_token"])
    assert "outcome" not in again and history_states(store, case_id)[-1] == "outcome_rejected"

    closed = service.record_outcome(case_id, outcome="written_warning", note="", actor="er.adviser")
    assert closed["status"] == "closed_founded" and closed["police_referral"] is False
    assert execution(aws, closed)["status"] == "SUCCEEDED"
    states = visited_states(aws, closed)
    assert states.count("AwaitDecision") == 2 and states.count("AwaitOutcome") == 2


def test_a_decision_the_deployed_workflow_does_not_accept_is_reported(aws: EmbeddedAws, store: CaseStore,
                                                                       service: Any) -> None:
    """The CLI checks against the deployed words; should they differ (a deployment changed in between),
    the workflow's own check rejects the decision and the person is told, not left believing it."""
    from dataclasses import replace

    from accesswatch.cases.vocabulary import CaseVocabulary

    case_id = open_case(aws, "u-stale-words", "c-7", {"HOUSEHOLD_RECORD": "high"})
    wait_for(store, case_id, waiting("investigating"))
    stale = replace(service, load_vocabulary=lambda: CaseVocabulary(case_er_types=(*DEFAULT_ER_TYPES, "parking")))
    with pytest.raises(CaseActionError, match="the workflow rejected the decision: a founded decision needs an ER"):
        stale.decide(case_id, decision="founded", er_type="parking", note="", actor="inv")
    case = wait_for(store, case_id, waiting("investigating"))
    assert "decision" not in case and history_states(store, case_id)[-1] == "decision_rejected"
    assert service.decide(case_id, decision="unfounded", er_type=None, note="", actor="inv",
                          reason="duplicate")["status"] == "closed_unfounded"


def test_the_cli_checks_a_case_before_it_acts(aws: EmbeddedAws, store: CaseStore, service: Any) -> None:
    case_id = open_case(aws, "u-checks", "c-4", {"PUBLIC_FIGURE": "high"})
    wait_for(store, case_id, waiting("investigating"))
    for kwargs, message in [
        ({"decision": "founded", "er_type": None}, "needs an ER case type"),
        ({"decision": "founded", "er_type": "parking"}, "needs an ER case type, one of inappropriate_access"),
        ({"decision": "unfounded", "er_type": "fraud_or_dishonesty", "reason": "duplicate"}, "takes no ER case type"),
        ({"decision": "unfounded", "er_type": None}, "needs a reason, one of legitimate_work"),
        ({"decision": "perhaps", "er_type": None}, "decision must be one of founded, unfounded"),
        ({"decision": "founded", "er_type": "privacy_breach", "unfounded_rules": {"SELF_RECORD": "duplicate"}},
         "has no findings of SELF_RECORD"),
        ({"decision": "founded", "er_type": "privacy_breach", "unfounded_rules": {"PUBLIC_FIGURE": "duplicate"}},
         "at least one founded rule"),
        ({"decision": "unfounded", "er_type": None, "reason": "duplicate",
          "unfounded_rules": {"PUBLIC_FIGURE": "duplicate"}}, "apply to a founded decision"),
        ({"decision": "founded", "er_type": "privacy_breach", "unfounded_rules": {"PUBLIC_FIGURE": "duplicate"},
          "founded_rules": ["PUBLIC_FIGURE"]}, "named both founded and unfounded"),
    ]:
        with pytest.raises(CaseActionError, match=message):
            service.decide(case_id, note="", actor="inv", **kwargs)
    with pytest.raises(CaseActionError, match="not waiting for an ER outcome"):
        service.record_outcome(case_id, outcome="dismissal", note="", actor="er")
    with pytest.raises(CaseActionError, match="no case CASE-NOPE"):
        service.decide("CASE-NOPE", decision="unfounded", er_type=None, note="", actor="inv", reason="duplicate")
    assert store.get(case_id)["status"] == "investigating"  # nothing sent

    service.decide(case_id, decision="founded", er_type="conflict_of_interest", note="", actor="inv")
    with pytest.raises(CaseActionError, match="outcome must be one of no_further_action"):
        service.record_outcome(case_id, outcome="a_medal", note="", actor="er")
    # Two people act on the same case: the second, with the view read before the first acted, is told.
    stale = store.get(case_id)
    closed = service.record_outcome(case_id, outcome="dismissal", note="", actor="er")
    assert execution(aws, closed)["status"] == "SUCCEEDED"
    store.update(case_id, status=stale["status"], task_token=stale["task_token"])
    with pytest.raises(CaseActionError, match="no longer waiting"):
        service.record_outcome(case_id, outcome="dismissal", note="", actor="er")


def test_a_failing_task_parks_the_case_in_the_dead_letter_queue(aws: EmbeddedAws, store: CaseStore) -> None:
    FAILING_CASES.add(case_id_for("u-failing", "u-failing-c-5-SELF_RECORD-0"))
    case_id = open_case(aws, "u-failing", "c-5", {"SELF_RECORD": "high"})
    assert case_id in FAILING_CASES
    case = store.get(case_id)
    assert case is not None
    ended = execution(aws, case)
    assert ended["status"] == "FAILED"
    # A new case passes the Resume choice (it names no step to resume at) into Triage.
    assert visited_states(aws, case) == ["Resume", "Triage", "SendToDeadLetterQueue", "CaseFailed"]
    sqs = aws.client("sqs")
    queue = aws.resource_name("CaseDeadLetterQueue")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    parked = [json.loads(m["Body"]) for m in messages]
    mine = [m for m in parked if m["case_id"] == case_id]
    assert len(mine) == 1
    assert mine[0]["execution"] == case["execution_arn"]
    assert mine[0]["error"]["Error"] == "InjectedFailure"
    # Tried once and retried three times (the ASL's Retry), then caught.
    failures = [i for i in aws.invocations if i.function == "CaseStepFunction" and i.errored]
    assert [i.error_type for i in failures] == ["InjectedFailure"] * 4
    assert store.get(case_id)["status"] == "opened"
