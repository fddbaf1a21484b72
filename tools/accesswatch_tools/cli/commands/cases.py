"""``cases list|show|decide|outcome|precision|queue|drain|review``: people act on cases (local endpoint or
--stack); ``exceptions list|add|revoke``: what ``rule_too_broad`` decisions suppress."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from accesswatch.quarters import nz_today
from accesswatch_tools.cli.commands.exceptions import describe_scope
from accesswatch_tools.cli.context import (
    CliError,
    acting_actor,
    add_actor_option,
    add_reason_option,
    add_target_options,
    audited,
    checked_filter_ids,
    deployment,
)
from accesswatch_tools.cli.output import (
    identifier,
    json_help,
    json_line,
    nz_day,
    nz_time,
    one_of,
    rule_id,
    table,
)
from accesswatch_tools.operate.case_exceptions import add_exception
from accesswatch_tools.operate.cases import (
    case_router_for,
    case_service,
    case_teamwork,
    deployed_scoring,
    invoke_case_queue,
)
from accesswatch_tools.operate.deployment import OperationError

SHOWN_GROUPS = 15
# Times a case page shows in New Zealand time, and those a closed case no longer has (nothing is due).
TIME_KEYS = frozenset({"opened_at", "first_occurred_at", "last_occurred_at", "decision_due_at", "decided_at",
                       "er_opened_at", "outcome_at", "police_referred_at", "closed_at"})
NOT_WHEN_CLOSED = frozenset({"decision_due_at"})


def _rule_id(text: str) -> str:
    """A rule id as the catalog spells it (upper case); a clear error for one it does not know."""
    from accesswatch.rules import RULES_BY_ID

    rule = text.strip().upper()
    if rule not in RULES_BY_ID:
        raise CliError(f"unknown rule {text!r}; rules: {', '.join(sorted(RULES_BY_ID))}")
    return rule


def _unfounded_rules(values: Sequence[str]) -> dict[str, str]:
    from accesswatch.cases.vocabulary import UNFOUNDED_REASONS

    out: dict[str, str] = {}
    for value in values:
        rule, sep, reason = value.partition("=")
        if not sep or reason not in UNFOUNDED_REASONS:
            raise CliError(f"--unfounded-rule {value!r}: write RULE=REASON, REASON one of {', '.join(UNFOUNDED_REASONS)}")
        out[_rule_id(rule)] = reason
    return out


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    return table(rows, header)


def _rules_cell(rules: Sequence[str], width: int = 40) -> str:
    """The case's rules, shortened to ``width`` characters with a count of the rest."""
    shown: list[str] = []
    for i, rule in enumerate(rules):
        rest = len(rules) - i - 1
        if len(",".join([*shown, rule])) + (len(f",+{rest}") if rest else 0) > width and shown:
            return ",".join(shown) + f",+{len(rules) - i}"
        shown.append(rule)
    return ",".join(shown)


def _source_suffix(case: dict[str, Any]) -> str:
    """How the list's TIER cell says a case did not come from detection: /review, /complaint, ..."""
    source = str(case.get("source") or "detection")
    if case.get("trigger") == "random_review" or source == "random_review":
        return "/review"
    return "" if source == "detection" else f"/{source}"


def render_list(cases: Sequence[dict[str, Any]]) -> list[str]:
    rows = [(c["case_id"], c.get("status", ""), c.get("priority") or "-", f"{float(c.get('score') or 0):.1f}",
             c.get("tier", "") + _source_suffix(c), c.get("user_id", ""),
             str(len(c.get("client_ids") or [])), _rules_cell(c.get("rules") or []), str(c.get("finding_count", 0)),
             nz_time(c.get("opened_at"))) for c in cases]
    lines = _table(rows, ("CASE", "STATUS", "PRIORITY", "SCORE", "TIER", "USER", "CLIENTS", "RULES", "FINDINGS",
                          "OPENED (NZ)"))
    return [*lines, f"{len(cases)} case(s), ranked by priority and score"]


