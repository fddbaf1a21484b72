"""Choosing the deployment a command acts on, and the shared options for it."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accesswatch_tools.operate.deployment import Deployment


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
    """The deployed stack when --stack is given, else the local endpoint (started if asked). Its boto3 clients
    and resources are made when first used, once per service (``lazy_clients``)."""
    if getattr(args, "stack", None):
        from accesswatch_tools.operate.deployment import AwsStack

        return lazy_clients(AwsStack(args.stack, args.region))
    from accesswatch_tools.embedded import server

    directory = state_dir(args)
    try:
        if start_local:
            for note in server.start(directory).notes:
                print(f"accesswatch: {note}", file=sys.stderr)
        # A call that finds the endpoint gone mid-command ends the command with one line (a CliError).
        return lazy_clients(server.connect(directory, lost_error=CliError))
    except server.EndpointError as exc:
        raise CliError(str(exc)) from None


class _Lazy:
    """A boto3 client or resource made on first use: a command builds its services up front (a case service
    has a Step Functions client that ``cases list`` never calls), and making a client loads botocore's JSON
    model of the service (about 0.1-0.3 s of CPU each)."""

    __slots__ = ("_make", "_made", "_lock")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._made: Any = None
        self._lock = threading.Lock()

    def _target(self) -> Any:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return self._made

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def __repr__(self) -> str:
        return repr(self._target())


def lazy_clients(dep: Any) -> Any:
    """``dep`` itself (its type kept: commands tell a stack from the endpoint by it), its ``client(service)``
    and ``resource(service)`` giving one object per service, made when first used."""
    made: dict[tuple[str, str], _Lazy] = {}
    lock = threading.Lock()

    def once(kind: str, make: Callable[[str], Any]) -> Callable[[str], Any]:
        def get(service: str) -> Any:
            with lock:
                if (kind, service) not in made:
                    made[kind, service] = _Lazy(lambda: make(service))
                return made[kind, service]
        return get

    dep.client = once("client", dep.client)
    dep.resource = once("resource", dep.resource)
    return dep


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


# ------------------------------------------------------------------------- who is acting, and why
LEGACY_ACTOR_ENV = "ACCESSWATCH_ACTOR"  # no longer read: the actor is the authenticated caller


def _reason(text: str) -> str:
    from accesswatch.audit import AuditError, check_reason

    try:
        return check_reason(text)
    except AuditError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_reason_option(parser: argparse.ArgumentParser) -> None:
    """``--reason``: why this read is made, kept in its audit record (docs/privacy.md, "Audit of reads")."""
    parser.add_argument("--reason", default=None, metavar="TEXT", type=_reason,
                        help="why you are reading this (e.g. a request or case reference), kept in the audit "
                             "record of the read with who, when and what; ids only, no names")


def add_actor_option(parser: argparse.ArgumentParser) -> None:
    """The old ``--actor``, kept so that scripts passing their own name still run: it is checked, never
    recorded."""
    parser.add_argument("--actor", default=None,
                        help="no longer needed: who acts is recorded from your credentials (your IAM identity "
                             "with --stack; locally your OS user). Given, it must be that actor, or the "
                             "command is refused")


def authenticated(dep: Deployment) -> Any:
    """The authenticated actor of ``dep`` (accesswatch.audit.Actor); CliError if it cannot be told."""
    from accesswatch_tools.operate.audit import authenticated_actor
    from accesswatch_tools.operate.deployment import OperationError

    try:
        return authenticated_actor(dep)
    except OperationError as exc:
        raise CliError(str(exc)) from None


def acting_actor(dep: Deployment, args: argparse.Namespace) -> str:
    """The name recorded as who acts (``decided_by``, ``outcome_by``, ``created_by``): the authenticated
    caller, never free text. A ``--actor`` naming someone else is refused; ``$ACCESSWATCH_ACTOR`` is ignored
    (with a warning when it names someone else)."""
    actor = authenticated(dep)
    claimed = (getattr(args, "actor", None) or "").strip()
    how = "your IAM identity" if actor.source == "iam" else "your local OS user (no authentication locally)"
    if claimed and claimed != actor.name:
        raise CliError(f"--actor {claimed!r} is not who is acting: actions are recorded as {how}, {actor.name}; "
                       "drop --actor, or run the command as that person")
    legacy = os.environ.get(LEGACY_ACTOR_ENV, "").strip()
    if legacy and legacy != actor.name:
        print(f"accesswatch: warning: ${LEGACY_ACTOR_ENV} is ignored: actions are recorded as {how}, {actor.name}",
              file=sys.stderr)
    return str(actor.name)


def audited(dep: Deployment, args: argparse.Namespace, action: str, *, subject: dict[str, Any],
            result: dict[str, Any], actor: Any | None = None) -> None:
    """Write the audit record of a read before it is shown; CliError (and nothing shown) if it cannot be."""
    from accesswatch_tools.operate.audit import record_read
    from accesswatch_tools.operate.deployment import OperationError

    try:
        record_read(dep, actor or authenticated(dep), action, subject=subject, result=result,
                    reason=getattr(args, "reason", None))
    except OperationError as exc:
        raise CliError(str(exc)) from None
