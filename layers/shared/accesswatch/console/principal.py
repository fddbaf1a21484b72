"""Who is asking: the person the HTTP API's JWT authorizer verified (Cognito), or, on the local endpoint, the
role and user id picked on its sign-in page (there is no Cognito locally, and every page says so).

The claims come from ``requestContext.authorizer.jwt.claims``, which only API Gateway (after checking the
token's signature, issuer, audience and expiry) or the local endpoint's adapter fills in: a browser cannot
set them. The user id is the staff member's login (Cognito username), the same id access logs carry, so the
console's own access events are matched against the reference data like any other system's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accesswatch.console.roles import Permission, Role, parse_roles, permissions

LOCAL_CLAIM = "accesswatch:local"  # set only by the local endpoint's adapter (tools/.../embedded/console.py)
USER_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class NotSignedIn(Exception):
    """No verified identity on the request (401)."""


class Forbidden(Exception):
    """The signed-in person's roles do not allow this page or action (403)."""

    def __init__(self, permission: Permission) -> None:
        super().__init__(f"your role does not allow {permission.value}")
        self.permission = permission


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[Role]
    local: bool  # signed in on the local endpoint's page, not through Cognito

    @property
    def granted(self) -> frozenset[Permission]:
        return permissions(self.roles)

    def may(self, permission: Permission) -> bool:
        return permission in self.granted

    def require(self, permission: Permission) -> None:
        if not self.may(permission):
            raise Forbidden(permission)

    @property
    def actor_name(self) -> str:
        """What case histories and audit records show."""
        return f"console/{self.user_id}" + (" (local)" if self.local else "")


def principal_from_event(event: Mapping[str, Any]) -> Principal:
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims") or {}
    user_id = str(claims.get("cognito:username") or claims.get("username") or "")
    if not user_id or not USER_ID.match(user_id):
        raise NotSignedIn("no verified identity on the request")
    return Principal(user_id=user_id, roles=parse_roles(claims.get("cognito:groups")),
                     local=str(claims.get(LOCAL_CLAIM, "")).lower() == "true")