def render_show(shown: dict[str, Any]) -> list[str]:
    lines = [f"case {shown['case_id']}"]
    keys = ("status", "priority", "score", "tier", "trigger", "source", "sources", "opened_by", "source_note",
            "source_client_ids", "source_from", "source_to", "assignee", "assigned_by", "reopens", "reopened_by",
            "amendments", "user_id", "rules", "finding_count", "opened_at",
            "first_occurred_at", "last_occurred_at", "decision_due_at", "escalations", "decision", "decision_reason",
            "decided_at", "decided_by", "decision_note", "er_type", "er_opened_at", "outcome", "outcome_at",
            "outcome_by", "outcome_note", "police_referral", "police_referred_at", "closed_at", "execution_status")
    closed = str(shown.get("status", "")).startswith("closed")
    for key in keys:
        value = shown.get(key)
        if closed and key in NOT_WHEN_CLOSED:
            continue
        if key == "score" and value is not None:
            value = f"{float(value):.2f}"
        if key in TIME_KEYS and value:
            value = nz_time(value, seconds=True)
        if value not in (None, "", []):
            lines.append(f"  {key + ':':<18} {','.join(value) if isinstance(value, list) else value}")
    clients = shown.get("client_ids") or []
    lines.append(f"  {'clients:':<18} {len(clients)}: {', '.join(clients[:12])}{' ...' if len(clients) > 12 else ''}")
    for rule, verdict in sorted((shown.get("rule_decisions") or {}).items()):
        reason = f" ({verdict.get('reason')})" if verdict.get("reason") else ""
        lines.append(f"  {'rule decision:':<18} {rule} {verdict.get('decision')}{reason}")
    breakdown = shown.get("score_breakdown") or {}
    lines.append(f"score {breakdown.get('total', 0):.2f}, by rule: "
                 + ", ".join(f"{rule} {points:.2f}" for rule, points in (breakdown.get("by_rule") or {}).items()))
    groups = breakdown.get("by_client_and_rule") or []
    lines.append(f"by client and rule ({len(groups)}), strongest first:")
    for g in groups[:SHOWN_GROUPS]:
        lines.append(f"  client {g['client_id']:<12} {g['rule']:<20} {g['findings']:>4} finding(s)  {g['points']:6.2f} points")
    if len(groups) > SHOWN_GROUPS:
        lines.append(f"  ... {len(groups) - SHOWN_GROUPS} more (--json has them all)")
    total, shown_n = shown.get("findings_total", len(shown["findings"])), len(shown["findings"])
    lines.append(f"findings, strongest first ({shown_n} of {total}):")
    for f in shown["findings"]:
        mods = f" [{', '.join(f['modifiers'])}]" if f.get("modifiers") else ""
        lines.append(f"  {nz_time(f.get('occurred_at'), seconds=True)}  {f.get('rule')} ({f.get('severity')})  client {f.get('client_id')}  "
                     f"{f.get('points', 0):.2f} points{mods}  {f.get('finding_id')}")
        lines.append(f"      {f.get('explanation')}")
    if shown_n < total:
        lines.append(f"  ... {total - shown_n} more: accesswatch cases show {shown['case_id']} --all")
    lines.append(f"history ({len(shown['history'])}):")
    for h in shown["history"]:
        detail = ", ".join(str(h[k]) for k in ("decision", "er_type", "reason", "outcome", "source", "assignee")
                           if h.get(k))
        if h.get("field"):
            detail = ", ".join(x for x in (detail, f"{h['field']} {h.get('from') or '-'} -> {h.get('to')}") if x)
        state = f"{h['state']} ({detail})" if detail else h["state"]
        note = f": {h['note']}" if h.get("note") else ""
        lines.append(f"  {nz_time(h['at'], seconds=True)}  {state} by {h['actor']}{note}")
    return lines


def render_precision(rows: Sequence[Any], weights: dict[str, Any] | None = None) -> list[str]:
    weights = weights or {}
    table = [(r.rule, str(r.founded), str(r.unfounded), str(r.undecided),
              "-" if r.precision is None else f"{r.precision:.2f}",
              *((f"{weights[r.rule]['weight']:.2f}", "demote?" if weights[r.rule]["flagged"] else "")
                if r.rule in weights else ("-", ""))) for r in rows]
    return _table(table, ("RULE", "FOUNDED", "UNFOUNDED", "UNDECIDED", "PRECISION", "WEIGHT", "FLAG"))


