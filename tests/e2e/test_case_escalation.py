"""Escalation: the case state machine deployed with a 2-second investigation deadline (its own
runtime, so the other branches are not raced by deadlines); the case escalates, tells the
integrity topic, waits again, and a late decision still closes it."""

from __future__ import annotations

import json
import time

import pytest
from test_case_workflow import (
    MACHINE_STEPS,
    WAIT_S,
    execution,
    history_states,
    open_case,
    visited_states,
    wait_for,
    waiting,
)

from accesswatch.cases.actions import CaseActionError
from accesswatch.dal.cases import CaseStore
from accesswatch_tools.embedded.runtime import ACCOUNT_ID, REGION, EmbeddedAws
from accesswatch_tools.operate.cases import case_service

pytestmark = pytest.mark.e2e


def test_escalation_when_the_investigation_deadline_passes() -> None:
    from moto.sns.models import sns_backends

    with EmbeddedAws(parameters={"InvestigationDeadlineSeconds": "2"}) as aws:
        store = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
        service = case_service(aws)
        case_id = open_case(aws, "u-slow", "c-6", {"COLLEAGUE_RECORD": "high"})
        escalated = wait_for(store, case_id, lambda c: int(c.get("escalations", 0)) >= 2)
        assert escalated["status"] == "investigating"
        states = history_states(store, case_id)
        assert states[:4] == MACHINE_STEPS and states.count("escalated") >= 2

        topic = sns_backends[ACCOUNT_ID][REGION].topics[aws.resource_name("IntegrityTopic")]
        deadline = time.monotonic() + WAIT_S
        while True:  # each escalation is recorded, then published
            events = [json.loads(message) for _id, message, *_ in topic.sent_notifications]
            if sum(e["event"] == "investigation_overdue" for e in events) >= 2:
                break
            assert time.monotonic() < deadline, events
            time.sleep(0.1)
        assert events[0]["event"] == "case_opened"
        overdue = [e for e in events if e["event"] == "investigation_overdue"]
        assert [e["escalations"] for e in overdue[:2]] == [1, 2]
        assert {e["case_id"] for e in events} == {case_id}

        # A decision still closes the case after escalations (between deadlines the token is fresh).
        deadline = time.monotonic() + WAIT_S
        while True:
            wait_for(store, case_id, waiting("investigating"))
            try:
                closed = service.decide(case_id, decision="unfounded", er_type=None, note="late", actor="inv",
                                        reason="legitimate_work")
                break
            except CaseActionError:
                assert time.monotonic() < deadline  # the deadline passed again between read and send
        assert closed["status"] == "closed_unfounded"
        assert execution(aws, closed)["status"] == "SUCCEEDED"
        states = visited_states(aws, closed)
        assert "Escalate" in states and "NotifyEscalation" in states and states[-1] == "CaseClosed"
