"""UNASSIGNED_VOLUME (staging): one user opening many unassigned clients in one NZ day."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import Severity
from accesswatch.reference.index import ReferenceIndex
from accesswatch.rules.base import ROW, Rule, Sample, ev, json_object, not_covered

THRESHOLD: Final = 50  # fires when a user opens more than this many distinct unassigned clients in a NZ day


class UnassignedVolume(Rule):
    """A user opens more than ``THRESHOLD`` distinct clients without a covering assignment in one
    New Zealand day, within the partition. One finding per (user, NZ day): on the event that first
    opens the (THRESHOLD + 1)-th distinct unassigned client (ordered by occurred_at_utc, event_id).

    Rationale: trawling (browsing many records with no work reason) shows as volume, not as any
    single access. Severity: medium. Known false positives: contact-centre and intake staff who
    legitimately open many unassigned clients (their work is not assignment-driven), bulk data
    fixes by person accounts, reference data without assignment feeds for some teams. A day split
    across partitions is counted per partition. Evidence: nz_date, distinct_unassigned_clients,
    threshold."""

    id = "UNASSIGNED_VOLUME"
    severity = Severity.MEDIUM
    status = "staging"
    description = f"a user opens more than {THRESHOLD} distinct unassigned clients in one NZ day"

    def __init__(self, threshold: int = THRESHOLD) -> None:
        self.threshold = threshold

    def plan(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        key = ["user_id", "nz_date"]
        busy = (
            events.group_by(key)
            .agg(pl.col("client_id").n_unique().alias("_n"))
            .filter(pl.col("_n") > self.threshold)
            .select(key)
        )
        cands = events.join(busy, on=key, how="semi")
        firsts = (
            not_covered(cands, index)
            .sort("occurred_at_utc", "event_id", ROW)
            .unique([*key, "client_id"], keep="first", maintain_order=True)
            .with_columns(
                pl.int_range(1, pl.len() + 1).over(key).alias("_rank"),
                pl.len().over(key).alias("_total"),
            )
        )
        return (
            firsts.filter(pl.col("_rank") == self.threshold + 1)
            .with_columns(
                (
                    pl.lit("user opened ")
                    + pl.col("_total").cast(pl.String)
                    + pl.lit(" distinct unassigned clients on NZ date ")
                    + pl.col("nz_date").cast(pl.String)
                    + pl.lit(f" (more than {self.threshold})")
                ).alias("explanation"),
                json_object(
                    ("nz_date", pl.col("nz_date").cast(pl.String)),
                    ("distinct_unassigned_clients", pl.col("_total")),
                    ("threshold", pl.lit(self.threshold)),
                ).alias("evidence"),
            )
            .drop("_rank", "_total")
        )


def _burst(prefix: str, user: str, n: int, day: str = "2025-03-14") -> tuple[dict[str, object], ...]:
    return tuple(
        ev(f"{prefix}{i:03d}", user, f"9{i:05d}", occurred_at=f"{day}T09:{i // 60:02d}:{i % 60:02d}+13:00")
        for i in range(n)
    )


POSITIVE: Final = (
    Sample(
        "51 distinct unassigned clients in a day",
        _burst("v", "u.bob", THRESHOLD + 1),
        frozenset({f"v{THRESHOLD:03d}"}),
    ),
)
NEGATIVE: Final = (
    Sample("exactly the threshold", _burst("n", "u.bob", THRESHOLD), frozenset()),
    Sample(
        "the same client many times",
        tuple(
            ev(f"m{i:03d}", "u.bob", "000300", occurred_at=f"2025-03-14T10:{i:02d}:00+13:00")
            for i in range(59)
        ),
        frozenset(),
    ),
)