def _print(lines: Sequence[str]) -> None:
    print("\n".join(lines))


def cmd_list(args: argparse.Namespace) -> int:
    from accesswatch.cases.service import CaseFilter, FilterError, case_record

    try:
        where = CaseFilter(status=args.status, user=args.user, rule=args.rule, priority=args.priority,
                           tier=args.tier, client=args.client, assignee=args.assignee, source=args.source)
    except FilterError as exc:
        raise CliError(str(exc)) from None
    dep = deployment(args)
    checked_filter_ids(dep, user=args.user, client=args.client)
    cases = case_service(dep).find(where)
    filters = {"status": args.status, "user_id": args.user, "client_id": args.client, "rule": args.rule,
               "priority": args.priority, "tier": args.tier, "assignee": args.assignee, "source": args.source}
    audited(dep, args, "case_list", subject={**filters, "case_ids": [c["case_id"] for c in cases]},
            result={"cases": len(cases)})
    if args.json:
        for case in cases:
            print(json_line(case_record(case)))
    else:
        _print(render_list(cases))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from accesswatch.cases.actions import CaseActionError

    dep = deployment(args)
    try:
        shown = case_service(dep).show(args.case_id, limit=None if args.all else args.limit)
    except CaseActionError as exc:
        raise CliError(str(exc)) from None
    audited(dep, args, "case_show", subject={"case_id": shown["case_id"], "user_id": shown.get("user_id")},
            result={"findings_shown": len(shown["findings"]),
                    "findings_total": shown.get("findings_total", len(shown["findings"])),
                    "clients": len(shown.get("client_ids") or []), "history": len(shown.get("history") or [])})
    if args.json:
        print(json_line(shown))
    else:
        _print(render_show(shown))
    return 0


def _after(case: dict[str, Any]) -> str:
    status = case.get("status")
    if status == "awaiting_outcome":
        return "now awaiting the ER outcome (`accesswatch cases outcome`)"
    if status == "investigating":
        return "still awaiting a decision (the last one was not accepted: see `accesswatch cases show`)"
    return f"now {status}"


def cmd_decide(args: argparse.Namespace) -> int:
    from accesswatch.cases.actions import CaseActionError
    from accesswatch.cases.exceptions import ExceptionError, check_expiry
    from accesswatch.rules import tier_of

    unfounded_rules = _unfounded_rules(args.unfounded_rule or [])
    founded_rules = ["*"] if args.all_rules_founded else list(args.founded_rule or [])
    if args.exception and not (args.decision == "unfounded" and args.reason == "rule_too_broad"
                               or "rule_too_broad" in unfounded_rules.values()):
        raise CliError("--exception needs a rule_too_broad verdict (--reason rule_too_broad, or "
                       "--unfounded-rule RULE=rule_too_broad)")
    if args.exception:
        if not args.expires:
            raise CliError("--exception needs --expires YYYY-MM-DD")
        try:  # checked before the decision is sent, so that a bad date leaves nothing half done
            check_expiry(args.expires, nz_today())
        except ExceptionError as exc:
            raise CliError(str(exc)) from None
    dep = deployment(args)
    service = case_service(dep)
    actor = acting_actor(dep, args)
    if args.exception:
        before = service.get(args.case_id)
        broad = [r for r, reason in unfounded_rules.items() if reason == "rule_too_broad"] or [
            r for r in before.get("rules") or [] if tier_of(r) == "accumulate"]
        if not broad:
            raise CliError(f"case {args.case_id} has no accumulate-tier rule to make an exception for (only "
                           "accumulate-tier findings can be suppressed); decide without --exception")
    try:
        case = service.decide(args.case_id, decision=args.decision, er_type=args.er_type, note=args.note,
                              actor=actor, reason=args.reason, unfounded_rules=unfounded_rules,
                              founded_rules=founded_rules)
    except CaseActionError as exc:
        raise CliError(str(exc)) from None
    # What the case records (the service returns it only once it records this very decision).
    kind = case.get("er_type") if case.get("decision") == "founded" else case.get("decision_reason")
    print(f"{case['case_id']}: decided {case.get('decision')}{f' ({kind})' if kind else ''}; {_after(case)}")
    for rule, verdict in sorted((case.get("rule_decisions") or {}).items()):
        why = f" ({verdict.get('reason')})" if verdict.get("reason") else ""
        print(f"  {rule}: {verdict.get('decision')}{why}")
    if args.exception:
        try:
            for rule in broad:
                for made in add_exception(dep, case=case, scope=args.exception, rule=rule, expires=args.expires,
                                          reason=args.note or f"{rule} too broad (case {case['case_id']})",
                                          actor=actor):
                    print(f"exception {made['exception_id']}: {describe_scope(made)} suppressed until "
                          f"{made['expires_on']}")
        except ExceptionError as exc:
            raise CliError(f"decision recorded, but no exception made: {exc}") from None
    return 0




