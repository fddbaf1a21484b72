"""RELATIVE_RECORD: the user opened the record of someone related to their own record."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import ReferenceKind, Severity
from accesswatch.reference._parse import enum_value
from accesswatch.reference.index import LinkContext
from accesswatch.rules._pairs import ConflictPairRule
from accesswatch.rules.base import Sample, ev, json_object

# relationships row (client_id, related_client_id, relationship) reads:
# "related_client_id is the <relationship> of client_id" (e.g. parent: the related client is the
# client's parent). The inverse names the relationship seen from the related client's side.
INVERSE_RELATIONSHIP: Final[dict[str, str]] = {
    "parent": "child",
    "child": "parent",
    "grandparent": "grandchild",
    "grandchild": "grandparent",
    "partner": "partner",
    "sibling": "sibling",
    "other_whanau": "other_whanau",
    "household": "household",
}
_PHRASES: Final[dict[str, str]] = {
    "other_whanau": "other whānau (extended family) of",
    "household": "a member of the same household as",
}


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

    def links(self, context: LinkContext) -> pl.DataFrame:
        own = context.own
        rel = context.relationships.filter(
            pl.col("client_id").is_not_null() & pl.col("related_client_id").is_not_null()
        ).with_columns(
            pl.col("relationship").alias("raw_relationship"),
            enum_value(pl.col("relationship")).alias("r"),
        )
        # own record on the client_id side: the accessed client is the related one
        fwd = own.join(rel, left_on="own_client_id", right_on="client_id", how="inner").select(
            "user_id",
            pl.col("related_client_id").alias("client_id"),
            "own_client_id",
            "match",
            pl.col("r").alias("seen"),
            pl.struct(
                pl.col("own_client_id").alias("client_id"),
                pl.col("related_client_id"),
                pl.col("raw_relationship").alias("relationship"),
            ).alias("row_given"),
            "row",
        )
        # own record on the related_client_id side: the accessed client is client_id, the inverse relation
        bwd = own.join(rel, left_on="own_client_id", right_on="related_client_id", how="inner").select(
            "user_id",
            pl.col("client_id"),
            "own_client_id",
            "match",
            pl.col("r").replace_strict(INVERSE_RELATIONSHIP, default=None, return_dtype=pl.String).alias("seen"),
            pl.struct(
                pl.col("client_id"),
                pl.col("own_client_id").alias("related_client_id"),
                pl.col("raw_relationship").alias("relationship"),
            ).alias("row_given"),
            "row",
        )
        both = (
            pl.concat([fwd, bwd])
            .sort("user_id", "client_id", pl.col("match") != "staff.client_id", "row")
            .unique(["user_id", "client_id"], keep="first", maintain_order=True)
        )
        phrase = (
            pl.col("seen")
            .replace_strict(_PHRASES, default=None, return_dtype=pl.String)
            .fill_null(pl.lit("the ") + pl.col("seen").str.replace_all("_", " ") + pl.lit(" of"))
        )
        explanation = (
            pl.when(pl.col("seen").is_not_null())
            .then(
                pl.lit("client is ")
                + phrase
                + pl.lit(" the user's own client record ")
                + pl.col("own_client_id")
            )
            .otherwise(pl.lit("client is related to the user's own client record ") + pl.col("own_client_id"))
        )
        return both.select(
            "user_id",
            "client_id",
            explanation.alias("explanation"),
            json_object(
                ("own_client_id", pl.col("own_client_id")),
                ("own_record_match", pl.col("match")),
                ("relationship", pl.col("seen")),
                ("relationships_row", pl.col("row")),
                ("row_given", pl.col("row_given")),
            ).alias("evidence"),
        )


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
            ReferenceKind.RELATIONSHIPS: (
                {"client_id": "000300", "related_client_id": "000200", "relationship": "household"},
            )
        },
    ),
)
NEGATIVE: Final = (
    Sample("unrelated client", (ev("n1", "u.alice", "000700"),), frozenset()),
    Sample("relative of someone else's record", (ev("n2", "u.bob", "000110"),), frozenset()),
)
