"""``exceptions list|add|revoke``: scopes whose accumulate-tier findings are recorded but not routed."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from accesswatch.quarters import nz_today
from accesswatch_tools.cli.context import (
    CliError,
    acting_actor,
    add_actor_option,
    add_target_options,
    checked_filter_ids,
    deployment,
)
from accesswatch_tools.cli.output import identifier, json_help, json_line, nz_time, rule_id, table
from accesswatch_tools.operate.case_exceptions import create, exception_store


def describe_scope(exception: Mapping[str, Any]) -> str:
    parts = [f"{key.removesuffix('_id')} {exception[key]}" for key in ("rule", "user_id", "client_id")
             if exception.get(key)]
    return ", ".join(parts)




def cmd_list(args: argparse.Namespace) -> int:
    from accesswatch.cases.exceptions import is_active, state

    today = nz_today()
    rows = exception_store(deployment(args)).all()
    if not args.all:
        rows = [r for r in rows if is_active(r, today)]
    if args.json:
        for row in rows:
            print(json_line({**row, "active": is_active(row, today)}))
        return 0
    cells = [(r["exception_id"], r.get("rule") or "*", r.get("user_id") or "*", r.get("client_id") or "*",
              r["expires_on"], state(r, today),
              str(r.get("suppressed", 0)), nz_time(r.get("created_at")), r.get("created_by", ""),
              r.get("case_id") or "-") for r in rows]
    header = ("EXCEPTION", "RULE", "USER", "CLIENT", "EXPIRES (NZ DATE)", "STATE", "SUPPRESSED", "MADE (NZ)", "BY",
              "CASE")
    print("\n".join(table(cells, header)))
    print(f"{len(rows)} exception(s){'' if args.all else ' in force (--all shows revoked and expired ones)'}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from accesswatch.cases.exceptions import ExceptionError

    dep = deployment(args)
    actor = acting_actor(dep, args)
    checked_filter_ids(dep, user=args.user, client=args.client)  # an exception for a mistyped id suppresses nothing
    try:
        item = create(dep, user_id=args.user, client_id=args.client,
                      rule=args.rule, expires_on=args.expires, reason=args.reason,
                      actor=actor, case_id=args.case)
    except ExceptionError as exc:
        raise CliError(str(exc)) from None
    print(f"exception {item['exception_id']}: {describe_scope(item)} suppressed from routing until "
          f"{item['expires_on']} (findings are still recorded and counted)")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from accesswatch.cases.exceptions import AlreadyRevoked, UnknownException, revoke_exception

    dep = deployment(args)
    actor = acting_actor(dep, args)
    try:
        revoke_exception(exception_store(dep), args.exception_id, actor=actor, note=args.note)
    except UnknownException as exc:
        raise CliError(f"{exc} (see `accesswatch exceptions list --all`)") from None
    except AlreadyRevoked as exc:
        raise CliError(str(exc)) from None
    print(f"exception {args.exception_id} revoked: matching findings are routed again from now on")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("exceptions", help="what rule_too_broad decisions suppress from routing "
                                               "(local endpoint or --stack)")
    actions = parser.add_subparsers(dest="exceptions_command", required=True)

    listing = actions.add_parser("list", help="exceptions in force (scope, expiry, who, how many suppressed)")
    listing.add_argument("--all", action="store_true", help="revoked and expired ones too")
    listing.add_argument("--json", action="store_true", help=json_help("exception"))
    add_target_options(listing)
    listing.set_defaults(func=cmd_list)

    add = actions.add_parser("add", help="suppress an accumulate-tier scope from routing until a date")
    add.add_argument("--rule", type=rule_id, metavar="RULE",
                     help="an accumulate-tier rule id in any case, e.g. sensitive_lookup")
    add.add_argument("--user", type=identifier("user"), help="staff user id, e.g. u112017")
    add.add_argument("--client", type=identifier("client"), help="client id as text, leading zeros included")
    add.add_argument("--expires", required=True, metavar="YYYY-MM-DD",
                     help="last day in force (NZ date, at most a year away)")
    add.add_argument("--reason", required=True, help="why (kept with the exception)")
    add.add_argument("--case", help="the case whose decision this follows, e.g. CASE-978C3151B49E9216")
    add_actor_option(add)
    add_target_options(add)
    add.set_defaults(func=cmd_add)

    revoke = actions.add_parser("revoke", help="end an exception now (it is kept, marked revoked)")
    revoke.add_argument("exception_id", help="e.g. EXC-0448127C3554 (see `accesswatch exceptions list`)")
    revoke.add_argument("--note", default="", help="why (kept with the exception)")
    add_actor_option(revoke)
    add_target_options(revoke)
    revoke.set_defaults(func=cmd_revoke)