def cmd_outcome(args: argparse.Namespace) -> int:
    from accesswatch.cases.actions import CaseActionError

    dep = deployment(args)
    actor = acting_actor(dep, args)
    try:
        case = case_service(dep).record_outcome(args.case_id, outcome=args.outcome, note=args.note, actor=actor)
    except CaseActionError as exc:
        raise CliError(str(exc)) from None
    referral = "; referred to the Police" if case.get("police_referral") else ""
    print(f"{case['case_id']}: outcome {case.get('outcome')}{referral}; {_after(case)}")
    return 0


def cmd_precision(args: argparse.Namespace) -> int:
    from accesswatch.cases.precision import weights_in_force
    from accesswatch.cases.scoring import DEMOTION_PRECISION

    dep = deployment(args)
    service = case_service(dep)
    rows = service.precision()
    scoring = deployed_scoring(dep)
    weights = weights_in_force(rows, scoring, service.rule_counts())  # as detection reads them
    if args.json:
        for row in rows:
            print(json.dumps({**row.as_dict(), "weight": round(weights[row.rule]["weight"], 4),
                              "flagged_for_demotion": weights[row.rule]["flagged"]}))
    else:
        _print(render_precision(rows, weights))
        print(f"weights scale with precision once a rule has {scoring.case_precision_min_decisions} decisions; "
              f"under {DEMOTION_PRECISION:.0%} precision a rule is flagged for demotion to staging")
    return 0


