"""DECLARED_ASSOCIATE: the user opened the record of someone they declared a conflict with."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import Severity
from accesswatch.reference._parse import blank_to_null, enum_value
from accesswatch.reference.index import LinkContext
from accesswatch.rules._pairs import ConflictPairRule
from accesswatch.rules.base import Sample, ev, json_object


class DeclaredAssociate(ConflictPairRule):
    """A ``declarations`` row exists for (user_id, client_id), whatever its declared_at
    (a declaration made after the access still says the relationship existed). Evidence:
    nature, declared_at, declarations_row (1-based), declarations (count)."""

    id = "DECLARED_ASSOCIATE"
    severity = Severity.HIGH
    status = "live"
    description = "the user declared a conflict of interest with the client"

    def links(self, context: LinkContext) -> pl.DataFrame:
        nature = pl.col("nature")
        explanation = pl.lit("user declared a conflict of interest with this client") + pl.when(
            nature.is_not_null()
        ).then(pl.lit(" (") + nature + pl.lit(")")).otherwise(pl.lit(""))
        evidence = json_object(
            ("nature", nature),
            ("declared_at", pl.col("declared_at")),
            ("declarations_row", pl.col("row")),
            ("declarations", pl.col("n")),
        )
        first = context.declarations.group_by("user_id", "client_id", maintain_order=True).agg(
            enum_value(nature).first().alias("nature"),
            blank_to_null(pl.col("declared_at")).first().alias("declared_at"),
            pl.col("row").first().alias("row"),
            pl.len().alias("n"),
        )
        return first.select("user_id", "client_id", explanation.alias("explanation"), evidence.alias("evidence"))


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
