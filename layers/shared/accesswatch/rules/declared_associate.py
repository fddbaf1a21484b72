"""DECLARED_ASSOCIATE: the user opened the record of someone they declared a conflict with."""

from __future__ import annotations

from typing import Final

from accesswatch.contract import Severity
from accesswatch.rules._pairs import ConflictPairRule
from accesswatch.rules.base import Sample
from accesswatch.rules.samples import ev


class DeclaredAssociate(ConflictPairRule):
    """A ``declarations`` row exists for (user_id, client_id), whatever its declared_at
    (a declaration made after the access still says the relationship existed). Evidence:
    nature, declared_at, declarations_row (1-based), declarations (count)."""

    id = "DECLARED_ASSOCIATE"
    severity = Severity.HIGH
    status = "live"
    description = "the user declared a conflict of interest with the client"


POSITIVE: Final = (
    Sample(
        "declared friend, declared later, assignment does not excuse",
        (ev("d1", "u.alice", "000600"),),
        frozenset({"d1"}),
    ),
)
NEGATIVE: Final = (
    Sample("another user opens the declared client", (ev("n1", "u.bob", "000600"),), frozenset()),
)
