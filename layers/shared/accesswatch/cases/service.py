"""What people do with cases (list, show, decide, record an outcome, rule precision), over the stores.

The CLI builds one of these for the deployment it acts on (the local endpoint or a stack on AWS);
the calls are the same ordinary AWS calls either way: DynamoDB reads, ``lambda:GetFunctionConfiguration``
for the accepted words, a conditional write that claims the waiting step (``CaseStore.claim_action``), and
``states:SendTaskSuccess`` with the task token the waiting execution stored.

Acting is compare-and-set: the claim is written before the token is sent, so of two people acting on one
case at once exactly one sends; the other gets ``CaseActionError`` ("already being decided by ...",
"already decided by ... at ..."). Success is reported only once the case's history records the action
made under this very claim (its ``claim_id``), and what is returned is the case as stored then.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accesswatch.cases.actions import (
    CLAIM_TTL_SECONDS,
    DECISION,
    OUTCOME,
    WAITING_FOR,
    WAITING_FOR_DECISION,
    WAITING_FOR_OUTCOME,
    CaseActionError,
    claimed_message,
    decision_output,
    done_message,
    live_claim,
    new_claim,
    outcome_output,
)
from accesswatch.cases.assign import scored_parts
from accesswatch.cases.precision import RulePrecision, rule_precision
from accesswatch.cases.scoring import combine
from accesswatch.cases.sources import SOURCES
from accesswatch.cases.vocabulary import CaseVocabulary
from accesswatch.cases.workflow import CLOSED, STATUSES
from accesswatch.dal.cases import CaseStore, CaseTasks, TaskNotSent, TaskTokenSpent
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import now_iso

# Where a case rests after a person acted: closed, or waiting on a person again with a new token.
_SETTLE_POLL_S = 0.1
# Data contract v2: at least these, in this order.
CASE_FIELDS = ("case_id", "user_id", "status", "priority", "score", "tier", "rules", "client_ids", "finding_ids",
               "opened_at")
CASE_DETAIL_FIELDS = (
    "trigger", "source", "route", "finding_count", "first_occurred_at", "last_occurred_at", "decision",
    "decision_reason", "rule_decisions", "decided_at", "decided_by", "decision_note", "er_type", "er_opened_at",
    "outcome", "outcome_at", "outcome_by", "outcome_note", "police_referral", "police_referred_at", "closed_at",
    "escalations", "decision_due_at", "sources", "opened_by", "source_note", "source_client_ids", "source_from", "source_to",
    "assignee", "assigned_at", "assigned_by", "reopens", "reopened_at", "reopened_by", "amendments", "amended_at",
    "amended_by",
)
PRIORITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
SHOWN_FINDINGS = 20  # a case page shows the strongest findings first, this many unless asked for more
FINDING_FIELDS = ("finding_id", "rule", "severity", "occurred_at", "event_id", "system", "explanation", "evidence")
HISTORY_FIELDS = ("at", "state", "actor", "note")


# A status filter may name a group: every open status, or both closed ones.
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "open": tuple(s for s in STATUSES if s not in CLOSED),
    "closed": tuple(s for s in STATUSES if s in CLOSED),
}
TIERS = ("immediate", "accumulate")


class FilterError(ValueError):
    """A filter value that names nothing (an unknown status, priority or tier): said with the valid ones."""


def _one_of(what: str, value: str | None, valid: Sequence[str]) -> str | None:
    if value is None:
        return None
    word = value.strip().lower()
    if word not in valid:
        raise FilterError(f"unknown {what} {value!r}; one of {', '.join(valid)}")
    return word


@dataclass(frozen=True)
class CaseFilter:
    """Which cases to list. Values are checked (``FilterError`` names the valid ones; statuses, priorities and
    tiers in any case); ``status`` may be a status or a group of them (``STATUS_GROUPS``: open, closed)."""

    status: str | None = None
    user: str | None = None
    rule: str | None = None
    priority: str | None = None
    tier: str | None = None
    client: str | None = None
    assignee: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", _one_of("status", self.status, (*STATUSES, *STATUS_GROUPS)))
        object.__setattr__(self, "source", _one_of("source", self.source, SOURCES))
        object.__setattr__(self, "priority", _one_of("priority", self.priority, tuple(PRIORITY_RANK)))
        object.__setattr__(self, "tier", _one_of("tier", self.tier, TIERS))

    @property
    def statuses(self) -> tuple[str, ...] | None:
        """The statuses the filter accepts (None: any)."""
        if self.status is None:
            return None
        return STATUS_GROUPS.get(self.status, (self.status,))

    def __call__(self, case: Mapping[str, Any]) -> bool:
        statuses = self.statuses
        return ((statuses is None or case.get("status") in statuses)
                and (self.user is None or case.get("user_id") == self.user)
                and (self.rule is None or self.rule in (case.get("rules") or ()))
                and (self.priority is None or case.get("priority") == self.priority)
                and (self.tier is None or case.get("tier") == self.tier)
                and (self.client is None or self.client in (case.get("client_ids") or ()))
                and (self.assignee is None or case.get("assignee") == self.assignee)
                and (self.source is None or str(case.get("source") or "detection") == self.source
                     or self.source in (case.get("sources") or ())))


def rank_key(case: Mapping[str, Any]) -> tuple[Any, ...]:
    """Open cases first, then by priority, then by score (highest first), then the oldest."""
    closed = str(case.get("status", "")).startswith("closed")
    return (closed, PRIORITY_RANK.get(str(case.get("priority")), 9), -float(case.get("score") or 0),
            str(case.get("opened_at", "")), str(case["case_id"]))


def case_record(case: Mapping[str, Any]) -> dict[str, Any]:
    """A case as ``cases.jsonl`` and ``cases list --json`` give it (the task token is never shown)."""
    out: dict[str, Any] = {f: case.get(f) for f in CASE_FIELDS}
    out["score"] = round(float(case.get("score") or 0), 4)
    out["rules"] = sorted(case.get("rules") or [])
    out["client_ids"] = sorted(case.get("client_ids") or [])
    out["finding_ids"] = sorted(case.get("finding_ids") or [])
    for f in CASE_DETAIL_FIELDS:
        if case.get(f) not in (None, ""):
            out[f] = case[f]
    return out


def finding_record(finding: Mapping[str, Any]) -> dict[str, Any]:
    out = {f: finding.get(f) for f in FINDING_FIELDS}
    if isinstance(out.get("evidence"), str):
        text = out["evidence"]
        out["evidence"] = json.loads(text) if text else {}
    return out


def history_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = {f: entry.get(f, "") for f in HISTORY_FIELDS}
    for key in ("decision", "er_type", "reason", "outcome", "finding_ids", "source", "request_id", "client_ids",
                "assignee", "previous_assignee", "field", "from", "to", "previous_status"):
        if entry.get(key):
            out[key] = entry[key]
    return out


@dataclass
class CaseService:
    cases: CaseStore
    findings: FindingStore
    tasks: CaseTasks
    load_vocabulary: Callable[[], CaseVocabulary]
    settle_timeout_s: float = 60.0
    claim_ttl_s: float = CLAIM_TTL_SECONDS
    _vocabulary: CaseVocabulary | None = field(default=None, init=False)

    @property
    def vocabulary(self) -> CaseVocabulary:
        if self._vocabulary is None:
            self._vocabulary = self.load_vocabulary()
        return self._vocabulary

    # ------------------------------------------------------------------ reading
    def find(self, where: CaseFilter = CaseFilter()) -> list[dict[str, Any]]:
        statuses = where.statuses
        source: Iterable[dict[str, Any]] = (
            (c for status in statuses for c in self.cases.cases_with_status(status)) if statuses
            else self.cases.scan_cases())
        return sorted((c for c in source if where(c)), key=rank_key)

    def get(self, case_id: str) -> dict[str, Any]:
        case = self.cases.get(case_id)
        if case is None:
            raise CaseActionError(f"no case {case_id}")
        return case

    def show(self, case_id: str, *, limit: int | None = SHOWN_FINDINGS) -> dict[str, Any]:
        """The case, its score broken down, its strongest findings (``limit``; None: all) with their
        explanations grouped by client and rule, and its history (oldest first)."""
        case = self.get(case_id)
        breakdown = combine(scored_parts(case.get("parts") or []))
        ranked = [c.finding_id for c in breakdown.contributions]
        shown_ids = ranked if limit is None else ranked[:limit]
        found = {f["finding_id"]: f for f in (self.findings.get(i) for i in shown_ids) if f}
        points = {c.finding_id: c for c in breakdown.contributions}
        findings = []
        for fid in shown_ids:
            if fid in found:
                record = finding_record(found[fid])
                record["points"] = round(points[fid].points, 4)
                record["score"] = round(points[fid].score, 4)
                record["client_id"] = found[fid].get("client_id")
                record["modifiers"] = [m for m in str(found[fid].get("modifiers") or "").split(",") if m]
                findings.append(record)
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for c in breakdown.contributions:
            group = groups.setdefault((c.client_id, c.rule), {"client_id": c.client_id, "rule": c.rule,
                                                               "findings": 0, "points": 0.0})
            group["findings"] += 1
            group["points"] = round(group["points"] + c.points, 4)
        execution = case.get("execution_arn")
        return {**case_record(case),
                "execution_status": self.tasks.execution_status(execution) if execution else None,
                "score_breakdown": {"total": round(breakdown.total, 4), "by_rule": breakdown.by_rule(),
                                    "by_client_and_rule": sorted(groups.values(),
                                                                 key=lambda g: (-g["points"], g["client_id"], g["rule"]))},
                "findings_shown": len(findings), "findings_total": len(ranked),
                "findings": findings,
                "history": [history_record(h) for h in self.cases.history(case_id)]}

    def precision(self) -> list[RulePrecision]:
        return rule_precision(self.cases.scan_cases())

    def rule_counts(self) -> dict[str, tuple[int, int]]:
        """rule -> (founded, unfounded) as detection reads them to scale the weights."""
        return self.cases.rule_stats()

    # ------------------------------------------------------------------ acting
    # A claim attempt that finds the case moved to a new token (an escalation between the read and the
    # write) reads the case again and tries once more, this many times at most.
    _CLAIM_ATTEMPTS = 3

    def decide(self, case_id: str, *, decision: str, er_type: str | None, note: str, actor: str,
               reason: str | None = None, unfounded_rules: Mapping[str, str] | None = None,
               founded_rules: Sequence[str] | None = None, settle: bool = True) -> dict[str, Any]:
        def build(case: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
            return decision_output(case, decision=decision, er_type=er_type, note=note, actor=actor,
                                   vocabulary=self.vocabulary, reason=reason, unfounded_rules=unfounded_rules,
                                   founded_rules=founded_rules)

        return self._act(case_id, DECISION, build, settle=settle)

    def record_outcome(self, case_id: str, *, outcome: str, note: str, actor: str,
                       settle: bool = True) -> dict[str, Any]:
        def build(case: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
            return outcome_output(case, outcome=outcome, note=note, actor=actor, vocabulary=self.vocabulary)

        return self._act(case_id, OUTCOME, build, settle=settle)

    def _act(self, case_id: str, kind: str,
             build: Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]], *, settle: bool = True) -> dict[str, Any]:
        """Check, claim, send, and wait for the workflow to record it (see the module's docstring).

        ``settle=False`` (the console): return the case as soon as the token is sent and the claim marked sent,
        without waiting; the claim keeps others from acting until the workflow takes the step, and the case's
        history then says whether it was recorded or rejected. A web request must not wait on another
        function: on the local runtime, functions run one at a time."""
        waiting = WAITING_FOR[kind]
        for _ in range(self._CLAIM_ATTEMPTS):
            case = self.get(case_id)
            token, output = build(case)  # CaseActionError: not waiting, decided, claimed by another, invalid
            claim = new_claim(kind, token, output, ttl_s=self.claim_ttl_s)
            if self.cases.claim_action(case_id, waiting=waiting, token=token, claim=claim, now=claim["at"]):
                break
            # Lost the compare-and-set: the next read says to whom (or, if the case moved to a new token, tries again).
        else:
            raise CaseActionError(f"case {case_id} kept changing while it was claimed; see `accesswatch cases show "
                                  f"{case_id}` and try again")
        claim_id = str(claim["claim_id"])
        try:
            self.tasks.complete(token, {**output, "claim_id": claim_id})
        except TaskTokenSpent:
            # On AWS a used token fails (TaskTimedOut, InvalidToken): someone else's action or the deadline took it.
            self.cases.release_claim(case_id, claim_id)
            raise CaseActionError(self._spent_message(case_id, kind)) from None
        except TaskNotSent as exc:
            # Step Functions answered with an error: nothing was taken, so the claim is released for others at
            # once. (Any other failure, a lost connection or a killed process, leaves the claim to lapse: whether
            # the token reached the workflow is unknown.)
            self.cases.release_claim(case_id, claim_id)
            raise CaseActionError(f"case {case_id}: the {kind} was not sent ({exc}); nothing changed") from None
        self.cases.mark_claim_sent(case_id, claim_id, now_iso())
        if not settle:
            return self.get(case_id)
        return self._settled(case_id, token, waiting, kind, claim_id)

    def _spent_message(self, case_id: str, kind: str) -> str:
        case = self.get(case_id)
        done = done_message(case, kind)
        if done:
            return f"{done} (it is no longer waiting on that step: its task token is spent)"
        claim = live_claim(case)
        if claim is not None:
            return claimed_message(case, claim)
        return (f"case {case_id} is no longer waiting on that step (its task token is spent or expired); "
                f"see `accesswatch cases show {case_id}`")

    def _settled(self, case_id: str, token: str, waiting: str, kind: str, claim_id: str) -> dict[str, Any]:
        """The case once the workflow has taken the step: closed, or waiting on a person again; returned only
        if it recorded this very action (the claim ``claim_id``), else CaseActionError.

        Waiting again on the same step means what was sent was not taken: the workflow rejected it,
        or the investigation deadline passed as it was sent. Either is an error for the person."""
        deadline = time.monotonic() + self.settle_timeout_s
        recorded_key = "decision_claim_id" if kind == DECISION else "outcome_claim_id"
        what = "decision" if kind == DECISION else "outcome"
        while True:
            case = self.get(case_id)
            status = case.get("status")
            # Resting, and its history written (a step parks its entry on the case, then appends it).
            resting = (status in CLOSED or (
                status in (WAITING_FOR_DECISION, WAITING_FOR_OUTCOME)
                and case.get("task_token") and case.get("task_token") != token)) and not case.get("pending_history")
            if resting or time.monotonic() > deadline:
                break
            time.sleep(_SETTLE_POLL_S)
        if case.get(recorded_key) == claim_id:
            if any(h.get("claim_id") == claim_id and h.get("state") in ("decided", "outcome_recorded")
                   for h in self.cases.history(case_id)):
                return case
        elif case.get(recorded_key):  # cannot happen while claims hold; said plainly should it ever
            raise CaseActionError(done_message(case, kind) or f"case {case_id}: another {what} was recorded")
        if resting and status == waiting:
            mine = [h for h in self.cases.history(case_id) if h.get("claim_id") == claim_id
                    and str(h.get("state", "")).endswith("_rejected")]
            if mine:
                raise CaseActionError(f"case {case_id}: the workflow rejected the {what}: {mine[-1].get('note')}")
            raise CaseActionError(f"case {case_id}: the {what} was not recorded (the investigation deadline "
                                  f"passed as it was sent); send it again")
        raise CaseActionError(f"case {case_id}: the {what} was sent, but the workflow has not finished recording it "
                              f"within {self.settle_timeout_s:g}s; see `accesswatch cases show {case_id}`")
