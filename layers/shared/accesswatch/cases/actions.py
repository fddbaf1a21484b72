"""What a person may do to a case, and the checks both the CLI and the state machine make.

A decision or an outcome travels from the CLI to the waiting execution as the task token's output
(``decision_output`` / ``outcome_output``); the state machine's record step checks it again
(``decision_problem`` / ``outcome_problem``), so a hand-made ``send-task-success`` cannot put a
case into a state the workflow does not know.

**Compare-and-set.** Before it sends the task token, the CLI *claims* the case with one conditional
write (``new_claim``; ``CaseStore.claim_action``): the case must still wait on that step, hold the
same token, and carry no live claim. Of two people acting at once exactly one claim succeeds; the
other is told who holds the case (``claimed_message``) or who already decided it (``done_message``)
and nothing of theirs is sent. The claim names the token it was made for (``token_ref``), its actor
and time, and the action itself; the output sent carries its ``claim_id``, and the record step
records the action only if it is exactly the claimed one (``claim_problem``), otherwise it refuses it
(``decision_rejected`` / ``outcome_rejected``, in the history). A claim stops blocking when the token
it was made for is no longer the case's (the step was taken, rejected, or escalated), or, if its
token was never sent (the CLI died between claim and send), ``CLAIM_TTL_SECONDS`` after it was made.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from accesswatch.cases import MAX_NOTE_CHARS
from accesswatch.cases.vocabulary import DECISIONS, UNFOUNDED_REASONS, CaseVocabulary
from accesswatch.quarters import nz_time

WAITING_FOR_DECISION = "investigating"
WAITING_FOR_OUTCOME = "awaiting_outcome"
# An actor is the authenticated caller (docs/cases.md, "Who acts"): an IAM identity such as
# assumed-role/<role, up to 64>/<session, up to 64>, or the local OS user.
MAX_ACTOR_CHARS = 200

# What a claim is for (``claim.kind``) and the fields of the action it fixes: the record step records
# exactly these, and refuses an output whose fields differ from the claim's.
DECISION = "decision"
OUTCOME = "outcome"
CLAIMED_FIELDS: dict[str, tuple[str, ...]] = {
    DECISION: ("decision", "er_type", "reason", "rule_decisions", "note", "actor"),
    OUTCOME: ("outcome", "note", "actor"),
}
WAITING_FOR: dict[str, str] = {DECISION: WAITING_FOR_DECISION, OUTCOME: WAITING_FOR_OUTCOME}
# How long a claim whose token was never sent blocks others: sending takes well under a second, so a
# claim this old without ``sent_at`` belongs to a CLI that died between claim and send.
CLAIM_TTL_SECONDS = 120


class CaseActionError(ValueError):
    """A person's action cannot be applied to the case; the message is one line for the CLI."""


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _check_text(note: str, actor: str) -> None:
    if not actor.strip():
        raise CaseActionError("the actor must not be empty")
    if len(actor) > MAX_ACTOR_CHARS:
        raise CaseActionError(f"the actor is longer than {MAX_ACTOR_CHARS} characters")
    if len(note) > MAX_NOTE_CHARS:
        raise CaseActionError(f"--note is longer than {MAX_NOTE_CHARS} characters")


def _waiting(case: Mapping[str, Any], status: str, what: str, hint: str, *, now: str | None = None) -> str:
    case_id = case.get("case_id", "?")
    current = str(case.get("status", ""))
    kind = DECISION if status == WAITING_FOR_DECISION else OUTCOME
    if current != status:
        done = done_message(case, kind)
        prefix = f"{done}; it is" if done else f"case {case_id} is"
        raise CaseActionError(f"{prefix} {current or 'without a status'}, not waiting for {what}{hint}")
    token = case.get("task_token")
    if not token:
        raise CaseActionError(f"case {case_id} is between steps (not yet holding a task token); try again shortly")
    claim = live_claim(case, now=now)
    if claim is not None:
        raise CaseActionError(claimed_message(case, claim))
    return str(token)


