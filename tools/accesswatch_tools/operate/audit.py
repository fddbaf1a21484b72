"""Who is acting, and the audit record of each read (``accesswatch.audit``), on any deployment.

The actor is always the authenticated caller: on a deployed stack (``AwsStack``) the IAM identity of the
credentials the CLI runs with (``sts:GetCallerIdentity``); on the local endpoint or an in-process runtime the
local operating-system user, as the process's user id names it (there is no authentication locally: anyone
who can run the tools as that user is that user). Audit records are written with the caller's own
credentials, straight to the deployment's AuditTable (no function in between).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from typing import Any

from accesswatch.audit import Actor, AuditError, new_record
from accesswatch_tools.operate.deployment import AwsStack, Deployment, OperationError

AUDIT_TABLE = "AuditTable"
MAX_LIST_DAYS = 366


def local_actor() -> Actor:
    """The local OS user running this process: its account name (from the user id, not from $USER or
    $LOGNAME, which anyone can set), or ``uid-<n>`` when the system has no name for it."""
    try:
        import pwd

        name = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, OSError):  # no passwd entry (a container) or no pwd module (Windows)
        if hasattr(os, "geteuid"):
            name = f"uid-{os.geteuid()}"
        else:
            import getpass

            name = getpass.getuser()
    return Actor(name=name, source="local")


def authenticated_actor(dep: Deployment) -> Actor:
    """Who is acting on ``dep``, as authenticated (OperationError, one line, if AWS will not say)."""
    if isinstance(dep, AwsStack):
        from botocore.exceptions import BotoCoreError, ClientError

        from accesswatch.dal.identity import caller_actor

        try:
            return caller_actor(dep.client("sts"))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise OperationError(f"cannot tell who is acting: sts:GetCallerIdentity: {error.get('Code', 'error')}: "
                                 f"{error.get('Message', '')}".rstrip(": ")) from None
        except (BotoCoreError, AuditError) as exc:
            raise OperationError(f"cannot tell who is acting: {exc}") from None
    return local_actor()


def target_of(dep: Deployment) -> str:
    """What a record says was read: ``stack <name>`` or ``local``."""
    return f"stack {dep.stack_name}" if isinstance(dep, AwsStack) else "local"


def audit_store(dep: Deployment) -> Any:
    from accesswatch.dal.audit import AuditStore

    try:
        name = dep.resource_name(AUDIT_TABLE)
    except KeyError:
        where = ("redeploy the stack with this template" if isinstance(dep, AwsStack)
                 else "restart the local endpoint (accesswatch local stop, then any command) to create it")
        raise OperationError(f"this deployment has no {AUDIT_TABLE} (it predates audit records): {where}") from None
    return AuditStore(name, dep.resource("dynamodb"))


def record_read(dep: Deployment, actor: Actor, action: str, *, subject: Mapping[str, Any],
                result: Mapping[str, Any], reason: str | None, source: str = "cli") -> dict[str, Any]:
    """Write the audit record of one read and return it; OperationError if it cannot be written (the caller
    must then not show what was read)."""
    from accesswatch.dal.audit import AuditWriteError

    try:
        record = new_record(actor=actor, action=action, subject=subject, result=result, reason=reason,
                            source=source, target=target_of(dep))
    except AuditError as exc:
        raise OperationError(str(exc)) from None
    try:
        audit_store(dep).add(record)
    except AuditWriteError as exc:
        raise OperationError(f"not shown: the audit record of this read could not be written ({exc})") from None
    return record


def audit_records(dep: Deployment, first: date, last: date, *, actor: str | None = None,
                  action: str | None = None) -> list[dict[str, Any]]:
    """The audit records of NZ dates ``first`` to ``last``, oldest first (OperationError for a reversed or
    over-long period)."""
    if last < first:
        raise OperationError(f"--to {last} is before --from {first}")
    if (last - first).days + 1 > MAX_LIST_DAYS:
        raise OperationError(f"--from {first} to --to {last} is more than {MAX_LIST_DAYS} days: "
                             "list a year or less at a time")
    return list(audit_store(dep).between(first, last, actor=actor, action=action))
