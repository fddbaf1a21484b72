"""Who the AWS caller is: ``sts:GetCallerIdentity`` (needs no permission; it cannot be denied by a policy)."""

from __future__ import annotations

from typing import Any

from accesswatch.audit import Actor, actor_from_arn


def caller_actor(sts: Any) -> Actor:
    """The authenticated caller of ``sts`` (a boto3 STS client) as an Actor (``assumed-role/Role/session``)."""
    identity = sts.get_caller_identity()
    return actor_from_arn(str(identity["Arn"]), str(identity.get("Account") or ""))
