"""Working a case as a team does: assign it, add notes, amend a recorded decision or outcome, reopen it.

Every action is an append-only history entry (a conditional put that never replaces an entry) written in
the same transaction as the change it makes to the case item (``CaseStore.transition``), so the history and
the case never disagree. Who acts is the authenticated caller (the CLI passes it in). What each does:

- **assign** (``assignee``, ``assigned_at``, ``assigned_by``; entry ``assigned``): at any status; assigning
  to whoever has it already changes nothing.
- **note** (entry ``note``): at any status, before a decision too; the case item does not change.
- **amend** (entry ``amended``: ``field``, ``from``, ``to``; the reason is its note): corrects what was
  recorded without moving the case along another path: the ER outcome (``outcome``, once recorded), the ER
  case type (``er_type``, on a founded case, between types that agree on a Police referral), or the reason of an unfounded decision (``decision_reason``
  and every rule's reason). The change is made only if the case still records what the person saw
  (``equals``). Reports count what the case records now, so an amended outcome moves in Tables 2 and 3.
  Turning a founded decision into an unfounded one (or back) changes the path (an ER case or none):
  that is a reopen and a new decision.
- **reopen** (entry ``reopened``; ``reopens``, ``reopened_at``, ``reopened_by``): a closed case becomes
  undecided again. It first claims the user's open-case pointer (one open case per user: refused while the
  user has another open case), then moves the case to ``reopened`` and removes its decision and outcome
  (kept in the history), takes its per-rule verdicts out of the rules' precision counts, and starts a new
  execution of the case state machine named ``<case>-reopen-<n>`` that enters at AwaitDecision (the ASL's
  ``Resume`` choice): the case waits for a decision again, with a fresh deadline, and findings join it.
  Safe to repeat: a case already ``reopened`` only has its execution started (by name, once; after a failed
  run, the next ``<case>-reopen-<n>-redrive-<k>``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accesswatch.cases import MAX_NOTE_CHARS
from accesswatch.cases.actions import CaseActionError
from accesswatch.cases.vocabulary import UNFOUNDED_REASONS, CaseVocabulary
from accesswatch.cases.workflow import (
    AWAITING_OUTCOME,
    CLOSED,
    CLOSED_FOUNDED,
    CLOSED_UNFOUNDED,
    ER_CASE,
    OUTCOME_RECORDED,
    REOPENED,
    STATUSES,
)
from accesswatch.dal.cases import UNDECIDED, CaseStore, ConcurrentUpdate
from accesswatch.dal.executions import FAILED_STATES, Executions, execution_arn
from accesswatch.dal.ledger import now_iso

# How often ``reopen`` starts a reopened case's execution again after it failed (``-redrive-<k>``).
MAX_ROUND_REDRIVES = 5
# An investigator's login (an IAM role session name or user name, or a local user): ids, never a full name.
_ASSIGNEE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+=,/-]{0,127}$")
# What a reopen removes from the case (the history keeps every one of them).
DECISION_FIELDS = ("decision", "decision_reason", "rule_decisions", "decided_at", "decided_by", "decision_note",
                   "decision_claim_id", "er_type", "er_opened_at", "outcome", "outcome_at", "outcome_by",
                   "outcome_note", "outcome_claim_id", "closed_at", "decision_due_at", "claim")
# Which statuses may amend which field.
AMENDABLE: dict[str, frozenset[str]] = {
    "outcome": frozenset({OUTCOME_RECORDED, CLOSED_FOUNDED}),
    "er_type": frozenset({ER_CASE, AWAITING_OUTCOME, OUTCOME_RECORDED, CLOSED_FOUNDED}),
    "decision_reason": frozenset({CLOSED_UNFOUNDED}),
}


def reopen_execution_name(case_id: str, reopens: int) -> str:
    return f"{case_id}-reopen-{reopens}"


def case_of_execution(name: str) -> str:
    """The case an execution of the case state machine runs: its name is the case id, or the case id then
    ``-reopen-<n>`` (a reopened case) and/or ``-redrive-<k>`` (``accesswatch redrive``, a failed reopen)."""
    return name.split("-redrive-")[0].split("-reopen-")[0]


def check_text(what: str, text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise CaseActionError(f"{what} is required")
    if len(text) > MAX_NOTE_CHARS:
        raise CaseActionError(f"{what} is {len(text)} characters; at most {MAX_NOTE_CHARS}")
    return text


def check_assignee(assignee: str) -> str:
    assignee = (assignee or "").strip()
    if not _ASSIGNEE.match(assignee):
        raise CaseActionError(f"--to {assignee!r} is not a login (letters, digits and _.@+=,/- only, at most 128): "
                              "name the investigator by their login, not their name")
    return assignee


@dataclass
class CaseTeamwork:
    cases: CaseStore
    executions: Executions | None = None
    case_state_machine_arn: str = ""

    def _get(self, case_id: str) -> dict[str, Any]:
        case = self.cases.get(case_id)
        if case is None:
            raise CaseActionError(f"no case {case_id}")
        return case

    # ------------------------------------------------------------------ assign and note
    def assign(self, case_id: str, *, assignee: str, actor: str, note: str = "") -> dict[str, Any]:
        assignee = check_assignee(assignee)
        case = self._get(case_id)
        previous = str(case.get("assignee") or "")
        if previous == assignee:
            raise CaseActionError(f"case {case_id} is already assigned to {assignee}")
        history = {"state": "assigned", "actor": actor, "assignee": assignee,
                   "note": note.strip()[:MAX_NOTE_CHARS] or (f"assigned to {assignee}"
                                                             + (f" (was {previous})" if previous else "")),
                   **({"previous_assignee": previous} if previous else {})}
        moved = self.cases.transition(case_id, expected=STATUSES, guard=("assignee", assignee),
                                      attrs={"assignee": assignee, "assigned_at": now_iso(), "assigned_by": actor},
                                      history=history)
        if not moved:
            raise CaseActionError(f"case {case_id} changed while it was assigned (now assigned to "
                                  f"{self._get(case_id).get('assignee') or 'nobody'}); see `accesswatch cases show`")
        return self._get(case_id)

    def note(self, case_id: str, *, text: str, actor: str) -> dict[str, Any]:
        text = check_text("--note", text)
        self._get(case_id)
        self.cases.append_history(case_id, state="note", actor=actor, note=text)
        return self._get(case_id)

    # ------------------------------------------------------------------ amend
    def amend(self, case_id: str, *, actor: str, reason: str, vocabulary: CaseVocabulary,
              outcome: str | None = None, er_type: str | None = None, unfounded_reason: str | None = None,
              decision: str | None = None) -> dict[str, Any]:
        """Correct one recorded field (see the module's docstring); CaseActionError with one line otherwise."""
        reason = check_text("--reason", reason)
        case = self._get(case_id)
        status = str(case.get("status", ""))
        if decision is not None and decision != case.get("decision"):
            raise CaseActionError(
                f"case {case_id} is decided {case.get('decision') or 'nothing yet'}: a decision of another kind "
                f"changes the case's path (an ER case or none); reopen it (`accesswatch cases reopen {case_id} "
                f"--reason ...`) and decide it again")
        wanted = {k: v for k, v in (("outcome", outcome), ("er_type", er_type),
                                    ("decision_reason", unfounded_reason)) if v is not None}
        if len(wanted) != 1:
            raise CaseActionError("amend one thing at a time: --outcome, --er-type or --unfounded-reason")
        field, value = next(iter(wanted.items()))
        valid = {"outcome": vocabulary.outcomes, "er_type": vocabulary.er_types,
                 "decision_reason": UNFOUNDED_REASONS}[field]
        if value not in valid:
            raise CaseActionError(f"unknown {field.replace('_', ' ')} {value!r}; one of {', '.join(valid)}")
        if status not in AMENDABLE[field]:
            raise CaseActionError(f"case {case_id} is {status}: its {field.replace('_', ' ')} can be amended only "
                                  f"when it is {' or '.join(sorted(AMENDABLE[field]))}")
        old = case.get(field)
        police = vocabulary.police_referral_types
        if field == "er_type" and (old in police) != (value in police):
            raise CaseActionError(f"case {case_id}: ER type {old} -> {value} changes whether the case goes to the "
                                  f"Police ({', '.join(sorted(police))}): that changes its path; reopen it and decide "
                                  "it again")
        if old == value:
            raise CaseActionError(f"case {case_id} already records {field} {value}")
        attrs: dict[str, Any] = {field: value, "amended_at": now_iso(), "amended_by": actor,
                                 "amendments": int(case.get("amendments") or 0) + 1}
        if field == "decision_reason":
            attrs["rule_decisions"] = {rule: {**dict(v), "reason": value} if v.get("decision") == "unfounded"
                                       else dict(v) for rule, v in (case.get("rule_decisions") or {}).items()
                                       if isinstance(v, Mapping)}
        history = {"state": "amended", "actor": actor, "note": reason, "field": field, "from": str(old or ""),
                   "to": value}
        if not self.cases.transition(case_id, expected=AMENDABLE[field], attrs=attrs, history=history,
                                     equals={field: old} if old is not None else None,
                                     guard=None if old is not None else (field, value)):
            raise CaseActionError(f"case {case_id} changed while it was amended; see `accesswatch cases show "
                                  f"{case_id}` and try again")
        return self._get(case_id)

    # ------------------------------------------------------------------ reopen
    def reopen(self, case_id: str, *, actor: str, reason: str) -> dict[str, Any]:
        reason = check_text("--reason", reason)
        if self.executions is None or not self.case_state_machine_arn:
            raise CaseActionError("reopening needs the case state machine")
        case = self._get(case_id)
        status = str(case.get("status", ""))
        user_id = str(case["user_id"])
        if status not in CLOSED and status != REOPENED:
            raise CaseActionError(f"case {case_id} is {status}: only a closed case can be reopened "
                                  "(an open one is still being worked: add a note, or amend)")
        if status != REOPENED:
            self._claim_user(case)
            reopens = int(case.get("reopens") or 0) + 1
            history = {"state": REOPENED, "actor": actor, "note": reason, "previous_status": status,
                       **{k: str(case[k]) for k in ("decision", "er_type", "decision_reason", "outcome")
                          if case.get(k)}}
            if not self.cases.transition(case_id, expected={status}, status=REOPENED,
                                         attrs={"reopens": reopens, "reopened_at": now_iso(), "reopened_by": actor,
                                                "task_token": "", "escalations": 0},
                                         history=history, remove=DECISION_FIELDS):
                fresh = self._get(case_id)
                if str(fresh.get("status", "")) in UNDECIDED:  # another person reopened it first: theirs stands
                    raise CaseActionError(f"case {case_id} was reopened by {fresh.get('reopened_by')} at "
                                          f"{fresh.get('reopened_at')}; it is {fresh.get('status')}")
                self.cases.release_user(user_id, case_id)
                raise CaseActionError(f"case {case_id} changed while it was reopened; see `accesswatch cases show "
                                      f"{case_id}`")
            verdicts = case.get("rule_decisions") or {}
            self.cases.uncount_rule_decisions(case_id, [str(r) for r in verdicts])
            case = self._get(case_id)
        arn = self._start_round(case_id, int(case.get("reopens") or 1))
        self.cases.update(case_id, execution_arn=arn)
        return self._get(case_id)

    def _start_round(self, case_id: str, reopens: int) -> str:
        """Start the reopened case's execution, once by name; if it ran and failed (its step failed past its
        retries: the case dead-letter queue has it), the next ``-redrive-<k>`` of it, so that reopening again
        is how a person retries a failed reopen."""
        assert self.executions is not None
        name = reopen_execution_name(case_id, reopens)
        payload = {"case_id": case_id, "resume_at": "AwaitDecision"}
        for attempt in range(MAX_ROUND_REDRIVES + 1):
            candidate = name if attempt == 0 else f"{name}-redrive-{attempt}"
            status = self.executions.status(execution_arn(self.case_state_machine_arn, candidate))
            if status not in FAILED_STATES:  # missing (start it), running or finished: this is the round's run
                return self.executions.start(self.case_state_machine_arn, candidate, payload)
        raise CaseActionError(f"case {case_id}: its reopened workflow failed {MAX_ROUND_REDRIVES + 1} times; "
                              "see the case dead-letter queue (docs/operations.md)")

    def _claim_user(self, case: Mapping[str, Any]) -> None:
        """Make the reopened case the user's open case: refused while the user has another open case."""
        case_id, user_id = str(case["case_id"]), str(case["user_id"])
        for _attempt in range(3):
            try:
                self.cases.claim_user(user_id, case_id, "reopened")
                return
            except ConcurrentUpdate:
                pointer = self.cases.open_pointer(user_id)
                if pointer is None:
                    continue
                other = str(pointer["case_id"])
                if other == case_id:
                    return
                held = self.cases.get(other)
                if held is not None and str(held.get("status", "")) not in UNDECIDED:
                    self.cases.release_user(user_id, other)  # a stale pointer: the other case is decided
                    continue
                raise CaseActionError(f"user {user_id} has open case {other}: one open case per user; add to that "
                                      f"case (`accesswatch cases note {other}`) or decide it before reopening "
                                      f"{case_id}") from None
        raise CaseActionError(f"could not claim user {user_id}'s open case for {case_id}; try again")
