"""``digest``: the weekly digest per team manager (users below the case threshold, suppressed and staging
counts) for an ISO week, printed; ``--publish`` runs the deployed digest function for it."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from accesswatch_tools.cli.context import CliError, add_target_options, deployment
from accesswatch_tools.cli.output import json_line
from accesswatch_tools.operate.deployment import OperationError


def parse_week(text: str | None, now: datetime) -> Any:
    from accesswatch.cases.digest import Week
    from accesswatch.quarters import previous_nz_week

    try:
        week = Week.of(text if text is not None else previous_nz_week(now))
    except ValueError as exc:
        raise CliError(f"--week: {exc}") from None
    if not week.started_at(now):
        raise CliError(f"--week: week {week.id} ({week.label}) has not started yet")
    return week


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{rule}={n}" for rule, n in counts.items()) or "-"


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]


def render(digest: Any) -> list[str]:
    """The digest as text for a person (the JSON of ``--json`` is the file the function writes)."""
    from accesswatch.cases.digest import UNASSIGNED_REASONS

    data = digest.as_dict()
    totals = data["totals"]
    lines = [f"weekly digest {digest.week.id}: {digest.week.label} (New Zealand time)"
             + ("" if digest.complete else " - week in progress, counts so far")]
    if digest.team_source == "none":
        lines.append("no reference data with teams has been loaded: every user is unassigned")
    else:
        source = "reference index" if digest.team_source == "reference_index" else "staff snapshot"
        lines.append(f"teams and managers from the current {source} (snapshot {digest.snapshot_id or '-'})")
    if totals["findings"] == 0:
        lines.append(f"no findings in week {digest.week.id}: nothing to digest")
        return lines
    parts = [f"{totals['accumulate_below_threshold']} accumulate-tier below the threshold "
             f"({totals['users_below_threshold']} user(s))",
             f"{totals['accumulate_in_cases']} accumulate-tier in cases"]
    if totals["users_awaiting_case"]:
        parts.append(f"{totals['accumulate_awaiting_case']} accumulate-tier of {totals['users_awaiting_case']} "
                     "user(s) whose case waits in the queue (not listed)")
    parts += [f"{totals['immediate']} immediate-tier", f"{totals['suppressed']} suppressed",
              f"{totals['staging']} staging"]
    lines.append(f"{totals['findings']} finding(s) in the week: " + ", ".join(parts))
    if digest.empty:
        lines.append(f"nothing below the threshold, suppressed or staged in week {digest.week.id}: no digest to send")
        return lines
    for group in data["groups"]:
        t = group["totals"]
        lines.append("")
        if group["manager_user_id"] is None:
            lines.append(f"unassigned (the reference data gives these users no team manager; the integrity unit "
                         f"reads this group): {t['users_below_threshold']} user(s) below the threshold")
        else:
            teams = ", ".join(group["teams"]) or "-"
            lines.append(f"manager {group['manager_user_id']} (team {teams}): "
                         f"{t['users_below_threshold']} user(s) below the threshold")
        if group["users"]:
            header: tuple[str, ...] = ("USER", "TEAM", "FINDINGS", "CLIENTS", "BY RULE")
            rows: list[tuple[str, ...]] = [
                (u["user_id"], u["team"] or "-", str(u["findings"]), str(u["clients"]), _counts(u["by_rule"]))
                for u in group["users"]]
            if group["manager_user_id"] is None:
                header = (*header, "WHY UNASSIGNED")
                rows = [(*r, UNASSIGNED_REASONS.get(u.get("unassigned_reason", ""), "-"))
                        for r, u in zip(rows, group["users"], strict=True)]
            lines.extend("  " + line for line in _table(rows, header))
        lines.append(f"  suppressed: {t['suppressed']} ({_counts(t['suppressed_by_rule'])})")
        lines.append(f"  staging:    {t['staging']} ({_counts(t['staging_by_rule'])})")
    return lines


def cmd_digest(args: argparse.Namespace) -> int:
    from accesswatch.services.digest import DigestError, produce
    from accesswatch_tools.operate.digest import digest_sources, invoke_digest

    if args.force and not args.publish:
        raise CliError("--force only goes with --publish")
    now = datetime.now(UTC)
    week = parse_week(args.week, now)
    dep = deployment(args)
    if args.publish:
        if not week.complete_at(now):
            raise CliError(f"week {week.id} has not ended: its digest is published once it has")
        try:
            result = invoke_digest(dep, {"week": week.id, "source": "cli", "republish": bool(args.force)})
        except OperationError as exc:
            raise CliError(str(exc)) from None
        if args.json:
            print(json_line(dict(sorted(result.items()))))
        elif result.get("already_published"):
            print(f"week {week.id} was published already ({result['key']}): nothing sent; --force sends it again")
        else:
            print(f"week {week.id}: {result['messages']} message(s) sent to the digest topic, "
                  f"{result['users_below_threshold']} user(s) below the threshold; file {result['key']}")
        return 0
    try:
        digest = produce(digest_sources(dep), week, now=now)
    except DigestError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json_line(digest.as_dict()))
    else:
        print("\n".join(render(digest)))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("digest", help="the weekly digest per team manager: users below the case threshold, "
                                           "suppressed and staging counts")
    parser.add_argument("--week", default=None, metavar="YYYY-Www",
                        help="ISO week, New Zealand time (default: the last complete week)")
    parser.add_argument("--json", action="store_true", help="the digest as one JSON object on one line (the file's content), for scripts")
    parser.add_argument("--publish", action="store_true",
                        help="run the deployed digest function for the week: send the managers' messages and "
                             "write digests/week=YYYY-Www/digest.json (once per week)")
    parser.add_argument("--force", action="store_true", help="with --publish: send a published week again")
    add_target_options(parser)
    parser.set_defaults(func=cmd_digest)
