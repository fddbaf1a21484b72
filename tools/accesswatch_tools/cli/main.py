"""accesswatch: catch staff who look at client records without a work reason.

Commands act on the local endpoint (the whole system from template.yaml on embedded AWS, started
by `run`/`demo`/`local start`) or, with --stack, on a deployed stack.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from accesswatch_tools.cli.context import CliError

# Each module registers its sub-commands; adding a command group touches one module and this list.
COMMAND_MODULES = (
    "accesswatch_tools.cli.commands.world",
    "accesswatch_tools.cli.commands.local",
    "accesswatch_tools.cli.commands.replay",
    "accesswatch_tools.cli.commands.report",
    "accesswatch_tools.cli.commands.digest",
    "accesswatch_tools.cli.commands.footprint",
    "accesswatch_tools.cli.commands.history",
    "accesswatch_tools.cli.commands.verify",
    "accesswatch_tools.cli.commands.redrive",
    "accesswatch_tools.cli.commands.alarms",
    "accesswatch_tools.cli.commands.cases",
    "accesswatch_tools.cli.commands.findings",
    "accesswatch_tools.cli.commands.export",
    "accesswatch_tools.cli.commands.audit",
    "accesswatch_tools.cli.commands.exceptions",
    "accesswatch_tools.cli.commands.bench",
    "accesswatch_tools.cli.commands.sam_env",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accesswatch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"accesswatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("accesswatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`accesswatch cases list | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
