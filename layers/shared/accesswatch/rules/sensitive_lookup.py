"""SENSITIVE_LOOKUP: a sensitive screen opened without an assignment covering the access."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import SENSITIVE_SCREENS, Severity
from accesswatch.reference.index import ReferenceIndex
from accesswatch.rules.base import Rule, Sample, ev, json_object, not_covered


class SensitiveLookup(Rule):
    """``screen`` (lower-cased by the parser) is one of ``contract.SENSITIVE_SCREENS`` and no
    assignment covers the access on its New Zealand date. Evidence: screen, nz_date."""

    id = "SENSITIVE_LOOKUP"
    severity = Severity.MEDIUM
    status = "live"
    description = (
        "a sensitive screen (address, contact, date of birth, IRD number) without a covering assignment"
    )

    def plan(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        cands = events.filter(pl.col("screen").is_in(sorted(SENSITIVE_SCREENS)))
        return not_covered(cands, index).with_columns(
            (
                pl.lit("sensitive screen '")
                + pl.col("screen")
                + pl.lit("' opened with no assignment covering NZ date ")
                + pl.col("nz_date").cast(pl.String)
            ).alias("explanation"),
            json_object(("screen", pl.col("screen")), ("nz_date", pl.col("nz_date").cast(pl.String))).alias(
                "evidence"
            ),
        )


POSITIVE: Final = (
    Sample(
        "IRD number, no assignment", (ev("l1", "u.bob", "000300", screen="ird_number"),), frozenset({"l1"})
    ),
    Sample(
        "after the assignment ends (NZ date)",
        (ev("l2", "u.alice", "000700", screen="address", occurred_at="2025-04-01T00:30:00+13:00"),),
        frozenset({"l2"}),
    ),
    Sample(
        "the NZ day before the assignment starts",
        (ev("l3", "u.alice", "000700", screen="contact", occurred_at="2025-02-28T23:30:00+13:00"),),
        frozenset({"l3"}),
    ),
)
NEGATIVE: Final = (
    Sample(
        "last NZ day of the assignment (UTC date earlier)",
        (ev("n1", "u.alice", "000700", screen="address", occurred_at="2025-03-31T23:30:00+13:00"),),
        frozenset(),
    ),
    Sample(
        "first NZ day of the assignment (UTC date the day before)",
        (ev("n2", "u.alice", "000700", screen="contact", occurred_at="2025-03-01T00:30:00+13:00"),),
        frozenset(),
    ),
    Sample(
        "inside the assignment, timestamp in Z",
        (ev("n6", "u.alice", "000700", screen="contact", occurred_at="2025-03-01T11:30:00Z"),),
        frozenset(),
    ),
    Sample(
        "not a sensitive screen",
        (ev("n3", "u.bob", "000300", screen="payments"), ev("n4", "u.bob", "000300", screen=None)),
        frozenset(),
    ),
    Sample("service account", (ev("n5", "svc.batch", "000300", screen="ird_number"),), frozenset()),
)
