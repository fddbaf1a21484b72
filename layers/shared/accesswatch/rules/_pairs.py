"""Rules that are a single join of events against precomputed (user_id, client_id) pairs."""

from __future__ import annotations

import polars as pl

from accesswatch.reference.index import ReferenceIndex
from accesswatch.rules.base import Rule


class ConflictPairRule(Rule):
    """Fires when (user_id, client_id) is one of the index's conflict pairs for this rule id.

    Assignments never excuse these accesses.
    """

    def plan(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        pairs = index.conflicts_for(self.id).lazy()
        return events.join(pairs, on=["user_id", "client_id"], how="inner")
