"""HOUSEHOLD_RECORD: the user opened the record of someone living at the user's address."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import ReferenceKind, Severity
from accesswatch.normalise import normalise_address, normalise_series
from accesswatch.reference.index import LinkContext
from accesswatch.rules._pairs import ConflictPairRule
from accesswatch.rules.base import Sample, ev, json_object


class HouseholdRecord(ConflictPairRule):
    """The client is not one of the user's own records and its normalised address equals the
    user's normalised staff address (``accesswatch.normalise.normalise_address``: case,
    punctuation, street types, unit forms). Blank addresses never match. Evidence: match."""

    id = "HOUSEHOLD_RECORD"
    severity = Severity.HIGH
    status = "live"
    description = "the client, not the user, lives at the user's normalised address"

    def links(self, context: LinkContext) -> pl.DataFrame:
        housed = context.staff.filter(~pl.col("is_service"))
        housed = housed.with_columns(
            normalise_series(housed["address"], normalise_address).alias("addr")
        ).filter(pl.col("addr") != "")
        caddr = context.clients.select("client_id", "address").filter(pl.col("address").is_not_null())
        caddr = caddr.with_columns(normalise_series(caddr["address"], normalise_address).alias("addr"))
        return (
            housed.select("user_id", "addr")
            .join(caddr.select("client_id", "addr").filter(pl.col("addr") != ""), on="addr", how="inner")
            .join(
                context.own.select("user_id", pl.col("own_client_id").alias("client_id")),
                on=["user_id", "client_id"],
                how="anti",
            )
            .unique(["user_id", "client_id"], keep="first", maintain_order=True)
            .select(
                "user_id",
                "client_id",
                pl.lit("client lives at the user's address (normalised address match)").alias("explanation"),
                json_object(("match", pl.lit("normalised_address"))).alias("evidence"),
            )
        )


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
            ReferenceKind.STAFF: ({"user_id": "u.x", "address": "  ", "account_type": "person"},),
            ReferenceKind.CLIENTS: ({"client_id": "000990", "address": ""},),
        },
    ),
)
