"""Rules that are a single join of events against static (user_id, client_id) pairs."""

from __future__ import annotations

from abc import abstractmethod

import polars as pl

from accesswatch.reference.index import LinkContext, ReferenceIndex
from accesswatch.rules.base import Rule


class ConflictPairRule(Rule):
    """Fires when (user_id, client_id) is one of the pairs this rule's ``links`` built.

    ``links`` runs when the reference index is built (its pairs are the index's ``conflicts`` rows
    for this rule id); ``plan`` joins a partition's events to them. Assignments never excuse these
    accesses.
    """

    @abstractmethod
    def links(self, context: LinkContext) -> pl.DataFrame:
        """user_id, client_id, explanation, evidence: one row per pair (see ``Rule.links``)."""

    def plan(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        pairs = index.conflicts_for(self.id).lazy()
        return events.join(pairs, on=["user_id", "client_id"], how="inner")