def cmd_queue(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.risk import RiskStore
    from accesswatch.quarters import nz_date

    dep = deployment(args)
    risk = RiskStore(CaseStore(dep.resource_name("CasesTable"), dep.resource("dynamodb")))
    scoring = deployed_scoring(dep)
    queued = risk.queued()
    day = nz_date(datetime.now(UTC)).isoformat()
    used = risk.budget_used(day)
    if args.json:
        print(json.dumps({"day": day, "budget": scoring.case_daily_budget, "budget_used": used,
                          "queued": [{k: q.get(k) for k in ("sk", "score", "findings", "queued_at", "window_end")}
                                     for q in queued]}, default=str))
        return 0
    rows = [(str(q["sk"]), f"{float(q.get('score', 0)):.2f}", str(q.get("findings", "")), nz_time(q.get("queued_at")))
            for q in queued]
    _print(_table(rows, ("USER", "SCORE", "FINDINGS", "QUEUED (NZ)")))
    print(f"{len(queued)} user(s) queued above the threshold {scoring.case_threshold:g}; budget for NZ day {day}: "
          f"{used} of {scoring.case_daily_budget} accumulate-tier cases opened")
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    try:
        result = invoke_case_queue(deployment(args), {"action": "drain", "source": "cli"})
    except OperationError as exc:
        raise CliError(str(exc)) from None
    print(f"NZ day {result['day']}: {result['opened']} case(s) opened, {result['joined']} joined an open case, "
          f"{result['dropped']} no longer above the threshold, {result['waiting']} waiting for the next day's budget "
          f"({result['budget_used']} of {result['budget']} used)")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from accesswatch.quarters import nz_week_bounds

    payload: dict[str, Any] = {"action": "random_review", "source": "cli"}
    if args.week:
        try:
            nz_week_bounds(args.week)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        payload["week"] = args.week
    try:
        result = invoke_case_queue(deployment(args), payload)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    if result.get("already_drawn"):
        print(f"week {result['week']} was drawn already: {', '.join(result['drawn']) or 'nobody'} "
              f"(of {result['candidates']} candidate(s)); nothing new opened")
    else:
        print(f"week {result['week']}: drew {', '.join(result['drawn']) or 'nobody'} from {result['candidates']} "
              f"candidate(s) below the threshold; {result['opened']} review case(s) opened")
    return 0


def register(sub: Any) -> None:
    from accesswatch_tools.cli.vocabulary import PRIORITIES, SOURCES, STATUS_GROUPS, STATUSES, TIERS

    cases = sub.add_parser("cases", help="list, show, decide and close cases (local endpoint or --stack)")
    actions = cases.add_subparsers(dest="cases_command", required=True)

    listing = actions.add_parser("list", help="cases ranked: open first, then by priority and score",
                                 description="Cases ranked: open first, then by priority and score; times in New "
                                             "Zealand time. Filters combine; an unknown value is refused with the "
                                             "valid ones.")
    listing.add_argument("--status", type=one_of("status", STATUSES, groups=STATUS_GROUPS), metavar="STATUS",
                         help=f"one of {', '.join(STATUSES)}; or open (every status but the closed ones) or closed "
                              "(closed_founded and closed_unfounded)")
    listing.add_argument("--user", type=identifier("user"), help="staff user id, e.g. u112017")
    listing.add_argument("--client", type=identifier("client"),
                         help="client id as text, leading zeros included (cases with a finding on that client)")
    listing.add_argument("--rule", type=rule_id, metavar="RULE",
                         help="rule id in any case, e.g. self_record (cases with a finding of that rule)")
    listing.add_argument("--priority", type=one_of("priority", PRIORITIES), metavar="PRIORITY",
                         help=f"one of {', '.join(PRIORITIES)}")
    listing.add_argument("--tier", type=one_of("tier", TIERS), metavar="TIER",
                         help="immediate (opened by a high rule's finding) or accumulate (by the risk score, or a "
                              "random review)")
    listing.add_argument("--assignee", type=identifier("assignee"), metavar="LOGIN",
                         help="cases assigned to this investigator (their login, as `cases assign --to` took it)")
    listing.add_argument("--source", type=one_of("source", SOURCES), metavar="SOURCE",
                         help=f"cases opened by or joined from one of {', '.join(SOURCES)}")
    listing.add_argument("--json", action="store_true", help=json_help("case", "as OUT/cases.jsonl"))
    add_reason_option(listing)
    add_target_options(listing)
    listing.set_defaults(func=cmd_list)

    show = actions.add_parser("show", help="a case: its score broken down, its findings strongest first (with "
                                           "their explanations, grouped by client and rule) and its history")
    show.add_argument("case_id", help="the case, e.g. CASE-9AA220D512253ADD (see `accesswatch cases list`)")
    show.add_argument("--limit", type=int, default=20, help="findings to show, strongest first (default 20)")
    show.add_argument("--all", action="store_true", help="show every finding")
    show.add_argument("--json", action="store_true",
                      help="the case as one JSON object on one line, for scripts (its times as stored, UTC)")
    add_reason_option(show)
    add_target_options(show)
    show.set_defaults(func=cmd_show)

    decide = actions.add_parser("decide", help="record the investigator's decision on a case awaiting one")
    decide.add_argument("case_id", help="the case, e.g. CASE-9AA220D512253ADD")
    decide.add_argument("--decision", required=True, choices=("founded", "unfounded"),
                        help="founded (the access was inappropriate: an ER case follows) or unfounded (closes "
                             "the case; needs --reason)")
    decide.add_argument("--er-type", help="founded only: the Employment Relations case type "
                                          "(the deployment's CaseErTypes, e.g. conflict_of_interest)")
    decide.add_argument("--reason", choices=("legitimate_work", "rule_too_broad", "duplicate"),
                        help="unfounded only (required): legitimate_work (an explanation the data lacked), "
                             "rule_too_broad, duplicate")
    decide.add_argument("--founded-rule", action="append", metavar="RULE", type=rule_id,
                        help="founded only, repeatable: a rule of the case whose findings were inappropriate "
                             "(a case of several rules needs a verdict on each)")
    decide.add_argument("--all-rules-founded", action="store_true",
                        help="founded only: every rule not named by --unfounded-rule was inappropriate")
    decide.add_argument("--unfounded-rule", action="append", metavar="RULE=REASON",
                        help="founded only, repeatable: a rule of the case whose findings were not inappropriate, "
                             "and why (e.g. SENSITIVE_LOOKUP=legitimate_work); precision credits only founded rules")
    decide.add_argument("--exception", choices=("user", "client", "user+client", "rule"),
                        help="with a rule_too_broad verdict: suppress that rule's future findings for this user, "
                             "the case's clients, both, or everyone (needs --expires)")
    decide.add_argument("--expires", help="the exception's last day (YYYY-MM-DD, NZ date)")
    decide.add_argument("--note", default="", help="kept in the case history")
    add_actor_option(decide)
    add_target_options(decide)
    decide.set_defaults(func=cmd_decide)

    outcome = actions.add_parser("outcome", help="record the outcome of a case's Employment Relations case")
    outcome.add_argument("case_id", help="the case, e.g. CASE-9AA220D512253ADD")
    outcome.add_argument("--outcome", required=True,
                         help="the deployment's CaseOutcomes, e.g. written_warning, dismissal")
    outcome.add_argument("--note", default="", help="kept in the case history")
    add_actor_option(outcome)
    add_target_options(outcome)
    outcome.set_defaults(func=cmd_outcome)

    precision = actions.add_parser("precision", help="per-rule precision from decisions: founded/(founded+unfounded)")
    precision.add_argument("--json", action="store_true", help=json_help("rule"))
    add_target_options(precision)
    precision.set_defaults(func=cmd_precision)

    queue = actions.add_parser("queue", help="users whose risk score crossed the threshold, waiting for a case, "
                                             "and today's budget")
    queue.add_argument("--json", action="store_true",
                       help="one JSON object on one line, for scripts: the NZ day, the budget and who is queued")
    add_target_options(queue)
    queue.set_defaults(func=cmd_queue)

    drain_cmd = actions.add_parser("drain", help="open queued cases within today's budget now (as after every "
                                                 "detection and the daily schedule)")
    add_target_options(drain_cmd)
    drain_cmd.set_defaults(func=cmd_drain)

    review = actions.add_parser("review", help="draw the week's random review from users below the threshold "
                                               "(as the weekly schedule does; once per week, reproducible)")
    review.add_argument("--week", help="ISO week YYYY-Www (default: the last complete week in New Zealand)")
    add_target_options(review)
    review.set_defaults(func=cmd_review)
    register_teamwork(actions)


# ------------------------------------------------------------------ cases from every source; working a case
def _checked_ids(dep: Any, *, user: str, clients: Sequence[str]) -> None:
    """The user (and every client) must be in the current reference data: a case is opened for a real staff
    member. Unlike a list filter, an id that cannot be checked yet (no snapshot) is refused too."""
    from accesswatch_tools.operate.reference_ids import UnknownId, check_ids

    try:
        for problem in [*check_ids(dep, user=user), *(w for c in clients for w in check_ids(dep, client=c))]:
            raise CliError(f"{problem}; a case is opened only for ids the reference data holds")
    except UnknownId as exc:
        raise CliError(str(exc)) from None


def cmd_open(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from accesswatch.cases.sources import SOURCE_WORDS, SourceError, SourceRequest, open_from_source

    dep = deployment(args)
    actor = acting_actor(dep, args)
    try:
        request = SourceRequest(user_id=args.user, source=args.source, note=args.note, actor=actor,
                                client_ids=tuple(args.client or ()), period_from=args.date_from,
                                period_to=args.date_to)
    except SourceError as exc:
        raise CliError(str(exc)) from None
    _checked_ids(dep, user=request.user_id, clients=request.client_ids)
    result = open_from_source(case_router_for(dep), request, now=datetime.now(UTC))
    if args.json:
        print(json_line({**result.as_dict(), "user_id": request.user_id, "source": request.source,
                         "request_id": request.request_id}))
        return 0
    carried = f"; {result.findings_carried} finding(s) carried from the user's risk ledger" if (
        result.findings_carried) else ""
    words = SOURCE_WORDS[request.source]
    if result.already:
        print(f"{result.case_id}: this {words} ({request.request_id}) is already in the case; nothing new")
    elif result.joined:
        print(f"{result.case_id}: user {request.user_id} has this open case; the {words} joined it (history: "
              f"joined){carried}")
    else:
        print(f"{result.case_id}: opened for user {request.user_id} from a {words}{carried}; its workflow is "
              f"running (accesswatch cases show {result.case_id})")
    return 0


def _acted(args: argparse.Namespace, act: Any) -> dict[str, Any]:
    from accesswatch.cases.actions import CaseActionError

    try:
        return dict(act())
    except CaseActionError as exc:
        raise CliError(str(exc)) from None


def cmd_assign(args: argparse.Namespace) -> int:
    dep = deployment(args)
    actor = acting_actor(dep, args)
    case = _acted(args, lambda: case_teamwork(dep).assign(args.case_id, assignee=args.to, actor=actor,
                                                          note=args.note))
    print(f"{case['case_id']}: assigned to {case.get('assignee')} by {actor} ({case.get('status')})")
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    dep = deployment(args)
    actor = acting_actor(dep, args)
    case = _acted(args, lambda: case_teamwork(dep).note(args.case_id, text=args.note, actor=actor))
    print(f"{case['case_id']}: note added to its history by {actor} ({case.get('status')})")
    return 0


def cmd_amend(args: argparse.Namespace) -> int:
    dep = deployment(args)
    actor = acting_actor(dep, args)
    service = case_service(dep)
    case = _acted(args, lambda: case_teamwork(dep).amend(
        args.case_id, actor=actor, reason=args.reason, vocabulary=service.vocabulary, outcome=args.outcome,
        er_type=args.er_type, unfounded_reason=args.unfounded_reason, decision=args.decision))
    what = args.outcome or args.er_type or args.unfounded_reason
    print(f"{case['case_id']}: amended to {what} by {actor} ({case.get('status')}; amendment "
          f"{case.get('amendments')}; the history keeps what it was)")
    return 0


def cmd_reopen(args: argparse.Namespace) -> int:
    dep = deployment(args)
    actor = acting_actor(dep, args)
    teamwork = case_teamwork(dep)
    case = _acted(args, lambda: teamwork.reopen(args.case_id, actor=actor, reason=args.reason))
    # The new execution moves the case to "investigating" within moments: say where it is when it does.
    status = _settle_reopened(teamwork, str(case["case_id"]), getattr(args, "settle_timeout", 30.0))
    print(f"{case['case_id']}: reopened by {actor} (reopen {case.get('reopens')}); {status}")
    return 0


def _settle_reopened(teamwork: Any, case_id: str, timeout_s: float) -> str:
    import time

    from accesswatch_tools.operate.deployment import backoff

    deadline = time.monotonic() + timeout_s
    pause = backoff(0.02, limit_s=0.2)  # the new execution usually reaches the step within moments
    while True:
        case = teamwork.cases.get(case_id) or {}
        if case.get("status") == "investigating" and case.get("task_token"):
            return "waiting for a decision again (`accesswatch cases decide`)"
        if time.monotonic() > deadline:
            return (f"its workflow has not reached the decision step yet (status {case.get('status')}); see "
                    f"`accesswatch cases show {case_id}`")
        time.sleep(pause())


def register_teamwork(actions: Any) -> None:
    """``cases open|assign|note|amend|reopen``."""
    from accesswatch_tools.cli.vocabulary import MAX_CLIENTS, PERSON_SOURCES, UNFOUNDED_REASONS

    opening = actions.add_parser(
        "open", help="open a case for a staff member from a complaint, a manager's concern or a privacy request "
                     "(joins the user's open case if there is one)",
        description="Open a case for a staff member through the same case workflow detection uses. If the user has "
                    "an open case, the request joins it (one open case per user; its history records the source). "
                    "The user's accumulate-tier findings still in their risk ledger for the period are carried "
                    "into the case. Sent twice, the same request opens or joins once.")
    opening.add_argument("--user", required=True, type=identifier("user"), help="staff user id, e.g. u112017")
    opening.add_argument("--source", required=True, type=one_of("source", PERSON_SOURCES), metavar="SOURCE",
                         help=f"how it came to light: {', '.join(PERSON_SOURCES)}")
    opening.add_argument("--client", action="append", type=identifier("client"), metavar="CLIENT_ID",
                         help=f"repeatable (at most {MAX_CLIENTS}): a client the report concerns, id as text")
    opening.add_argument("--from", dest="date_from", type=nz_day, metavar="YYYY-MM-DD",
                         help="first NZ date the report concerns (findings from then on are carried into the case)")
    opening.add_argument("--to", dest="date_to", type=nz_day, metavar="YYYY-MM-DD",
                         help="last NZ date the report concerns, inclusive")
    opening.add_argument("--note", required=True,
                         help="what was reported: a reference and ids, no names (kept in the case history)")
    opening.add_argument("--json", action="store_true",
                         help="one JSON object on one line: case_id, joined, already, findings_carried, request_id")
    add_actor_option(opening)
    add_target_options(opening)
    opening.set_defaults(func=cmd_open)

    assign = actions.add_parser("assign", help="assign a case to an investigator (recorded in its history)")
    assign.add_argument("case_id", help="the case, e.g. CASE-9AA220D512253ADD")
    assign.add_argument("--to", required=True, metavar="LOGIN",
                        help="the investigator's login (IAM role session or user name; locally an OS user)")
    assign.add_argument("--note", default="", help="why, kept in the case history")
    add_actor_option(assign)
    add_target_options(assign)
    assign.set_defaults(func=cmd_assign)

    note = actions.add_parser("note", help="add a note to a case's history (at any status, before a decision too)")
    note.add_argument("case_id", help="the case, e.g. CASE-9AA220D512253ADD")
    note.add_argument("--note", required=True, help="the note: ids and references, no names")
    add_actor_option(note)
    add_target_options(note)
    note.set_defaults(func=cmd_note)

    amend = actions.add_parser(
        "amend", help="correct a recorded outcome, ER case type or unfounded reason, with a reason",
        description="Correct what a case records without changing its path: the ER outcome (e.g. after an appeal), "
                    "the ER case type, or the reason of an unfounded decision. The history keeps what it was; "
                    "reports count what the case records now. To turn founded into unfounded (or back), reopen "
                    "the case and decide it again.")
    amend.add_argument("case_id", help="the case, e.g. CASE-9AA220D512253ADD")
    amend.add_argument("--outcome", help="the ER outcome it should record (the deployment's CaseOutcomes)")
    amend.add_argument("--er-type", help="the ER case type it should record (the deployment's CaseErTypes)")
    amend.add_argument("--unfounded-reason", choices=UNFOUNDED_REASONS,
                       help="the reason an unfounded decision should record")
    amend.add_argument("--decision", choices=("founded", "unfounded"),
                       help="the decision the case records (another one is refused: reopen and decide again)")
    amend.add_argument("--reason", required=True, metavar="TEXT", help="why it is amended, kept in the case history")
    add_actor_option(amend)
    add_target_options(amend)
    amend.set_defaults(func=cmd_amend)

    reopen = actions.add_parser(
        "reopen", help="reopen a closed case: it waits for a decision again",
        description="Reopen a closed case: its decision and outcome are removed from the case (its history keeps "
                    "them), its rule verdicts leave the precision counts, and a new workflow execution waits for "
                    "a decision (`cases decide`), with a new deadline. Refused while the user has another open "
                    "case (one open case per user).")
    reopen.add_argument("case_id", help="the case, e.g. CASE-9AA220D512253ADD")
    reopen.add_argument("--reason", required=True, metavar="TEXT", help="why it is reopened, kept in the history")
    add_actor_option(reopen)
    add_target_options(reopen)
    reopen.set_defaults(func=cmd_reopen)

    # ---- evidence packs (issue 17 item 3): cases evidence, cases verify-evidence (cli/commands/evidence.py)
    from accesswatch_tools.cli.commands import evidence as evidence_commands

    evidence_commands.register(actions)
