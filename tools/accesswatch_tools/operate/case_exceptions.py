"""Case exceptions: scopes (user, client, both, or a rule) whose accumulate-tier findings are recorded but
not routed, made by ``rule_too_broad`` decisions (accesswatch.cases.exceptions is the domain; named so as
not to be read as a module of error classes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accesswatch.quarters import nz_today
from accesswatch_tools.operate.deployment import Deployment


def exception_store(dep: Deployment) -> Any:
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.exceptions import ExceptionStore

    return ExceptionStore(CaseStore(dep.resource_name("CasesTable"), dep.resource("dynamodb")))




def create(dep: Deployment, **fields: Any) -> dict[str, Any]:
    """Check and store one exception (ExceptionError says what is wrong)."""
    from accesswatch.cases.exceptions import create_exception
    from accesswatch.dal.ledger import now_iso

    return create_exception(exception_store(dep), today=nz_today(), created_at=now_iso(), **fields)


def add_exception(dep: Deployment, *, case: Mapping[str, Any], scope: str, rule: str, expires: str, reason: str,
                  actor: str) -> list[dict[str, Any]]:
    """The exceptions a ``rule_too_broad`` verdict on ``case`` asks for (scope: user, client, user+client, rule).
    A client scope on a case of several clients makes one exception per client."""
    clients: list[str | None] = list(case.get("client_ids") or []) if "client" in scope else [None]
    user = str(case["user_id"]) if "user" in scope else None
    return [create(dep, user_id=user, client_id=client, rule=rule, expires_on=expires, reason=reason, actor=actor,
                   case_id=str(case["case_id"])) for client in clients]
