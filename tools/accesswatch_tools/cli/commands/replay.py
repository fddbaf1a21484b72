"""``replay --from DATE --to DATE``: re-evaluate stored partitions with the current rules and reference."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from accesswatch_tools.cli.context import CliError, add_target_options, deployment
from accesswatch_tools.operate.deployment import OperationError
from accesswatch_tools.operate.replay import replay


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        report = replay(deployment(args), date.fromisoformat(args.date_from), date.fromisoformat(args.date_to),
                        timeout_s=args.timeout)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    if not args.show_ids:
        report.pop("no_longer_raised_ids")
    print(json.dumps(report, indent=2))
    return 0 if report["execution"] == "SUCCEEDED" else 2


def register(sub: Any) -> None:
    parser = sub.add_parser("replay", help="re-evaluate stored partitions against the current rules and reference data")
    parser.add_argument("--from", dest="date_from", required=True, help="first New Zealand date (YYYY-MM-DD)")
    parser.add_argument("--to", dest="date_to", required=True, help="last New Zealand date (YYYY-MM-DD)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--show-ids", action="store_true", help="list the finding ids no longer raised")
    add_target_options(parser)
    parser.set_defaults(func=cmd_replay)
