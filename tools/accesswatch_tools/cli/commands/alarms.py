"""``accesswatch alarms``: name, state, reason and last change of every alarm in the template.

The states are CloudWatch's own (``describe_alarms``) on a deployed stack (``--stack``) and on the embedded
runtime (the local endpoint, the default) alike. moto neither creates nor evaluates alarms, so the runtime
creates the template's alarms in its CloudWatch and sets their states, whenever they are described, from the
template's alarm definitions evaluated over the metrics the functions really published there (see
``accesswatch_tools.embedded.adapters.cloudwatch`` and docs/operations.md).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from typing import Any

from accesswatch_tools.cli.context import add_target_options, deployment
from accesswatch_tools.cli.output import json_help, nz_time, print_json_lines

DESCRIPTION = """\
Every alarm of the template with its state, last change and reason: ALARM first, then INSUFFICIENT_DATA,
then OK.

The states are CloudWatch's own, on a deployed stack (--stack) and on the local endpoint (the default)
alike. Locally the endpoint creates the template's alarms in its CloudWatch and, whenever they are read,
sets their states from the template's alarm definitions evaluated over the metrics the functions really
published there (moto stores metrics but evaluates no alarms). Runbook: docs/operations.md."""


def render(rows: Sequence[dict[str, str]], width: int | None = None) -> str:
    width = width or shutil.get_terminal_size((160, 20)).columns
    name_w = max([len(r["name"]) for r in rows] + [4])
    state_w = max([len(r["state"]) for r in rows] + [5])
    lines = [f"{'STATE':<{state_w}}  {'LAST CHANGE (NZ)':<24}  {'NAME':<{name_w}}  REASON"]
    room = max(40, width - state_w - name_w - 30)
    for r in rows:
        reason = r["reason"] if len(r["reason"]) <= room else r["reason"][: room - 3] + "..."
        changed = nz_time(r["last_change"], seconds=True)
        lines.append(f"{r['state']:<{state_w}}  {changed:<24}  {r['name']:<{name_w}}  {reason}")
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in ("ALARM", "INSUFFICIENT_DATA", "OK")}
    lines.append(f"{len(rows)} alarms: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def alarm_rows(dep: Any) -> list[dict[str, str]]:
    from accesswatch_tools.operate.alarms import alarm_rows as rows

    return rows(dep)  # type: ignore[no-any-return]


def cmd_alarms(args: argparse.Namespace) -> int:
    rows = alarm_rows(deployment(args))
    if args.json:
        print_json_lines(rows)
    else:
        print(render(rows))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "alarms",
        help="name, state, reason and last change of every alarm, as CloudWatch reports them",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help=json_help("alarm"))
    add_target_options(parser)
    parser.set_defaults(func=cmd_alarms)
