"""SELF_RECORD: the user opened their own client record."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import ReferenceKind, Severity
from accesswatch.reference.index import LinkContext
from accesswatch.rules._pairs import ConflictPairRule
from accesswatch.rules.base import Sample, ev, json_object


class SelfRecord(ConflictPairRule):
    """The client is the user's own record: ``staff.client_id``, or a client with the same
    normalised family name, normalised given names and date of birth as the staff row (a person
    can have several own records). Evidence: own_client_id, match (``staff.client_id``|``name_dob``)."""

    id = "SELF_RECORD"
    severity = Severity.HIGH
    status = "live"
    description = (
        "the client is the user's own record (linked from the staff record, or same name and date of birth)"
    )

    def links(self, context: LinkContext) -> pl.DataFrame:
        return context.own.select(
            "user_id",
            pl.col("own_client_id").alias("client_id"),
            pl.when(pl.col("match") == "staff.client_id")
            .then(pl.lit("client record is the user's own (linked from the staff record)"))
            .otherwise(
                pl.lit("client record is the user's own (same name and date of birth as the staff record)")
            )
            .alias("explanation"),
            json_object(("own_client_id", pl.col("own_client_id")), ("match", pl.col("match"))).alias(
                "evidence"
            ),
        )


POSITIVE: Final = (
    Sample("linked own record, even with an assignment", (ev("s1", "u.alice", "000100"),), frozenset({"s1"})),
    Sample("name/DOB duplicate of own record", (ev("s2", "u.alice", "000101"),), frozenset({"s2"})),
    Sample("own record by name/DOB only (no link)", (ev("s3", "u.bob", "000200"),), frozenset({"s3"})),
    Sample("terminated staff still own their record", (ev("s4", "u.cara", "000400"),), frozenset({"s4"})),
)
NEGATIVE: Final = (
    Sample(
        "someone else's record", (ev("n1", "u.alice", "000300"), ev("n2", "u.bob", "000100")), frozenset()
    ),
    Sample("service account linked to a client", (ev("n3", "svc.batch", "000300"),), frozenset()),
    Sample(
        "same name, different date of birth",
        (ev("n4", "u.bob", "000900"),),
        frozenset(),
        reference={
            ReferenceKind.CLIENTS: (
                {
                    "client_id": "000900",
                    "family_name": "O'Brien",
                    "given_names": "Bob",
                    "date_of_birth": "1975-05-07",
                    "address": None,
                    "flags": None,
                },
            )
        },
    ),
)
