"""Choosing the deployment a command acts on, and the shared options for it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from accesswatch_tools.operate.deployment import AwsStack, Deployment


class CliError(Exception):
    """A user-facing failure: one line, non-zero exit."""


def add_target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target")
    group.add_argument("--stack", default=None,
                       help="act on this deployed CloudFormation stack (real AWS) instead of the local endpoint")
    group.add_argument("--region", default=None, help="AWS region of --stack")
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
            server.start(directory)
        return server.connect(directory)  # type: ignore[no-any-return]
    except server.EndpointError as exc:
        raise CliError(str(exc)) from None


def invoke_deployed(dep: Deployment, logical_id: str, payload: dict[str, Any], what: str) -> dict[str, Any]:
    """Run a deployed function as its schedule does and return its result; CliError if it raised."""
    import json

    response = dep.client("lambda").invoke(FunctionName=dep.resource_name(logical_id),
                                           Payload=json.dumps(payload).encode())
    body = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise CliError(f"the {what} function failed: {body.get('errorType', 'error')}: "
                       f"{str(body.get('errorMessage', ''))[:300]}")
    return dict(body)
