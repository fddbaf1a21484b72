"""The case-step function driven with the events/case_step_*.json samples (what `sam local invoke`
uses), through lambda:Invoke on the embedded runtime: every step the ASL names exists and every
sample runs; each step delivered twice (a retry) changes the case once and writes one history entry.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accesswatch.cases.workflow import CaseWorkflow
from accesswatch.dal.cases import CaseStore
from accesswatch_tools.embedded.runtime import EmbeddedAws

pytestmark = pytest.mark.e2e

CASE_ID = "CASE-0123456789ABCDEF"


def sample(root: Path, step: str) -> dict[str, Any]:
    return dict(json.loads((root / "events" / f"case_step_{step}.json").read_text(encoding="utf-8")))


def asl_steps(root: Path) -> set[str]:
    text = (root / "statemachines" / "case.asl.json").read_text(encoding="utf-8")
    return set(re.findall(r'"step": "([a-z_]+)"', text))


def test_the_asl_the_samples_and_the_workflow_name_the_same_steps(root: Path) -> None:
    samples = {p.name[len("case_step_"):-len(".json")] for p in (root / "events").glob("case_step_*.json")}
    workflow_steps = set(CaseWorkflow(store=None).steps)  # type: ignore[arg-type]
    assert asl_steps(root) == workflow_steps == samples, (asl_steps(root), workflow_steps, samples)
    for name in samples:
        event = sample(root, name)
        assert event["step"] == name and event["case_id"] == CASE_ID


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as runtime:
        yield runtime


def invoke(aws: Any, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    response = aws.client("lambda").invoke(FunctionName=aws.resource_name("CaseStepFunction"),
                                           Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def fresh_case(store: CaseStore) -> None:
    for entry in store.history(CASE_ID):
        store.table.delete_item(Key={"pk": f"CASE#{CASE_ID}", "sk": entry["sk"]})
    store.table.delete_item(Key=store.case_key(CASE_ID))
    store.save_findings({"case_id": CASE_ID, "user_id": "u100001", "status": "opened", "source": "detection",
                         "trigger": "immediate", "tier": "immediate", "priority": "high", "score": 16.0,
                         "opened_at": "2025-04-01T00:00:00.000Z",
                         "parts": ["f1|RELATIVE_RECORD|000123456|8.0", "f2|RELATIVE_RECORD|000123456|8.0"]},
                        expected_version=None)
    store.record_opened(store.get(CASE_ID) or {})


def claimed(store: CaseStore, event: dict[str, Any], kind: str) -> dict[str, Any]:
    """The sample as the CLI sends it: the waiting step claimed first, the output naming its claim (the
    record step refuses an action that is not the one claimed)."""
    from accesswatch.cases.actions import WAITING_FOR, new_claim
    from accesswatch.dal.ledger import now_iso

    case = store.get(CASE_ID) or {}
    claim = new_claim(kind, str(case["task_token"]), event[kind])
    assert store.claim_action(CASE_ID, waiting=WAITING_FOR[kind], token=str(case["task_token"]), claim=claim,
                              now=now_iso())
    return {**event, kind: {**event[kind], "claim_id": claim["claim_id"]}}


def run_twice(aws: Any, event: dict[str, Any]) -> dict[str, Any]:
    first, error = invoke(aws, event)
    assert error is None, first
    second, error = invoke(aws, event)
    assert error is None, second
    assert second == first, event["step"]
    return first


def test_every_sample_runs_and_a_retried_step_changes_nothing_more(aws: EmbeddedAws, root: Path) -> None:
    store = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    fresh_case(store)
    assert run_twice(aws, sample(root, "triage"))["priority"] == "high"
    run_twice(aws, sample(root, "record_notified"))
    run_twice(aws, sample(root, "await_decision"))
    assert store.get(CASE_ID)["task_token"] == sample(root, "await_decision")["task_token"]
    assert run_twice(aws, sample(root, "escalate")) == {"case_id": CASE_ID, "escalations": 1}
    assert not store.get(CASE_ID)["task_token"]
    run_twice(aws, sample(root, "await_decision"))  # waiting again after the escalation
    assert run_twice(aws, claimed(store, sample(root, "record_decision"), "decision"))["accepted"] is True
    assert run_twice(aws, sample(root, "open_er_case"))["police_referral_required"] is True
    run_twice(aws, sample(root, "await_outcome"))
    assert run_twice(aws, claimed(store, sample(root, "record_outcome"), "outcome"))["accepted"] is True
    run_twice(aws, sample(root, "refer_to_police"))
    assert run_twice(aws, sample(root, "close_founded"))["status"] == "closed_founded"

    case = store.get(CASE_ID)
    assert case is not None
    assert (case["decision"], case["er_type"], case["outcome"], case["police_referral"]) == (
        "founded", "fraud_or_dishonesty", "dismissal", True)
    assert case["decided_by"] == "investigator.one" and case["outcome_by"] == "er.adviser"
    for field in ("decided_at", "er_opened_at", "outcome_at", "police_referred_at", "closed_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", case[field]), field
    assert case["decided_at"] <= case["er_opened_at"] <= case["outcome_at"] <= case["closed_at"]
    states = [h["state"] for h in store.history(CASE_ID)]
    assert states == ["opened", "triaged", "notified", "investigating", "escalated", "decided", "er_case",
                      "awaiting_outcome", "outcome_recorded", "police_referral", "closed_founded"]
    assert Counter(states).most_common(1)[0][1] == 1
    assert "pending_history" not in case

    # The unfounded path with the same samples, the decision changed.
    fresh_case(store)
    for step in ("triage", "record_notified", "await_decision"):
        run_twice(aws, sample(root, step))
    unfounded = sample(root, "record_decision")
    unfounded["decision"] = {"decision": "unfounded", "er_type": "", "note": "", "actor": "investigator.two"}
    # without a reason the workflow rejects it (and waits again)
    assert invoke(aws, unfounded)[0]["accepted"] is False
    run_twice(aws, sample(root, "await_decision"))
    unfounded["decision"]["reason"] = "legitimate_work"
    unfounded["entered_at"] = "2025-04-15T02:00:00.000Z"
    unfounded = claimed(store, unfounded, "decision")
    assert run_twice(aws, unfounded) == {"case_id": CASE_ID, "accepted": True, "decision": "unfounded"}
    assert store.get(CASE_ID)["rule_decisions"] == {"RELATIVE_RECORD": {"decision": "unfounded",
                                                                        "reason": "legitimate_work"}}
    failed, error = invoke(aws, sample(root, "open_er_case"))
    assert error is not None and failed["errorType"] == "InvalidTransition"
    assert run_twice(aws, sample(root, "close_unfounded"))["status"] == "closed_unfounded"
    assert [h["state"] for h in store.history(CASE_ID)][-3:] == ["decision_rejected", "decided", "closed_unfounded"]


def test_a_step_out_of_order_fails_loudly_and_changes_nothing(aws: EmbeddedAws, root: Path) -> None:
    store = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    fresh_case(store)
    before = store.get(CASE_ID)
    for step in ("record_notified", "close_founded", "refer_to_police", "open_er_case"):
        failed, error = invoke(aws, sample(root, step))
        assert error is not None and failed["errorType"] == "InvalidTransition", (step, failed)
    assert store.get(CASE_ID) == before
    assert [h["state"] for h in store.history(CASE_ID)] == ["opened"]
