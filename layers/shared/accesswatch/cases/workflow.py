"""The case state machine's steps as plain functions over a case store.

The state machine (statemachines/case.asl.json) decides the order; each step here moves the case
from one status to the next with one conditional update and appends the history entry for it
(``CaseStore.transition``). Every step is safe to retry: a step that finds its work already done
returns what it returned the first time and writes nothing more (completing a history entry an
interrupted attempt left parked on the case).

People act through the CLI (``accesswatch cases decide`` / ``outcome``), which claims the waiting
step on the case (a conditional write: of two people acting at once one wins) and then completes the
task token that ``await_decision`` / ``await_outcome`` stored; ``record_decision`` / ``record_outcome``
then check what was sent, record it with the person's name and note only if it is exactly the claimed
action (``actions.claim_problem``, in the same conditional update that requires the claim unchanged),
and otherwise refuse it with a history entry.

Statuses, in order: opened -> triaged -> notified -> investigating -> decided -> closed_unfounded,
or decided -> er_case -> awaiting_outcome -> outcome_recorded -> closed_founded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from accesswatch.cases.actions import (
    DECISION,
    MAX_ACTOR_CHARS,
    OUTCOME,
    claim_problem,
    decision_problem,
    outcome_problem,
    rule_decisions_for,
)
from accesswatch.cases.vocabulary import (
    DEFAULT_ER_TYPES,
    DEFAULT_OUTCOMES,
    CaseVocabulary,
)
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.ledger import now_iso

# The defaults, for code that only needs the words (reports use their own copy of the list).
ER_TYPES = DEFAULT_ER_TYPES
OUTCOMES = DEFAULT_OUTCOMES
SYSTEM_ACTOR = "accesswatch"

OPENED = "opened"
TRIAGED = "triaged"
NOTIFIED = "notified"
INVESTIGATING = "investigating"
DECIDED = "decided"
CLOSED_UNFOUNDED = "closed_unfounded"
ER_CASE = "er_case"
AWAITING_OUTCOME = "awaiting_outcome"
OUTCOME_RECORDED = "outcome_recorded"
CLOSED_FOUNDED = "closed_founded"
# A closed case a person reopened (``cases.teamwork.reopen``): its new execution enters at AwaitDecision,
# which moves it to "investigating" again. A sibling of "investigating" under "notified" in the tree.
REOPENED = "reopened"
CLOSED = frozenset({CLOSED_UNFOUNDED, CLOSED_FOUNDED})
WAITING_ON_A_PERSON = frozenset({INVESTIGATING, AWAITING_OUTCOME})

# Each status and the one before it: the flow is a tree rooted at "opened".
_PREVIOUS: dict[str, str | None] = {
    OPENED: None,
    TRIAGED: OPENED,
    NOTIFIED: TRIAGED,
    INVESTIGATING: NOTIFIED,
    DECIDED: INVESTIGATING,
    CLOSED_UNFOUNDED: DECIDED,
    ER_CASE: DECIDED,
    AWAITING_OUTCOME: ER_CASE,
    OUTCOME_RECORDED: AWAITING_OUTCOME,
    CLOSED_FOUNDED: OUTCOME_RECORDED,
    REOPENED: NOTIFIED,
}
STATUSES: tuple[str, ...] = tuple(_PREVIOUS)


def reached(current: str, target: str) -> bool:
    """Has a case in ``current`` already passed through ``target``?"""
    status: str | None = current
    while status is not None:
        if status == target:
            return True
        status = _PREVIOUS.get(status)
    return False


class CaseNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    pass


def triage(case: Mapping[str, Any]) -> dict[str, Any]:
    """What the notification says: the priority routing gave the case (from its tier and score,
    ``cases.scoring.priority``), the route, what opened it (``source``: detection, random_review, complaint,
    manager_concern, privacy_request), and ids and counts only.

    Every case goes to Internal Integrity: a lone accumulate-tier finding never becomes a case (it reaches
    team managers through the weekly digest instead). No rule catalog is needed here (the case-step
    function loads no detection code)."""
    tier = str(case.get("tier") or "accumulate")
    return {"priority": str(case.get("priority") or ("high" if tier == "immediate" else "medium")),
            "route": "integrity", "rules": sorted(case.get("rules") or []),
            "finding_count": int(case.get("finding_count", 0)), "tier": tier,
            "score": round(float(case.get("score") or 0), 2), "clients": len(case.get("client_ids") or []),
            "trigger": str(case.get("trigger") or ""), "source": str(case.get("source") or "detection")}


def _later(iso: str, seconds: int) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Step = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class CaseWorkflow:
    def __init__(self, store: CaseStore, vocabulary: CaseVocabulary | None = None) -> None:
        self.store = store
        self.vocabulary = vocabulary or CaseVocabulary()
        self._steps: dict[str, Step] = {
            "triage": self._triage,
            "record_notified": self._record_notified,
            "await_decision": self._await_decision,
            "escalate": self._escalate,
            "record_decision": self._record_decision,
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
        case = self._get(case_id)
        if case.get("pending_history"):
            # An earlier attempt moved the case but failed before appending its history entry.
            self.store.flush_history(case)
        return self._steps[step](case, payload)

    # ------------------------------------------------------------------ helpers
    def _get(self, case_id: str) -> dict[str, Any]:
        case = self.store.get(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        return case

    def _advance(self, case: dict[str, Any], *, expected: set[str], status: str, attrs: dict[str, Any] | None = None,
                 state: str | None = None, actor: str = SYSTEM_ACTOR, note: str = "",
                 extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Move the case to ``status`` with its history entry. Returns None when it moved, or the case
        as stored when the move had already been made (a retried step); raises if neither."""
        history = {"state": state or status, "actor": actor, "note": note, **(extra or {})}
        if self.store.transition(case["case_id"], expected=expected, status=status, attrs=attrs, history=history):
            return None
        fresh = self._get(case["case_id"])
        if reached(str(fresh.get("status", "")), status):
            return fresh
        raise InvalidTransition(f"case {case['case_id']} is {fresh.get('status')}, cannot become {status}")

    @staticmethod
    def _entry(payload: Mapping[str, Any], state: str) -> str:
        """This entry into a state (retries of it share it): ``$$.State.EnteredTime`` from the ASL."""
        return f"{state}@{payload.get('entered_at') or now_iso()}"

    # ------------------------------------------------------------------ steps
    def _triage(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        result = triage(case)
        # The priority stays routing's (findings that join later raise it); triage records the route.
        done = self._advance(case, expected={OPENED}, status=TRIAGED, attrs={"route": result["route"]},
                             note=f"priority {result['priority']}, route {result['route']}")
        if done is not None:  # a retry: what the case says now
            result = triage(done)
        return result

    def _record_notified(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        self._advance(case, expected={TRIAGED}, status=NOTIFIED,
                      note=f"integrity topic notified, route {case.get('route')}")
        return {"status": NOTIFIED}

    def _await_decision(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        at = now_iso()
        attrs = {"task_token": payload["task_token"], "waiting_since": at}
        deadline = payload.get("deadline_seconds")
        if deadline is not None:
            attrs["decision_due_at"] = _later(at, int(deadline))
        # Back after an escalation or a rejected decision: a new token, no new history entry.
        # A reopened case enters here too (its new execution starts at AwaitDecision via the Resume choice).
        return self._hold_token(case, payload, attrs, waiting=INVESTIGATING, after={NOTIFIED, REOPENED},
                                note="awaiting an investigator's decision")

    def _hold_token(self, case: dict[str, Any], payload: dict[str, Any], attrs: dict[str, Any], *, waiting: str,
                    after: set[str], note: str) -> dict[str, Any]:
        """Store the task token a person completes: moving the case from ``after`` to ``waiting`` (with its
        history entry), or, when it waits already (a new token after an escalation or a rejection), only the
        token."""
        if case.get("status") == waiting:
            if not self.store.transition(case["case_id"], expected={waiting}, attrs=attrs):
                raise InvalidTransition(f"case {case['case_id']} left {waiting} while it waited")
        else:
            done = self._advance(case, expected=after, status=waiting, attrs=attrs, note=note)
            if done is not None and done.get("task_token") != payload["task_token"]:
                self.store.transition(case["case_id"], expected={waiting}, attrs=attrs)
        return {"status": waiting}

    def _escalate(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        entry = self._entry(payload, "escalate")
        escalations = int(case.get("escalations", 0)) + 1
        moved = self.store.transition(
            case["case_id"], expected={INVESTIGATING}, guard=("last_entry", entry),
            attrs={"escalations": escalations, "escalated_at": now_iso(), "task_token": "", "last_entry": entry},
            history={"state": "escalated", "actor": SYSTEM_ACTOR,
                     "note": f"investigation deadline passed without a decision (escalation {escalations})"},
            remove=("claim",),
        )
        if not moved:
            fresh = self._get(case["case_id"])
            if fresh.get("last_entry") != entry:
                raise InvalidTransition(f"case {case['case_id']} is {fresh.get('status')}, cannot escalate")
            escalations = int(fresh.get("escalations", 0))
        return {"escalations": escalations}

    def _record_decision(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        sent = payload.get("decision")
        sent = sent if isinstance(sent, dict) else {}
        decision, er_type = sent.get("decision"), sent.get("er_type") or None
        reason = sent.get("reason") or None
        actor = str(sent.get("actor") or "unknown")[:MAX_ACTOR_CHARS]
        note = str(sent.get("note") or "")[:2000]
        claim_id = str(sent.get("claim_id") or "")
        problem: str | None = None
        # Twice at most: a finding joining between the read and the write changes the version only.
        for attempt in range(2):
            if reached(str(case.get("status", "")), DECIDED):  # a retry after the decision was recorded
                self._after_decision(case, case.get("rule_decisions") or {})
                return {"accepted": True, "decision": case.get("decision")}
            if case.get("status") != INVESTIGATING:
                problem = "the case was not waiting for a decision"
                break
            rules = list(case.get("rules") or [])
            verdicts = sent.get("rule_decisions") or rule_decisions_for(decision, reason, rules)
            unjudged = sorted(set(rules) - set(verdicts)) if isinstance(verdicts, dict) else []
            if attempt and unjudged:
                problem = f"findings of {', '.join(unjudged)} joined the case while it was decided: decide again"
                break
            problem = (decision_problem(decision, er_type, self.vocabulary, reason=reason, rule_decisions=verdicts,
                                        rules=rules)
                       or claim_problem(case, sent, DECISION))
            if problem is not None:
                break
            attrs = {"decision": decision, "decided_at": now_iso(), "decided_by": actor, "decision_note": note,
                     "task_token": "", "rule_decisions": verdicts, "decision_claim_id": claim_id}
            if er_type:
                attrs["er_type"] = er_type
            if reason:
                attrs["decision_reason"] = reason
            extra = {"decision": decision, **({"er_type": er_type} if er_type else {}),
                     **({"reason": reason} if reason else {}), "claim_id": claim_id}
            history = {"state": DECIDED, "actor": actor, "note": note, **extra}
            # Only at the version read (findings that joined while the person decided must have a verdict) and
            # while the case still holds the claim this decision was made under.
            if self.store.transition(case["case_id"], expected={INVESTIGATING}, status=DECIDED, attrs=attrs,
                                     history=history, version=int(case.get("version") or 0), claim_id=claim_id,
                                     remove=("claim",)):
                self._after_decision(case, verdicts)
                return {"accepted": True, "decision": decision}
            case = self._get(case["case_id"])
        else:
            problem = "the case changed while it was decided: decide again"
        self._reject(case, payload, "record_decision", waiting=INVESTIGATING, state="decision_rejected",
                     actor=actor, note=problem or "the case was not waiting for a decision", claim_id=claim_id)
        return {"accepted": False, "decision": "rejected"}

    def _reject(self, case: Mapping[str, Any], payload: dict[str, Any], step: str, *, waiting: str, state: str,
                actor: str, note: str, claim_id: str = "") -> None:
        """A response the case cannot take: its token is spent, so the workflow will wait again; the
        rejection is recorded once (guarded by the step's entry) with its reason and the claim it came
        under, and the spent token's claim is removed."""
        entry = self._entry(payload, step)
        self.store.transition(case["case_id"], expected={waiting}, guard=("last_entry", entry),
                              attrs={"task_token": "", "last_entry": entry},
                              history={"state": state, "actor": actor, "note": note,
                                       **({"claim_id": claim_id} if claim_id else {})},
                              remove=("claim",))

    def _after_decision(self, case: Mapping[str, Any], verdicts: Mapping[str, Any]) -> None:
        """A decided case takes no more findings (the user's next finding opens a new case), and its
        per-rule verdicts count towards the rules' precision (once). Both are safe to repeat."""
        self.store.release_user(str(case["user_id"]), str(case["case_id"]))
        flat = {rule: str(v.get("decision")) for rule, v in verdicts.items() if isinstance(v, Mapping)}
        if flat:
            self.store.count_rule_decisions(str(case["case_id"]), flat)

    def _close_unfounded(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        if case.get("decision") != "unfounded":
            raise InvalidTransition(f"case {case['case_id']} was not decided unfounded")
        return self._close(case, CLOSED_UNFOUNDED, "closed: unfounded (a false positive of its rules)")

    def _open_er_case(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        er_type = case.get("er_type")
        if case.get("decision") != "founded" or not er_type:
            raise InvalidTransition(f"case {case['case_id']} was not decided founded with an ER case type")
        self._advance(case, expected={DECIDED}, status=ER_CASE,
                      attrs={"er_opened_at": now_iso(), "police_referral": False},
                      note=f"Employment Relations case opened: {er_type}")
        return {"er_type": er_type, "police_referral_required": er_type in self.vocabulary.police_referral_types}

    def _await_outcome(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        attrs = {"task_token": payload["task_token"], "waiting_since": now_iso()}
        return self._hold_token(case, payload, attrs, waiting=AWAITING_OUTCOME, after={ER_CASE},
                                note="awaiting the Employment Relations outcome")

    def _record_outcome(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        sent = payload.get("outcome")
        sent = sent if isinstance(sent, dict) else {}
        outcome = sent.get("outcome")
        actor = str(sent.get("actor") or "unknown")[:MAX_ACTOR_CHARS]
        note = str(sent.get("note") or "")[:2000]
        claim_id = str(sent.get("claim_id") or "")
        if reached(str(case.get("status", "")), OUTCOME_RECORDED):  # a retry after the outcome was recorded
            return {"accepted": True, "outcome": case.get("outcome")}
        problem = outcome_problem(outcome, self.vocabulary) or claim_problem(case, sent, OUTCOME)
        if problem is None and case.get("status") == AWAITING_OUTCOME:
            history = {"state": OUTCOME_RECORDED, "actor": actor, "note": note, "outcome": outcome,
                       "claim_id": claim_id}
            if self.store.transition(case["case_id"], expected={AWAITING_OUTCOME}, status=OUTCOME_RECORDED,
                                     attrs={"outcome": outcome, "outcome_at": now_iso(), "outcome_by": actor,
                                            "outcome_note": note, "task_token": "", "outcome_claim_id": claim_id},
                                     history=history, claim_id=claim_id, remove=("claim",)):
                return {"accepted": True, "outcome": outcome}
            fresh = self._get(case["case_id"])
            if reached(str(fresh.get("status", "")), OUTCOME_RECORDED):
                return {"accepted": True, "outcome": fresh.get("outcome")}
            case, problem = fresh, "the case changed while its outcome was recorded: send it again"
        self._reject(case, payload, "record_outcome", waiting=AWAITING_OUTCOME, state="outcome_rejected",
                     actor=actor, note=problem or "the case was not waiting for an outcome", claim_id=claim_id)
        return {"accepted": False, "outcome": "rejected"}

    def _refer_to_police(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        moved = self.store.transition(
            case["case_id"], expected={OUTCOME_RECORDED}, guard=("police_referral", True),
            attrs={"police_referral": True, "police_referred_at": now_iso()},
            history={"state": "police_referral", "actor": SYSTEM_ACTOR,
                     "note": f"referred to the Police ({case.get('er_type')})"},
        )
        if not moved and self._get(case["case_id"]).get("police_referral") is not True:
            raise InvalidTransition(f"case {case['case_id']} is {case.get('status')}, cannot refer to the Police")
        return {"police_referral": True}

    def _close_founded(self, case: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        return self._close(case, CLOSED_FOUNDED, f"closed: founded, outcome {case.get('outcome')}")

    def _close(self, case: dict[str, Any], status: str, note: str) -> dict[str, Any]:
        expected = {DECIDED} if status == CLOSED_UNFOUNDED else {OUTCOME_RECORDED}
        attrs: dict[str, Any] = {"closed_at": now_iso(), "task_token": ""}
        if status == CLOSED_UNFOUNDED:
            attrs["police_referral"] = False
        self._advance(case, expected=expected, status=status, attrs=attrs, note=note)
        # A closed case takes no more findings (also on a retry, should the first release have failed).
        self.store.release_user(str(case["user_id"]), str(case["case_id"]))
        return {"status": status}
