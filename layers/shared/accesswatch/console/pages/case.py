"""A case: the staff member (id, role, team), the score and its breakdown, the findings grouped by client and
rule (strongest first, with their explanations and evidence), the history, and the actions the workflow allows
now for the person's role (decide, record the ER outcome, add a note).

Actions call the same service methods as the CLI (``cases decide`` / ``cases outcome`` / ``cases note``) with
the console's actor, so the task token is claimed and sent exactly as the CLI sends it. A refused action shows
the case again with the reason (400 for a form that cannot be sent, 409 for a case that is not waiting for it);
a sent one redirects back to the case (post/redirect/get). The request does not wait for the workflow to
record it (``settle=False``: a web request must not wait on another function); until it has, the page says
so, offers no other decision or outcome, and reloads itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accesswatch.cases import MAX_NOTE_CHARS
from accesswatch.cases.actions import (
    WAITING_FOR_DECISION,
    WAITING_FOR_OUTCOME,
    CaseActionError,
    decision_problem,
    live_claim,
    outcome_problem,
)
from accesswatch.cases.service import CASE_DETAIL_FIELDS, CASE_FIELDS, SHOWN_FINDINGS
from accesswatch.cases.vocabulary import UNFOUNDED_REASONS, CaseVocabulary
from accesswatch.cases.workflow import CLOSED, WAITING_ON_A_PERSON
from accesswatch.console.principal import Principal
from accesswatch.console.roles import Permission
from accesswatch.console.sources import ConsoleSources
from accesswatch.console.web import (
    NotFound,
    allowed,
    audit,
    field,
    form,
    page,
    principal,
    query,
    redirect,
    sources,
    viewed_clients,
)

router = Router()
CASE_ID = re.compile(r"^CASE-[0-9A-F]{16}$")
# A rule's verdict on a founded case of several rules, as the form offers it (the CLI's --founded-rule and
# --unfounded-rule RULE=REASON).
FOUNDED = "founded"
VERDICTS: tuple[tuple[str, str], ...] = (
    (FOUNDED, "founded (inappropriate)"),
    *((f"unfounded:{reason}", f"unfounded: {reason}") for reason in UNFOUNDED_REASONS),
)
# What a recorded action says when the case page is shown again after the redirect (never request text).
DONE = {"decide": "Decision sent to the case workflow.", "outcome": "Outcome sent to the case workflow.",
        "note": "Note added."}
REFRESH_SECONDS = 2  # while the workflow records an action, the page reloads itself this often
HISTORY_DETAIL_KEYS = ("decision", "er_type", "reason", "outcome", "source", "assignee")


class FormProblem(ValueError):
    """A submitted action form that cannot be sent as it is (400); one line for the person."""


# ---------------------------------------------------------------------------------------------- pure parts
def staff_directory(src: ConsoleSources) -> dict[str, dict[str, str]]:
    """user_id -> role and team, from the current staff snapshot (the curated copy: ids, roles and teams, no
    names); empty before any staff snapshot arrived."""
    from accesswatch.services.report import staff_snapshot

    staff = staff_snapshot(src.ledger, src.store, src.settings.curated_bucket)
    if staff is None or "user_id" not in staff.columns:
        return {}
    return directory_of(staff.to_dicts())


def directory_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The staff rows as user_id -> {role, team} (the first row of a user wins, as the reference index's)."""
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        user = str(row.get("user_id") or "").strip()
        if user and user not in out:
            out[user] = {"role": str(row.get("role") or "").strip(), "team": str(row.get("team") or "").strip()}
    return out


def teams_of(directory: Mapping[str, Mapping[str, str]]) -> list[str]:
    return sorted({who["team"] for who in directory.values() if who.get("team")}, key=str.lower)


def evidence_items(evidence: object) -> list[tuple[str, str]]:
    """A finding's evidence as (key, text) pairs in key order; a nested value as compact JSON."""
    if not isinstance(evidence, Mapping):
        return [] if evidence in (None, "", {}) else [("evidence", str(evidence))]
    items = []
    for key in sorted(evidence, key=str):
        value = evidence[key]
        if value is None:
            text = "none"
        elif isinstance(value, Mapping | list | tuple):
            text = json.dumps(value, sort_keys=True, default=str)
        else:
            text = str(value)
        items.append((str(key), text))
    return items