# ---------------------------------------------------------------------------------------- claims
def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def token_ref(token: str) -> str:
    """What a claim keeps of the task token it was made for (tokens are long; equality is all it needs)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def new_claim(kind: str, token: str, output: Mapping[str, Any], *, now: datetime | None = None,
              ttl_s: float = CLAIM_TTL_SECONDS) -> dict[str, Any]:
    """A claim on the step waiting with ``token``, for the action ``output`` (as ``decision_output`` /
    ``outcome_output`` made it)."""
    at = now or datetime.now(UTC)
    return {"kind": kind, "claim_id": uuid.uuid4().hex, "token_ref": token_ref(token),
            "actor": str(output.get("actor") or ""), "at": iso(at), "expires_at": iso(at + timedelta(seconds=ttl_s)),
            "action": {f: output[f] for f in CLAIMED_FIELDS[kind] if f in output}}


def live_claim(case: Mapping[str, Any], *, now: str | None = None) -> Mapping[str, Any] | None:
    """The claim that blocks others from acting on the case now, if any: one made for the token the
    case holds, either sent (its action is in the workflow's hands) or not yet lapsed."""
    claim = case.get("claim")
    token = case.get("task_token")
    if not isinstance(claim, Mapping) or not token or claim.get("token_ref") != token_ref(str(token)):
        return None
    if claim.get("sent_at"):
        return claim
    return claim if str(claim.get("expires_at") or "") >= (now or iso(datetime.now(UTC))) else None


def _summary(action: Mapping[str, Any], kind: str) -> str:
    if kind == OUTCOME:
        return str(action.get("outcome") or "?")
    detail = action.get("er_type") or action.get("reason") or action.get("decision_reason")
    return f"{action.get('decision') or '?'}" + (f" ({detail})" if detail else "")


def done_message(case: Mapping[str, Any], kind: str) -> str | None:
    """"case X already decided by A at T: ..." when the case has passed that step, else None."""
    case_id = case.get("case_id", "?")
    if kind == DECISION and case.get("decided_by"):
        return (f"case {case_id} already decided by {case['decided_by']} at {nz_time(case.get('decided_at'), seconds=True)}: "
                f"{_summary(case, DECISION)}")
    if kind == OUTCOME and case.get("outcome_by"):
        return (f"case {case_id} outcome already decided by {case['outcome_by']} at {nz_time(case.get('outcome_at'), seconds=True)}: "
                f"{_summary(case, OUTCOME)}")
    return None


def claimed_message(case: Mapping[str, Any], claim: Mapping[str, Any]) -> str:
    kind = str(claim.get("kind") or DECISION)
    what = "" if kind == DECISION else " outcome"
    action = claim.get("action") if isinstance(claim.get("action"), Mapping) else {}
    text = (f"case {case.get('case_id', '?')}{what} already being decided by {claim.get('actor')} "
            f"(claimed at {nz_time(claim.get('at'), seconds=True)}): {_summary(action or {}, kind)}")
    if not claim.get("sent_at"):
        text += f"; if that attempt failed, its claim lapses at {nz_time(claim.get('expires_at'), seconds=True)}: try again then"
    return text


def claim_problem(case: Mapping[str, Any], sent: Mapping[str, Any], kind: str) -> str | None:
    """Why the record step must refuse ``sent`` (the task output it received): it is not the action the
    case's claim holds, for the token the case holds. None when it is exactly that."""
    claim = case.get("claim")
    actor = sent.get("actor") or "unknown"
    if not sent.get("claim_id"):
        return (f"a {kind} sent without a claim (by {actor}) is not accepted: use `accesswatch cases "
                f"{'decide' if kind == DECISION else 'outcome'}`, which claims the case before it sends")
    if not isinstance(claim, Mapping) or claim.get("claim_id") != sent.get("claim_id"):
        holder = (f"the case is claimed by {claim.get('actor')} at {claim.get('at')}" if isinstance(claim, Mapping)
                  else "the case holds no claim")
        return f"the {kind} by {actor} is not the claimed one ({holder}): refused"
    if claim.get("kind") != kind or claim.get("token_ref") != token_ref(str(case.get("task_token") or "")):
        return f"the {kind} by {actor} was claimed for another step: refused"
    action = claim.get("action") if isinstance(claim.get("action"), Mapping) else {}
    differs = [f for f in CLAIMED_FIELDS[kind] if (sent.get(f) or "") != ((action or {}).get(f) or "")]
    if differs:
        return f"the {kind} by {actor} differs from the one claimed ({', '.join(differs)}): refused"
    return None


def rule_decisions_for(decision: Any, reason: Any, rules: Sequence[str],
                       unfounded_rules: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Each of the case's rules with its verdict: a founded case is founded for every rule except those
    named unfounded (with their reason); an unfounded case is unfounded for every rule, with ``reason``."""
    out: dict[str, dict[str, str]] = {}
    for rule in rules:
        if decision == "unfounded":
            out[rule] = {"decision": "unfounded", "reason": str(reason or "")}
        elif unfounded_rules and rule in unfounded_rules:
            out[rule] = {"decision": "unfounded", "reason": unfounded_rules[rule]}
        else:
            out[rule] = {"decision": "founded"}
    return out


def decision_problem(decision: Any, er_type: Any, vocabulary: CaseVocabulary, *, reason: Any = None,
                     rule_decisions: Any = None, rules: Sequence[str] | None = None) -> str | None:
    """Why the decision cannot be accepted, or None.

    ``rule_decisions`` (rule -> {decision, reason}) must name exactly the case's ``rules`` when both are
    given, agree with the case decision (founded: at least one rule founded; unfounded: none), and give
    every unfounded rule a reason."""
    if decision not in DECISIONS:
        return f"decision must be one of {_one_of(DECISIONS)}"
    if decision == "founded":
        if er_type not in vocabulary.er_types:
            return f"a founded decision needs an ER case type, one of {_one_of(vocabulary.er_types)}"
    else:
        if er_type not in (None, ""):
            return "an unfounded decision takes no ER case type"
        if reason not in UNFOUNDED_REASONS:
            return f"an unfounded decision needs a reason, one of {_one_of(UNFOUNDED_REASONS)}"
    if rule_decisions in (None, {}):
        return None
    if not isinstance(rule_decisions, Mapping):
        return "rule decisions must map each rule to its verdict"
    if rules is not None and set(rule_decisions) != set(rules):
        missing = sorted(set(rules) - set(rule_decisions))
        extra = sorted(set(rule_decisions) - set(rules))
        return ("rule decisions must cover the case's rules exactly"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; not in the case: {', '.join(extra)}" if extra else ""))
    verdicts = {}
    for rule, verdict in rule_decisions.items():
        value = verdict.get("decision") if isinstance(verdict, Mapping) else None
        if value not in DECISIONS:
            return f"rule {rule}: verdict must be one of {_one_of(DECISIONS)}"
        if value == "unfounded" and (verdict.get("reason") not in UNFOUNDED_REASONS):
            return f"rule {rule}: an unfounded rule needs a reason, one of {_one_of(UNFOUNDED_REASONS)}"
        verdicts[rule] = value
    founded = [r for r, v in verdicts.items() if v == "founded"]
    if decision == "founded" and not founded:
        return "a founded case needs at least one founded rule"
    if decision == "unfounded" and founded:
        return f"an unfounded case cannot have founded rules ({', '.join(sorted(founded))})"
    return None


def outcome_problem(outcome: Any, vocabulary: CaseVocabulary) -> str | None:
    if outcome not in vocabulary.outcomes:
        return f"outcome must be one of {_one_of(vocabulary.outcomes)}"
    return None


def decision_output(case: Mapping[str, Any], *, decision: str, er_type: str | None, note: str, actor: str,
                    vocabulary: CaseVocabulary, reason: str | None = None,
                    unfounded_rules: Mapping[str, str] | None = None,
                    founded_rules: Sequence[str] | None = None,
                    now: str | None = None) -> tuple[str, dict[str, Any]]:
    """(task token, output) to complete the case's investigation with; CaseActionError if it cannot.

    A founded decision on a case of several rules says of each rule whether it was founded
    (``founded_rules``; ``["*"]``: every rule not named unfounded) or not (``unfounded_rules``: rule ->
    reason), so that precision credits only the rules that were right. An unfounded decision covers every
    rule, with ``reason``."""
    token = _waiting(case, WAITING_FOR_DECISION, "a decision", _hint(case), now=now)
    basic = decision_problem(decision, er_type, vocabulary, reason=reason)
    if basic:
        raise CaseActionError(basic)
    rules = list(case.get("rules") or [])
    named = set(unfounded_rules or {}) | {r for r in (founded_rules or []) if r != "*"}
    if decision != "founded" and (unfounded_rules or founded_rules):
        raise CaseActionError("--founded-rule, --all-rules-founded and --unfounded-rule apply to a founded decision "
                              "(an unfounded one covers every rule)")
    unknown = sorted(named - set(rules))
    if unknown:
        raise CaseActionError(f"case {case.get('case_id')} has no findings of {', '.join(unknown)} "
                              f"(its rules: {', '.join(rules)})")
    both = sorted(set(unfounded_rules or {}) & set(founded_rules or []))
    if both:
        raise CaseActionError(f"{', '.join(both)}: named both founded and unfounded")
    if decision == "founded" and len(rules) > 1 and "*" not in (founded_rules or []):
        missing = [r for r in rules if r not in named]
        if missing:
            raise CaseActionError(
                f"case {case.get('case_id')} has findings of {', '.join(rules)}: say of each whether it was founded "
                f"(--founded-rule RULE, or --all-rules-founded) or not (--unfounded-rule RULE=REASON); "
                f"not yet said: {', '.join(missing)}")
    verdicts = rule_decisions_for(decision, reason, rules, unfounded_rules)
    problem = decision_problem(decision, er_type, vocabulary, reason=reason, rule_decisions=verdicts, rules=rules)
    if problem:
        raise CaseActionError(problem)
    _check_text(note, actor)
    output: dict[str, Any] = {"decision": decision, "er_type": er_type or "", "note": note, "actor": actor,
                              "rule_decisions": verdicts}
    if decision == "unfounded":
        output["reason"] = reason
    return token, output


def outcome_output(case: Mapping[str, Any], *, outcome: str, note: str, actor: str,
                   vocabulary: CaseVocabulary, now: str | None = None) -> tuple[str, dict[str, Any]]:
    token = _waiting(case, WAITING_FOR_OUTCOME, "an ER outcome", _hint(case), now=now)
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
