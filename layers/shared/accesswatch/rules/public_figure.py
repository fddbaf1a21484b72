"""PUBLIC_FIGURE: the user opened the record of someone on the watchlist, without an assignment."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import Severity
from accesswatch.reference.index import ReferenceIndex
from accesswatch.rules.base import Rule, Sample, ev, json_object, not_covered


class PublicFigure(Rule):
    """The client is on the watchlist at the moment of access and no assignment covers it.

    On the watchlist: added_at <= access and (removed_at blank or access < removed_at). A date is
    compared with the event's New Zealand date, a timestamp with the instant (occurred_at_utc).
    A blank or unparseable added_at counts as "always listed", an unparseable removed_at as
    "not removed" (validation reports both). Evidence: watchlist_row, added_at, removed_at."""

    id = "PUBLIC_FIGURE"
    severity = Severity.HIGH
    status = "live"
    description = "the client is on the watchlist at that moment and no assignment covers the access"

    def plan(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        d, t = pl.col("nz_date"), pl.col("occurred_at_utc")
        added = (
            pl.when(pl.col("added_instant").is_not_null())
            .then(pl.col("added_instant") <= t)
            .when(pl.col("added_date").is_not_null())
            .then(pl.col("added_date") <= d)
            .otherwise(True)
        )
        not_removed = (
            pl.when(pl.col("removed_instant").is_not_null())
            .then(t < pl.col("removed_instant"))
            .when(pl.col("removed_date").is_not_null())
            .then(d < pl.col("removed_date"))
            .otherwise(True)
        )
        listed = (
            events.join(index.watchlist.lazy(), on="client_id", how="inner")
            .filter(added & not_removed)
            .sort("_row", "watchlist_row")
        )
        return not_covered(listed, index).with_columns(
            pl.lit("client is on the public-figure watchlist and no assignment covers the access").alias(
                "explanation"
            ),
            json_object(
                ("watchlist_row", pl.col("watchlist_row")),
                ("added_at", pl.col("added_at")),
                ("removed_at", pl.col("removed_at")),
            ).alias("evidence"),
        )


POSITIVE: Final = (
    Sample("listed, no assignment", (ev("p1", "u.bob", "000500"),), frozenset({"p1"})),
    Sample(
        "listed before the assignment starts",
        (ev("p2", "u.alice", "000500", occurred_at="2025-02-28T10:00:00+13:00"),),
        frozenset({"p2"}),
    ),
    Sample(
        "listed by timestamp, accessed just after",
        (ev("p3", "u.bob", "000502", occurred_at="2025-03-10T12:00:01+13:00"),),
        frozenset({"p3"}),
    ),
    Sample(
        "last listed NZ day before removal",
        (ev("p4", "u.bob", "000501", occurred_at="2025-01-31T23:30:00+13:00"),),
        frozenset({"p4"}),
    ),
)
NEGATIVE: Final = (
    Sample("covered by an open-ended assignment", (ev("n1", "u.alice", "000500"),), frozenset()),
    Sample("removed before the access", (ev("n2", "u.bob", "000501"),), frozenset()),
    Sample(
        "removed that NZ day (UTC still the day before)",
        (ev("n3", "u.bob", "000501", occurred_at="2025-02-01T00:30:00+13:00"),),
        frozenset(),
    ),
    Sample(
        "before the listing instant",
        (ev("n4", "u.bob", "000502", occurred_at="2025-03-10T11:59:59+13:00"),),
        frozenset(),
    ),
    Sample("not on the watchlist", (ev("n5", "u.bob", "000300"),), frozenset()),
)