def finding_groups(shown: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The findings shown, grouped by client and rule: (groups with findings shown, strongest group first, each
    with its findings strongest first; groups none of whose findings is shown, with their counts)."""
    breakdown = shown.get("score_breakdown") or {}
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for finding in shown.get("findings") or []:
        by_key.setdefault((str(finding.get("client_id") or ""), str(finding.get("rule") or "")), []).append(
            {**finding, "evidence_items": evidence_items(finding.get("evidence"))})
    groups = list(breakdown.get("by_client_and_rule") or [])
    known = {(str(g.get("client_id") or ""), str(g.get("rule") or "")) for g in groups}
    for (client, rule), found in by_key.items():  # a finding no group counts (should not happen): its own group
        if (client, rule) not in known:
            groups.append({"client_id": client, "rule": rule, "findings": len(found),
                           "points": round(sum(float(f.get("points") or 0) for f in found), 4)})
    groups.sort(key=lambda g: (-float(g.get("points") or 0), str(g.get("client_id")), str(g.get("rule"))))
    with_findings, hidden = [], []
    for group in groups:
        mine = by_key.get((str(group.get("client_id") or ""), str(group.get("rule") or "")))
        if mine:
            mine.sort(key=lambda f: (-float(f.get("points") or 0), str(f.get("occurred_at") or ""),
                                      str(f.get("finding_id") or "")))
            with_findings.append({**group, "shown": mine, "not_shown": int(group.get("findings") or 0) - len(mine)})
        else:
            hidden.append(dict(group))
    return with_findings, hidden


def history_rows(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every history entry (joins included), oldest first as stored, with what it recorded in one line."""
    rows = []
    for entry in history:
        parts = [str(entry[k]) for k in HISTORY_DETAIL_KEYS if entry.get(k)]
        if entry.get("field"):
            parts.append(f"{entry['field']} {entry.get('from') or '-'} -> {entry.get('to') or '-'}")
        if entry.get("finding_ids"):
            count = len(entry["finding_ids"])
            parts.append(f"{count} finding{'' if count == 1 else 's'}")
        if entry.get("client_ids"):
            count = len(entry["client_ids"])
            parts.append(f"{count} client{'' if count == 1 else 's'}")
        rows.append({"at": entry.get("at") or "", "state": entry.get("state") or "", "detail": ", ".join(parts),
                     "actor": entry.get("actor") or "", "note": entry.get("note") or ""})
    return rows


def in_progress(case: Mapping[str, Any], execution_status: object) -> str:
    """What the case workflow is doing now that a person must wait for ('' when the case rests: closed, or
    waiting on a person with no action sent): an action sent and not yet recorded, or a step under way."""
    if execution_status not in (None, "", "RUNNING"):
        return ""  # no running execution: nothing will change by waiting
    claim = live_claim(case)
    if claim is not None and claim.get("sent_at"):
        what = "outcome" if claim.get("kind") == "outcome" else "decision"
        return f"The {what} by {claim.get('actor')} was sent; the case workflow is recording it."
    status = str(case.get("status") or "")
    if case.get("pending_history") or (status not in CLOSED and (
            status not in WAITING_ON_A_PERSON or not case.get("task_token"))):
        return "The case workflow is moving this case to its next step."
    return ""


def available_actions(status: str, who: Principal, *, busy: bool = False) -> dict[str, bool]:
    """What the workflow allows now, for this person's role: decide (awaiting a decision), record the outcome
    (awaiting the ER outcome), add a note (any status). Nothing but a note while the workflow is busy."""
    return {"decide": not busy and status == WAITING_FOR_DECISION and who.may(Permission.CASE_DECIDE),
            "outcome": not busy and status == WAITING_FOR_OUTCOME and who.may(Permission.CASE_OUTCOME),
            "note": who.may(Permission.CASE_NOTE)}


def verdict_field(rule: str) -> str:
    return f"verdict_{rule}"


def _note(values: Mapping[str, list[str]], *, required: bool = False) -> str:
    note = field(values, "note")
    if required and not note:
        raise FormProblem("write the note (ids and references, no names)")
    if len(note) > MAX_NOTE_CHARS:
        raise FormProblem(f"the note is {len(note)} characters; at most {MAX_NOTE_CHARS}")
    return note


def decision_form(values: Mapping[str, list[str]], rules: Sequence[str],
                  vocabulary: CaseVocabulary) -> dict[str, Any]:
    """The decide form as ``CaseService.decide``'s arguments (``FormProblem`` if it cannot be sent).

    Founded: an ER type, and on a case of several rules a verdict on each (founded, or unfounded with a
    reason). Unfounded: a reason; it covers every rule, so the rule verdicts are not sent."""
    decision = field(values, "decision")
    founded = decision == FOUNDED
    er_type = field(values, "er_type") if founded else None
    reason = None if founded else field(values, "reason")
    if not decision:
        raise FormProblem("choose founded or unfounded")
    problem = decision_problem(decision, er_type, vocabulary, reason=reason)
    if problem:
        raise FormProblem(problem)
    founded_rules: list[str] = []
    unfounded_rules: dict[str, str] = {}
    if founded and len(rules) > 1:
        missing = []
        for rule in rules:
            verdict = field(values, verdict_field(rule))
            if not verdict:
                missing.append(rule)
            elif verdict == FOUNDED:
                founded_rules.append(rule)
            elif verdict.startswith("unfounded:") and verdict.partition(":")[2] in UNFOUNDED_REASONS:
                unfounded_rules[rule] = verdict.partition(":")[2]
            else:
                raise FormProblem(f"rule {rule}: unknown verdict; founded, or unfounded with one of "
                                  f"{', '.join(UNFOUNDED_REASONS)}")
        if missing:
            raise FormProblem(f"say of each rule whether it was founded; not yet said: {', '.join(missing)}")
        if not founded_rules:
            raise FormProblem("a founded case needs at least one founded rule (or decide it unfounded)")
    return {"decision": decision, "er_type": er_type, "reason": reason, "note": _note(values),
            "founded_rules": founded_rules, "unfounded_rules": unfounded_rules}


def outcome_form(values: Mapping[str, list[str]], vocabulary: CaseVocabulary) -> dict[str, Any]:
    outcome = field(values, "outcome")
    problem = outcome_problem(outcome, vocabulary)
    if problem:
        raise FormProblem(problem)
    return {"outcome": outcome, "note": _note(values)}


def case_view(shown: Mapping[str, Any], staff: Mapping[str, Mapping[str, str]], who: Principal, *,
              busy: str = "") -> dict[str, Any]:
    """What the template shows of ``shown`` (``CaseService.show``), and the client ids it shows; ``busy``: what
    the workflow is doing (``in_progress``)."""
    groups, hidden = finding_groups(shown)
    user = str(shown.get("user_id") or "")
    member = staff.get(user)
    breakdown = shown.get("score_breakdown") or {}
    clients = [g["client_id"] for g in groups] + [g["client_id"] for g in hidden]
    status = str(shown.get("status") or "")
    return {
        "case": {**dict.fromkeys((*CASE_FIELDS, *CASE_DETAIL_FIELDS), ""), **{k: v for k, v in shown.items() if v is not None}},
        "staff": {"user_id": user, "role": (member or {}).get("role", ""), "team": (member or {}).get("team", ""),
                  "known": member is not None},
        "by_rule": sorted((breakdown.get("by_rule") or {}).items(), key=lambda kv: (-float(kv[1]), kv[0])),
        "total": float(breakdown.get("total") or shown.get("score") or 0),
        "groups": groups, "hidden_groups": hidden,
        "findings_shown": len(shown.get("findings") or []),
        "findings_total": int(shown.get("findings_total") or len(shown.get("findings") or [])),
        "rule_decisions": sorted((shown.get("rule_decisions") or {}).items()),
        "history": history_rows(shown.get("history") or []),
        "actions": available_actions(status, who, busy=bool(busy)),
        "may_see_details": who.may(Permission.CLIENT_DETAILS),
        "busy": busy, "refresh_seconds": REFRESH_SECONDS,
        "closed": status.startswith("closed"),
        "client_ids": list(dict.fromkeys(c for c in clients if c)),
    }


# ---------------------------------------------------------------------------------------------- handlers
def checked_case_id(text: str) -> str:
    if not CASE_ID.match(text or ""):
        raise NotFound("There is no such case.")
    return text


def _case_page(case_id: str, *, show_all: bool, status: int = 200, error: str = "", done: str = "",
               submitted: Mapping[str, list[str]] | None = None) -> Response:
    src = sources(router)
    who = principal(router)
    service = src.case_service
    try:
        shown = service.show(case_id, limit=None if show_all else SHOWN_FINDINGS)
    except CaseActionError:
        raise NotFound(f"There is no case {case_id}.") from None
    busy = in_progress(service.get(case_id), shown.get("execution_status"))
    view = case_view(shown, staff_directory(src), who, busy=busy)
    audit(router, "case_show", subject={"case_id": shown["case_id"], "user_id": shown.get("user_id")},
          result={"findings_shown": view["findings_shown"], "findings_total": view["findings_total"],
                  "clients": len(shown.get("client_ids") or []), "history": len(shown.get("history") or [])})
    # Ids only on this page (no name, address or date of birth): audited, not an access to a client's record.
    # Personal details are one deliberate click away (client_details below), and that view is an access event.
    vocabulary = service.vocabulary if any(view["actions"].values()) else None
    form_values = {k: v[0] for k, v in (submitted or {}).items() if v and k != "csrf_token"}
    return page(router, "case.html", title=f"Case {case_id}", active="/queue", status=status, error=error,
                done=done, show_all=show_all, er_types=vocabulary.er_types if vocabulary else (),
                outcomes=vocabulary.outcomes if vocabulary else (), reasons=UNFOUNDED_REASONS,
                verdicts=VERDICTS, submitted=form_values, verdict_field=verdict_field, **view)


@router.get("/cases/<case_id>")
def case(case_id: str) -> Response:
    allowed(router, Permission.CASE_VIEW)
    case_id = checked_case_id(case_id)
    done = query(router, "done")
    return _case_page(case_id, show_all=query(router, "all") == "1", done=DONE.get(done, ""))


def _acted(case_id: str, what: str, act: Any) -> Response:
    """Run ``act`` (the form parsed, then the service call); the case again with the reason if refused."""
    values = form(router)
    try:
        act(values)
    except FormProblem as exc:
        return _case_page(case_id, show_all=False, status=400, error=str(exc), submitted=values)
    except CaseActionError as exc:
        return _case_page(case_id, show_all=False, status=409, error=str(exc), submitted=values)
    return redirect(f"/cases/{case_id}?done={what}")


def _existing(case_id: str) -> dict[str, Any]:
    try:
        return dict(sources(router).case_service.get(case_id))
    except CaseActionError:
        raise NotFound(f"There is no case {case_id}.") from None


@router.post("/cases/<case_id>/decide")
def decide(case_id: str) -> Response:
    who = allowed(router, Permission.CASE_DECIDE)
    case_id = checked_case_id(case_id)
    rules = list(_existing(case_id).get("rules") or [])
    service = sources(router).case_service

    def act(values: Mapping[str, list[str]]) -> None:
        service.decide(case_id, actor=who.actor_name, settle=False,
                       **decision_form(values, rules, service.vocabulary))

    return _acted(case_id, "decide", act)


@router.post("/cases/<case_id>/outcome")
def outcome(case_id: str) -> Response:
    who = allowed(router, Permission.CASE_OUTCOME)
    case_id = checked_case_id(case_id)
    _existing(case_id)
    service = sources(router).case_service

    def act(values: Mapping[str, list[str]]) -> None:
        service.record_outcome(case_id, actor=who.actor_name, settle=False,
                               **outcome_form(values, service.vocabulary))

    return _acted(case_id, "outcome", act)


@router.post("/cases/<case_id>/note")
def note(case_id: str) -> Response:
    who = allowed(router, Permission.CASE_NOTE)
    case_id = checked_case_id(case_id)
    _existing(case_id)

    def act(values: Mapping[str, list[str]]) -> None:
        sources(router).teamwork.note(case_id, text=_note(values, required=True), actor=who.actor_name)

    return _acted(case_id, "note", act)


@router.get("/cases/<case_id>/clients/<client_id>")
def client_details(case_id: str, client_id: str) -> Response:
    """One client's personal details, for an investigator working a case about that client: audited and written
    as an access event of the system accesswatch before it is shown, so the monitor reviews its own users'
    looking like anyone else's (a colleague's or a relative's record raises its rule)."""
    from accesswatch.services.footprint import client_details as read_details

    allowed(router, Permission.CLIENT_DETAILS)
    case_id = checked_case_id(case_id)
    case = _existing(case_id)
    if client_id not in (case.get("client_ids") or ()):
        raise NotFound(f"Case {case_id} has no client {client_id}.")
    src = sources(router)
    details = read_details(src.store, src.ledger, src.settings.raw_bucket, client_id)
    audit(router, "client_details", subject={"case_id": case_id, "client_id": client_id},
          result={"found": details is not None})
    viewed_clients(router, [client_id], page_name="client_details")
    return page(router, "client_details.html", title=f"Client {client_id}", active="/queue", case_id=case_id,
                client_id=client_id, details=details)
