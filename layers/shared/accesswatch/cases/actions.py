"""What a person may do to a case, and the checks both the CLI and the state machine make.

A decision or an outcome travels from the CLI to the waiting execution as the task token's output
(``decision_output`` / ``outcome_output``); the state machine's record step checks it again
(``decision_problem`` / ``outcome_problem``), so a hand-made ``send-task-success`` cannot put a
case into a state the workflow does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accesswatch.cases.vocabulary import DECISIONS, CaseVocabulary

WAITING_FOR_DECISION = "investigating"
WAITING_FOR_OUTCOME = "awaiting_outcome"
MAX_NOTE_CHARS = 2000
MAX_ACTOR_CHARS = 128


class CaseActionError(ValueError):
    """A person's action cannot be applied to the case; the message is one line for the CLI."""


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _check_text(note: str, actor: str) -> None:
    if not actor.strip():
        raise CaseActionError("--actor must not be empty")
    if len(actor) > MAX_ACTOR_CHARS:
        raise CaseActionError(f"--actor is longer than {MAX_ACTOR_CHARS} characters")
    if len(note) > MAX_NOTE_CHARS:
        raise CaseActionError(f"--note is longer than {MAX_NOTE_CHARS} characters")


def _waiting(case: Mapping[str, Any], status: str, what: str, hint: str) -> str:
    case_id = case.get("case_id", "?")
    current = str(case.get("status", ""))
    if current != status:
        raise CaseActionError(f"case {case_id} is {current or 'without a status'}, not waiting for {what}{hint}")
    token = case.get("task_token")
    if not token:
        raise CaseActionError(f"case {case_id} is between steps (not yet holding a task token); try again shortly")
    return str(token)


def decision_problem(decision: Any, er_type: Any, vocabulary: CaseVocabulary) -> str | None:
    """Why (decision, er_type) cannot be accepted, or None."""
    if decision not in DECISIONS:
        return f"decision must be one of {_one_of(DECISIONS)}"
    if decision == "founded":
        if er_type not in vocabulary.er_types:
            return f"a founded decision needs an ER case type, one of {_one_of(vocabulary.er_types)}"
    elif er_type not in (None, ""):
        return "an unfounded decision takes no ER case type"
    return None


def outcome_problem(outcome: Any, vocabulary: CaseVocabulary) -> str | None:
    if outcome not in vocabulary.outcomes:
        return f"outcome must be one of {_one_of(vocabulary.outcomes)}"
    return None


def decision_output(case: Mapping[str, Any], *, decision: str, er_type: str | None, note: str, actor: str,
                    vocabulary: CaseVocabulary) -> tuple[str, dict[str, Any]]:
    """(task token, output) to complete the case's investigation with; CaseActionError if it cannot."""
    token = _waiting(case, WAITING_FOR_DECISION, "a decision", _hint(case))
    problem = decision_problem(decision, er_type, vocabulary)
    if problem:
        raise CaseActionError(problem)
    _check_text(note, actor)
    return token, {"decision": decision, "er_type": er_type or "", "note": note, "actor": actor}


def outcome_output(case: Mapping[str, Any], *, outcome: str, note: str, actor: str,
                   vocabulary: CaseVocabulary) -> tuple[str, dict[str, Any]]:
    token = _waiting(case, WAITING_FOR_OUTCOME, "an ER outcome", _hint(case))
    problem = outcome_problem(outcome, vocabulary)
    if problem:
        raise CaseActionError(problem)
    _check_text(note, actor)
    return token, {"outcome": outcome, "note": note, "actor": actor}


def _hint(case: Mapping[str, Any]) -> str:
    status = case.get("status")
    if status == WAITING_FOR_OUTCOME:
        return " (it awaits an ER outcome: use `accesswatch cases outcome`)"
    if status == WAITING_FOR_DECISION:
        return " (it awaits a decision: use `accesswatch cases decide`)"
    if str(status).startswith("closed"):
        return " (it is closed)"
    return ""
