"""Checking the staff and client ids a person typed against the current reference data of a deployment
(the check itself is ``accesswatch.services.reference_ids``, shared with the console)."""

from __future__ import annotations

from accesswatch_tools.operate.deployment import Deployment, OperationError


class UnknownId(OperationError):
    """A user or client id not in the current reference data (the message names it and the near misses)."""


def check_ids(dep: Deployment, *, user: str | None = None, client: str | None = None) -> list[str]:
    """Raise UnknownId for an id not in the current staff/clients snapshot; return warnings for ids that
    cannot be checked yet (no snapshot of that kind delivered)."""
    if user is None and client is None:
        return []  # before the imports: the object store loads polars, which an unfiltered listing never needs
    from accesswatch.dal.ledger import Ledger
    from accesswatch.dal.objects import ObjectStore
    from accesswatch.services.reference_ids import UnknownReferenceId, check_reference_ids

    ledger = Ledger(dep.resource_name("LedgerTable"), dep.resource("dynamodb"))
    try:
        return check_reference_ids(ledger, ObjectStore(dep.client("s3")), dep.resource_name("CuratedBucket"),
                                   user=user, client=client)
    except UnknownReferenceId as exc:
        raise UnknownId(str(exc)) from None
