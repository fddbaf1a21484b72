"""HOUSEHOLD_RECORD: the user opened the record of someone living at the user's address."""

from __future__ import annotations

from typing import Final

from accesswatch.contract import ReferenceKind, Severity
from accesswatch.rules._pairs import ConflictPairRule
from accesswatch.rules.base import Sample
from accesswatch.rules.samples import WORLD, ev


class HouseholdRecord(ConflictPairRule):
    """The client is not one of the user's own records and its normalised address equals the
    user's normalised staff address (``accesswatch.normalise.normalise_address``: case,
    punctuation, street types, unit forms). Blank addresses never match. Evidence: match."""

    id = "HOUSEHOLD_RECORD"
    severity = Severity.HIGH
    status = "live"
    description = "the client, not the user, lives at the user's normalised address"


POSITIVE: Final = (
    Sample("unit form and street type differ", (ev("h1", "u.alice", "000120"),), frozenset({"h1"})),
)
NEGATIVE: Final = (
    Sample("own record at the same address", (ev("n1", "u.alice", "000100"),), frozenset()),
    Sample("different unit of the same building", (ev("n2", "u.alice", "000121"),), frozenset()),
    Sample(
        "blank addresses never match",
        (ev("n3", "u.x", "000990"),),
        frozenset(),
        reference={
            ReferenceKind.STAFF: WORLD[ReferenceKind.STAFF]
            + ({"user_id": "u.x", "address": "  ", "account_type": "person"},),
            ReferenceKind.CLIENTS: WORLD[ReferenceKind.CLIENTS] + ({"client_id": "000990", "address": ""},),
        },
    ),
)
