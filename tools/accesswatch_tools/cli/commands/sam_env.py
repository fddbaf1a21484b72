"""``accesswatch sam-env``: the ``--env-vars`` file for ``sam local invoke``.

``sam local invoke`` resolves a function's ``!Ref`` environment variables to logical ids
(``LEDGER_TABLE=LedgerTable``), so a function it runs reads and writes nothing real. This writes, for every
function, every variable the template declares with its value in a deployed stack (``--stack NAME``) or in
the local endpoint's stack: ``sam local invoke IngestFunction -e events/ingest_s3_single.json --env-vars
env.json``. ``events/env-vars.local.json`` is this command's output for the local endpoint's names.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from accesswatch_tools.cli.context import CliError, add_target_options, deployment


def _cloudformation(args: argparse.Namespace) -> tuple[Any, str, Any, frozenset[str]]:
    """A CloudFormation client for the target, the stack's name, the template it was deployed from, and the
    resource types it may lack (the local stack's: LOCAL_ABSENT_TYPES)."""
    if args.stack:
        import boto3
        from botocore.exceptions import BotoCoreError

        from accesswatch_tools.embedded.template import TEMPLATE_PATH, load_template

        try:
            client = boto3.session.Session(region_name=args.region).client("cloudformation")
        except BotoCoreError as exc:
            raise CliError(f"cannot reach CloudFormation for stack {args.stack!r}: {exc}") from None
        return client, args.stack, load_template(TEMPLATE_PATH), frozenset()
    from accesswatch_tools.embedded.template import LOCAL_ABSENT_TYPES, STACK_NAME

    target = deployment(args)
    return target.client("cloudformation"), STACK_NAME, target.template, LOCAL_ABSENT_TYPES


def env_vars_text(args: argparse.Namespace) -> str:
    from botocore.exceptions import BotoCoreError

    from accesswatch_tools.operate.stack_env import StackEnvError, read_stack, resolver_for, sam_env_vars

    client, stack_name, template, absent_types = _cloudformation(args)
    try:
        record = read_stack(client, stack_name)
        variables = sam_env_vars(template, resolver_for(template, record, absent_types=absent_types))
    except StackEnvError as exc:
        raise CliError(str(exc)) from None
    except BotoCoreError as exc:  # no credentials, no region, endpoint unreachable
        raise CliError(f"cannot read stack {stack_name!r}: {exc}") from None
    return json.dumps(variables, indent=2) + "\n"


def cmd_sam_env(args: argparse.Namespace) -> int:
    out = None if args.out in (None, "-") else Path(args.out)
    if out is not None and not out.parent.is_dir():
        raise CliError(f"--out {out}: directory {out.parent} does not exist")
    text = env_vars_text(args)
    if out is None:
        sys.stdout.write(text)
        return 0
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    functions = len(json.loads(text))
    print(f"wrote {out}: the environment of {functions} functions for `sam local invoke --env-vars {out}`",
          file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "sam-env", help="write the --env-vars file of `sam local invoke` from a stack's resources",
        description="Every function's environment variables, resolved against a deployed stack (--stack) or "
                    "the local endpoint's stack, as `sam local invoke --env-vars FILE` reads them. Without it "
                    "SAM gives !Ref variables the logical id (LEDGER_TABLE=LedgerTable).")
    parser.add_argument("--out", default=None, help="write the JSON here (default: standard output)")
    add_target_options(parser)
    parser.set_defaults(func=cmd_sam_env)
