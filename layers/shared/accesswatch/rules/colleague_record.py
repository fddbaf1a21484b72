"""COLLEAGUE_RECORD: the user opened another staff member's own client record."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import Severity
from accesswatch.reference.index import SAU_TEAMS, ReferenceIndex
from accesswatch.rules.base import ROW, Rule, Sample, ev, json_object

__all__ = ["SAU_TEAMS", "ColleagueRecord", "POSITIVE", "NEGATIVE"]


class ColleagueRecord(Rule):
    """The client is the own record (``staff.client_id`` link or name + DOB) of a staff member
    other than the user (any status; service accounts own no record), and the user is not in the
    Staff Assistance Unit (normalised team in ``SAU_TEAMS``). Users missing from the staff
    snapshot are not SAU. Joins events on client_id against the index's owner table (no
    user x colleague product). Evidence: colleague_user_id (first), colleague_user_ids (all),
    match."""

    id = "COLLEAGUE_RECORD"
    severity = Severity.HIGH
    status = "live"
    description = (
        "the client is another staff member's own record and the user is not in the Staff Assistance Unit"
    )

    def plan(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        hits = (
            events.join(index.owners.lazy(), on="client_id", how="inner")
            .filter(pl.col("owner_user_id") != pl.col("user_id"))
            .join(index.sau_users.lazy(), on="user_id", how="anti")
            .sort(ROW, "owner_user_id")
        )
        cols = [c for c in hits.collect_schema().names() if c not in ("owner_user_id", "match")]
        grouped = hits.group_by(ROW, maintain_order=True).agg(
            *[pl.col(c).first() for c in cols if c != ROW],
            pl.col("owner_user_id").alias("owners"),
            pl.col("match").first().alias("match"),
        )
        first = pl.col("owners").list.first()
        return grouped.with_columns(
            (pl.lit("client record is the own record of staff member ") + first).alias("explanation"),
            json_object(
                ("colleague_user_id", first),
                ("colleague_user_ids", pl.col("owners")),
                ("match", pl.col("match")),
            ).alias("evidence"),
        ).drop("owners", "match")


POSITIVE: Final = (
    Sample("colleague's linked record", (ev("c1", "u.bob2", "000100"),), frozenset({"c1"})),
    Sample(
        "colleague's name/DOB record, opened by a user missing from staff",
        (ev("c2", "u.ghost", "000200"),),
        frozenset({"c2"}),
    ),
    Sample("terminated colleague's record", (ev("c3", "u.alice", "000400"),), frozenset({"c3"})),
)
NEGATIVE: Final = (
    Sample(
        "Staff Assistance Unit member",
        (ev("n1", "u.bob", "000100"), ev("n2", "u.bob", "000400")),
        frozenset(),
    ),
    Sample("own record is not a colleague's", (ev("n3", "u.alice", "000100"),), frozenset()),
    Sample("service accounts own no record", (ev("n4", "u.alice", "000300"),), frozenset()),
    Sample("service accounts raise nothing", (ev("n5", "svc.batch", "000100"),), frozenset()),
)
