"""``cases list|show|decide|outcome|precision``: people act on cases (local endpoint or --stack)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from collections.abc import Sequence
from typing import Any

from accesswatch.cli.context import CliError, add_target_options, deployment
from accesswatch.cli.deployment import Deployment

ACTOR_ENV = "ACCESSWATCH_ACTOR"


def case_service(dep: Deployment) -> Any:
    """A CaseService over ``dep``: the same code for the local endpoint, an in-process runtime and AWS."""
    from accesswatch.cases.service import CaseService
    from accesswatch.dal.cases import CaseStore, CaseTasks, deployed_vocabulary
    from accesswatch.dal.findings import FindingStore

    dynamodb = dep.resource("dynamodb")
    return CaseService(
        cases=CaseStore(dep.resource_name("CasesTable"), dynamodb),
        findings=FindingStore(dep.resource_name("FindingsTable"), dynamodb),
        tasks=CaseTasks(dep.client("stepfunctions")),
        load_vocabulary=lambda: deployed_vocabulary(dep.client("lambda"), dep.resource_name("CaseStepFunction")),
    )


def default_actor() -> str:
    if os.environ.get(ACTOR_ENV):
        return os.environ[ACTOR_ENV]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry): say so
        raise CliError(f"who is acting? pass --actor or set ${ACTOR_ENV}") from None


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]


def render_list(cases: Sequence[dict[str, Any]]) -> list[str]:
    rows = [(c["case_id"], c.get("status", ""), c.get("priority") or "-", c.get("user_id", ""),
             c.get("client_id", ""), ",".join(c.get("rules") or []), str(c.get("finding_count", 0)),
             str(c.get("opened_at", ""))[:19]) for c in cases]
    lines = _table(rows, ("CASE", "STATUS", "PRIORITY", "USER", "CLIENT", "RULES", "FINDINGS", "OPENED (UTC)"))
    return [*lines, f"{len(cases)} case(s)"]


def render_show(shown: dict[str, Any]) -> list[str]:
    lines = [f"case {shown['case_id']}"]
    keys = ("status", "priority", "route", "user_id", "client_id", "rules", "finding_count", "opened_at",
            "decision_due_at", "escalations", "decision", "decided_at", "decided_by", "decision_note", "er_type",
            "er_opened_at", "outcome", "outcome_at", "outcome_by", "outcome_note", "police_referral",
            "police_referred_at", "closed_at", "execution_status")
    for key in keys:
        value = shown.get(key)
        if value not in (None, "", []):
            lines.append(f"  {key + ':':<18} {','.join(value) if isinstance(value, list) else value}")
    lines.append(f"findings ({len(shown['findings'])}):")
    for f in shown["findings"]:
        lines.append(f"  {f.get('occurred_at')}  {f.get('rule')} ({f.get('severity')})  {f.get('finding_id')}")
        lines.append(f"      {f.get('explanation')}")
    lines.append(f"history ({len(shown['history'])}):")
    for h in shown["history"]:
        detail = ", ".join(str(h[k]) for k in ("decision", "er_type", "outcome") if h.get(k))
        state = f"{h['state']} ({detail})" if detail else h["state"]
        note = f": {h['note']}" if h.get("note") else ""
        lines.append(f"  {h['at']}  {state} by {h['actor']}{note}")
    return lines


def render_precision(rows: Sequence[Any]) -> list[str]:
    table = [(r.rule, str(r.founded), str(r.unfounded), str(r.undecided),
              "-" if r.precision is None else f"{r.precision:.2f}") for r in rows]
    return _table(table, ("RULE", "FOUNDED", "UNFOUNDED", "UNDECIDED", "PRECISION"))


def _print(lines: Sequence[str]) -> None:
    print("\n".join(lines))


def cmd_list(args: argparse.Namespace) -> int:
    from accesswatch.cases.service import CaseFilter, case_record

    cases = case_service(deployment(args)).find(
        CaseFilter(status=args.status, user=args.user, rule=args.rule, priority=args.priority))
    if args.json:
        for case in cases:
            print(json.dumps(case_record(case), ensure_ascii=False))
    else:
        _print(render_list(cases))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from accesswatch.cases.actions import CaseActionError

    try:
        shown = case_service(deployment(args)).show(args.case_id)
    except CaseActionError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
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

    try:
        case = case_service(deployment(args)).decide(args.case_id, decision=args.decision, er_type=args.er_type,
                                                     note=args.note, actor=args.actor or default_actor())
    except CaseActionError as exc:
        raise CliError(str(exc)) from None
    kind = f" ({case.get('er_type')})" if args.decision == "founded" else ""
    print(f"{case['case_id']}: decided {args.decision}{kind}; {_after(case)}")
    return 0


def cmd_outcome(args: argparse.Namespace) -> int:
    from accesswatch.cases.actions import CaseActionError

    try:
        case = case_service(deployment(args)).record_outcome(args.case_id, outcome=args.outcome, note=args.note,
                                                             actor=args.actor or default_actor())
    except CaseActionError as exc:
        raise CliError(str(exc)) from None
    referral = "; referred to the Police" if case.get("police_referral") else ""
    print(f"{case['case_id']}: outcome {args.outcome}{referral}; {_after(case)}")
    return 0


def cmd_precision(args: argparse.Namespace) -> int:
    rows = case_service(deployment(args)).precision()
    if args.json:
        for row in rows:
            print(json.dumps(row.as_dict()))
    else:
        _print(render_precision(rows))
    return 0


def register(sub: Any) -> None:
    cases = sub.add_parser("cases", help="list, show, decide and close cases (local endpoint or --stack)")
    actions = cases.add_subparsers(dest="cases_command", required=True)

    listing = actions.add_parser("list", help="cases, oldest first, optionally filtered")
    listing.add_argument("--status", help="e.g. investigating, awaiting_outcome, closed_founded")
    listing.add_argument("--user", help="staff user id")
    listing.add_argument("--rule", help="rule id, e.g. SELF_RECORD")
    listing.add_argument("--priority", choices=("critical", "high", "medium", "low"))
    listing.add_argument("--json", action="store_true", help="one JSON object per case (as OUT/cases.jsonl)")
    add_target_options(listing)
    listing.set_defaults(func=cmd_list)

    show = actions.add_parser("show", help="a case with its findings (and their explanations) and its history")
    show.add_argument("case_id")
    show.add_argument("--json", action="store_true")
    add_target_options(show)
    show.set_defaults(func=cmd_show)

    decide = actions.add_parser("decide", help="record the investigator's decision on a case awaiting one")
    decide.add_argument("case_id")
    decide.add_argument("--decision", required=True, choices=("founded", "unfounded"))
    decide.add_argument("--er-type", help="founded only: the Employment Relations case type "
                                          "(the deployment's CaseErTypes, e.g. conflict_of_interest)")
    decide.add_argument("--note", default="", help="kept in the case history")
    decide.add_argument("--actor", default=None, help=f"who decides (default ${ACTOR_ENV} or your login)")
    add_target_options(decide)
    decide.set_defaults(func=cmd_decide)

    outcome = actions.add_parser("outcome", help="record the outcome of a case's Employment Relations case")
    outcome.add_argument("case_id")
    outcome.add_argument("--outcome", required=True,
                         help="the deployment's CaseOutcomes, e.g. written_warning, dismissal")
    outcome.add_argument("--note", default="", help="kept in the case history")
    outcome.add_argument("--actor", default=None, help=f"who records it (default ${ACTOR_ENV} or your login)")
    add_target_options(outcome)
    outcome.set_defaults(func=cmd_outcome)

    precision = actions.add_parser("precision", help="per-rule precision from decisions: founded/(founded+unfounded)")
    precision.add_argument("--json", action="store_true")
    add_target_options(precision)
    precision.set_defaults(func=cmd_precision)
