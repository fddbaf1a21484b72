"""``findings list``: what detection recorded (local endpoint or --stack), staging rules included: their
findings are recorded and counted but never reach a case, so this is where they are seen."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from typing import Any

from accesswatch_tools.cli.context import (
    CliError,
    add_reason_option,
    add_target_options,
    audited,
    checked_filter_ids,
    deployment,
)
from accesswatch_tools.cli.output import (
    identifier,
    json_help,
    nz_day,
    nz_time,
    one_of,
    print_json_lines,
    rule_id,
    table,
)
from accesswatch_tools.operate.deployment import OperationError
from accesswatch_tools.operate.findings import RULE_STATUSES, FindingFilter, finding_record, list_findings


def _route(finding: dict[str, Any]) -> str:
    if finding.get("case_id"):
        return str(finding["case_id"])
    if finding.get("suppressed_by"):
        return f"suppressed ({finding['suppressed_by']})"
    if finding.get("rule_status", "live") != "live" or finding.get("tier") == "record":
        return "recorded only"
    return "risk ledger"


def render_list(findings: Sequence[dict[str, Any]], *, explain: bool = False) -> list[str]:
    rows = [(nz_time(f.get("occurred_at_utc") or f.get("occurred_at")), str(f.get("rule", "")),
             str(f.get("rule_status", "live")), str(f.get("severity", "")), str(f.get("user_id", "")),
             str(f.get("client_id", "")), str(f.get("system", "")), _route(f), str(f.get("finding_id", "")))
            for f in findings]
    lines = table(rows, ("OCCURRED (NZ)", "RULE", "STATUS", "SEVERITY", "USER", "CLIENT", "SYSTEM", "CASE OR ROUTE",
                         "FINDING"))
    if explain:
        out = [lines[0]]
        for line, f in zip(lines[1:], findings, strict=True):
            out += [line, f"    {f.get('explanation', '')}"]
        lines = out
    by_status = Counter(str(f.get("rule_status", "live")) for f in findings)
    split = ", ".join(f"{by_status[s]} {s}" for s in RULE_STATUSES if by_status[s])
    lines.append(f"{len(findings)} finding(s){f' ({split})' if split else ''}, oldest first")
    return lines


def cmd_list(args: argparse.Namespace) -> int:
    try:
        where = FindingFilter(rule=args.rule, status=args.status, user=args.user, client=args.client,
                              start=args.date_from, end=args.date_to)
        dep = deployment(args)
        checked_filter_ids(dep, user=args.user, client=args.client)
        found = list_findings(dep, where)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    audited(dep, args, "findings_list",
            subject={"rule": args.rule, "rule_status": args.status, "user_id": args.user, "client_id": args.client,
                     "from": args.date_from, "to": args.date_to},
            result={"findings": len(found)})
    if args.json:
        print_json_lines(finding_record(f) for f in found)
    else:
        print("\n".join(render_list(found, explain=args.explain)))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("findings", help="what detection recorded, staging rules included "
                                             "(local endpoint or --stack)")
    actions = parser.add_subparsers(dest="findings_command", required=True)
    listing = actions.add_parser(
        "list", help="findings oldest first, with where each went (a case, suppressed, the risk ledger, or "
                     "recorded only: staging)",
        description="Every finding detection recorded, live and staging rules alike, oldest first. Times are "
                    "New Zealand time. Filters combine; an unknown rule or status is refused with the valid ones.")
    listing.add_argument("--rule", type=rule_id, metavar="RULE", help="rule id in any case, e.g. self_record")
    listing.add_argument("--status", type=one_of("rule status", RULE_STATUSES), metavar="STATUS",
                         help="the rule's status: live (may reach a case) or staging (recorded only)")
    listing.add_argument("--user", type=identifier("user"), help="staff user id, e.g. u112017")
    listing.add_argument("--client", type=identifier("client"),
                         help="client id as text (leading zeros matter), e.g. 010693250")
    listing.add_argument("--from", dest="date_from", type=nz_day, metavar="YYYY-MM-DD",
                         help="first day of the period (New Zealand date of the access)")
    listing.add_argument("--to", dest="date_to", type=nz_day, metavar="YYYY-MM-DD",
                         help="last day of the period, inclusive (New Zealand date)")
    listing.add_argument("--explain", action="store_true", help="each finding's plain-English explanation too")
    listing.add_argument("--json", action="store_true", help=json_help("finding", "the fields of findings.jsonl and more"))
    add_reason_option(listing)
    add_target_options(listing)
    listing.set_defaults(func=cmd_list)
