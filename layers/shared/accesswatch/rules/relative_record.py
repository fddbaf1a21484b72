"""RELATIVE_RECORD: the user opened the record of someone related to their own record."""

from __future__ import annotations

from typing import Final

from accesswatch.contract import ReferenceKind, Severity
from accesswatch.rules._pairs import ConflictPairRule
from accesswatch.rules.base import Sample
from accesswatch.rules.samples import WORLD, ev


class RelativeRecord(ConflictPairRule):
    """The client is related by any ``relationships`` row, in either direction and of any type
    (household included), to any of the user's own records. A row (client_id, related_client_id,
    relationship) is read as "related_client_id is the <relationship> of client_id"; the
    explanation names the relationship from the user's side (inverting parent/child and
    grandparent/grandchild when the user's own record is the related one). Evidence:
    own_client_id, own_record_match, relationship (user's side), relationships_row (1-based),
    row_given (the row as given)."""

    id = "RELATIVE_RECORD"
    severity = Severity.HIGH
    status = "live"
    description = "the client is related (any relationships row, either direction) to the user's own record"


POSITIVE: Final = (
    Sample(
        "sibling, row given from the own record's side", (ev("r1", "u.alice", "000110"),), frozenset({"r1"})
    ),
    Sample("parent, row given from the relative's side", (ev("r2", "u.alice", "000111"),), frozenset({"r2"})),
    Sample(
        "relative of a name/DOB own record, household relationship",
        (ev("r3", "u.bob", "000300"),),
        frozenset({"r3"}),
        reference={
            ReferenceKind.RELATIONSHIPS: WORLD[ReferenceKind.RELATIONSHIPS]
            + ({"client_id": "000300", "related_client_id": "000200", "relationship": "household"},)
        },
    ),
)
NEGATIVE: Final = (
    Sample("unrelated client", (ev("n1", "u.alice", "000700"),), frozenset()),
    Sample("relative of someone else's record", (ev("n2", "u.bob", "000110"),), frozenset()),
)
