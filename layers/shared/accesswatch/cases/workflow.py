"""The case state machine's steps as plain functions over a case store.

The state machine (statemachines/case.asl.json) decides the order; each step here records what
happened to the case (status, history) and returns what the next state needs. People act through
``decide`` and ``record_outcome``, which complete the waiting task token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accesswatch.dal.cases import CaseStore
from accesswatch.rules import CATALOG

ER_TYPES: tuple[str, ...] = (
    "inappropriate_access",
    "conflict_of_interest",
    "fraud_or_dishonesty",
    "privacy_breach",
    "other_misconduct",
)
POLICE_REFERRAL_TYPES = frozenset({"fraud_or_dishonesty"})
OUTCOMES: tuple[str, ...] = (
    "no_further_action",
    "letter_of_expectation",
    "written_warning",
    "final_written_warning",
    "dismissal",
    "resigned_before_outcome",
)
DECISIONS = ("founded", "unfounded")
SEVERITY_OF = {rule.id: rule.severity.value for rule in CATALOG}
CLOSED = frozenset({"closed_unfounded", "closed_founded"})


class CaseNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    pass


def triage(case: dict[str, Any]) -> dict[str, Any]:
    """Priority from the rules' severities and the number of findings; the route follows."""
    rules = case.get("rules", [])
    severities = {SEVERITY_OF.get(r, "medium") for r in rules}
    count = int(case.get("finding_count", 0))
    if "high" in severities:
        priority = "critical" if len(rules) >= 2 or count >= 5 else "high"
    else:
        priority = "medium" if count >= 2 else "low"
    route = "manager_review" if severities <= {"medium", "low"} and count == 1 else "integrity"
    return {"priority": priority, "route": route, "rules": rules, "finding_count": count}


class CaseWorkflow:
    def __init__(self, store: CaseStore) -> None:
        self.store = store
        self._steps: dict[str, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]] = {
            "triage": self._triage,
            "record_notified": self._record_notified,
            "await_decision": self._await_decision,
            "escalate": self._escalate,
            "close_unfounded": self._close_unfounded,
            "open_er_case": self._open_er_case,
            "await_outcome": self._await_outcome,
            "record_outcome": self._record_outcome,
            "refer_to_police": self._refer_to_police,
            "close_founded": self._close_founded,
        }

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(self._steps)

    def run(self, step: str, case_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        if step not in self._steps:
            raise InvalidTransition(f"unknown case step {step!r}")
        case = self.store.get(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        return self._steps[step](case, payload)

    # ------------------------------------------------------------------ steps
    def _triage(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        result = triage(case)
        self.store.update(case["case_id"], status="triaged", priority=result["priority"], route=result["route"])
        self._history(case, "triaged", note=f"priority {result['priority']}, route {result['route']}")
        return result

    def _record_notified(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        self.store.update(case["case_id"], status="notified")
        self._history(case, "notified", note=f"integrity topic, route {case.get('route')}")
        return {"status": "notified"}

    def _await_decision(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        self.store.update(case["case_id"], status="investigating", task_token=payload["task_token"])
        self._history(case, "investigating", note="awaiting an investigator's decision")
        return {"status": "investigating"}

    def _escalate(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        escalations = int(case.get("escalations", 0)) + 1
        self.store.update(case["case_id"], escalations=escalations, escalated=True)
        self._history(case, "escalated", note=f"investigation deadline passed ({escalations})")
        return {"escalations": escalations}

    def _close_unfounded(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        return self._close(case, "closed_unfounded")

    def _open_er_case(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        er_type = payload.get("er_type")
        if er_type not in ER_TYPES:
            raise InvalidTransition(f"unknown ER case type {er_type!r}")
        self.store.update(case["case_id"], status="er_case", er_type=er_type, task_token="")
        self._history(case, "er_case", note=f"Employment Relations case opened: {er_type}")
        return {"er_type": er_type}

    def _await_outcome(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        self.store.update(case["case_id"], status="awaiting_outcome", task_token=payload["task_token"])
        self._history(case, "awaiting_outcome", note="awaiting the ER outcome")
        return {"status": "awaiting_outcome"}

    def _record_outcome(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        outcome = payload.get("outcome")
        if outcome not in OUTCOMES:
            raise InvalidTransition(f"unknown ER outcome {outcome!r}")
        self.store.update(case["case_id"], status="outcome_recorded", outcome=outcome, task_token="")
        self._history(case, "outcome_recorded", note=outcome)
        return {"outcome": outcome}

    def _refer_to_police(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        self.store.update(case["case_id"], police_referral=True)
        self._history(case, "police_referral", note="referred to the Police")
        return {"police_referral": True}

    def _close_founded(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        return self._close(case, "closed_founded")

    def _close(self, case: dict[str, Any], status: str) -> dict[str, Any]:
        from accesswatch.dal.ledger import now_iso

        self.store.update(case["case_id"], status=status, closed_at=now_iso(), task_token="")
        self.store.release_pointer(case["user_id"], case["client_id"], case["case_id"])
        self._history(case, status)
        return {"status": status}

    def _history(self, case: dict[str, Any], state: str, note: str = "") -> None:
        self.store.append_history(case["case_id"], state=state, actor="accesswatch", note=note)
