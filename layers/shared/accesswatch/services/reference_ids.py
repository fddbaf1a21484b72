"""Checking the staff and client ids a person typed against the current reference data, so that a mistyped
id (or one whose leading zero a spreadsheet dropped) is refused with the ids it may have meant instead of
answering "nothing found". Ids only: the check reads the id column of each snapshot and nothing else.

Used by the CLI (``accesswatch_tools.operate.reference_ids``) and the console."""

from __future__ import annotations

from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.footprint import ClientIdCheck, check_client_id, check_user_id
from accesswatch.services.footprint import known_client_ids, known_user_ids


class UnknownReferenceId(ValueError):
    """A user or client id not in the current reference data (the message names it and the near misses)."""


def check_reference_ids(ledger: Ledger, store: ObjectStore, bucket: str, *, user: str | None = None,
                        client: str | None = None) -> list[str]:
    """Raise UnknownReferenceId for an id not in the current staff/clients snapshot; return warnings for ids
    that cannot be checked yet (no snapshot of that kind delivered)."""
    checks: list[ClientIdCheck] = []
    if user is not None:
        checks.append(check_user_id(user, known_user_ids(ledger, store, bucket)))
    if client is not None:
        checks.append(check_client_id(client, known_client_ids(ledger, store, bucket)))
    warnings = []
    for check in checks:
        problem = check.problem()
        if problem is None:
            continue
        if not check.checked:
            warnings.append(problem)
            continue
        raise UnknownReferenceId(problem)
    return warnings
