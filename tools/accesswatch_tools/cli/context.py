"""Choosing the deployment a command acts on, and the shared options for it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accesswatch_tools.operate.deployment import AwsStack, Deployment


class CliError(Exception):
    """A user-facing failure: one line, non-zero exit."""


def add_target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target")
    group.add_argument("--stack", default=None,
                       help="act on this deployed CloudFormation stack (real AWS) instead of the local endpoint")
    group.add_argument("--region", default=None, help="AWS region of --stack")
    _state_dir_argument(group)


def add_state_dir_option(parser: argparse.ArgumentParser) -> None:
    """For commands about the local endpoint only (no --stack)."""
    _state_dir_argument(parser.add_argument_group("local endpoint"))


def _state_dir_argument(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--state-dir", default=None,
                       help="local endpoint state directory (default $ACCESSWATCH_STATE_DIR or ./.accesswatch)")


def state_dir(args: argparse.Namespace) -> Path:
    from accesswatch_tools.embedded.server import state_dir_from_env

    return Path(args.state_dir) if getattr(args, "state_dir", None) else state_dir_from_env()


def deployment(args: argparse.Namespace, *, start_local: bool = False) -> Deployment:
    """The deployed stack when --stack is given, else the local endpoint (started if asked)."""
    if getattr(args, "stack", None):
        return AwsStack(args.stack, args.region)
    from accesswatch_tools.embedded import server

    directory = state_dir(args)
    try:
        if start_local:
            for note in server.start(directory).notes:
                print(f"accesswatch: {note}", file=sys.stderr)
        # A call that finds the endpoint gone mid-command ends the command with one line (a CliError).
        return server.connect(directory, lost_error=CliError)  # type: ignore[no-any-return]
    except server.EndpointError as exc:
        raise CliError(str(exc)) from None


def checked_filter_ids(dep: Deployment, *, user: str | None = None, client: str | None = None) -> None:
    """A user or client id given as a filter must be in the current reference data: CliError naming it and
    the ids it may have meant (a mistyped id must not answer "nothing found"); a warning when there is no
    snapshot to check against yet."""
    from accesswatch_tools.operate.reference_ids import UnknownId, check_ids

    try:
        for warning in check_ids(dep, user=user, client=client):
            print(f"accesswatch: warning: {warning}", file=sys.stderr)
    except UnknownId as exc:
        raise CliError(str(exc)) from None
