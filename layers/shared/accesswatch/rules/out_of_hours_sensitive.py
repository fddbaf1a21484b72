"""OUT_OF_HOURS_SENSITIVE (staging): a sensitive screen opened outside working hours."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import SENSITIVE_SCREENS, Severity
from accesswatch.quarters import NZ_TZ_NAME
from accesswatch.reference.index import ReferenceIndex
from accesswatch.rules.base import Rule, Sample, ev, json_object

WORK_START_HOUR: Final = 7  # inclusive, NZ local time
WORK_END_HOUR: Final = 19  # exclusive


class OutOfHoursSensitive(Rule):
    """A sensitive screen (``contract.SENSITIVE_SCREENS``) opened before 07:00 or from 19:00
    New Zealand local time, or on a Saturday or Sunday, whether or not an assignment covers it.

    Rationale: curiosity browsing of addresses and contact details clusters outside supervised
    hours; an assignment does not explain why the address was needed at 2 am. Severity: low.
    Known false positives: after-hours and emergency teams, staff on shifts or working late to
    clear a backlog, public holidays are not known (treated as working days), remote staff in
    other time zones. Evidence: screen, nz_local_time, weekday."""

    id = "OUT_OF_HOURS_SENSITIVE"
    severity = Severity.LOW
    status = "staging"
    description = "a sensitive screen opened outside 07:00-19:00 NZ time or at a weekend"

    def plan(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        local = pl.col("occurred_at_utc").dt.convert_time_zone(NZ_TZ_NAME)
        return (
            events.filter(pl.col("screen").is_in(sorted(SENSITIVE_SCREENS)))
            .with_columns(
                local.dt.hour().alias("_h"),
                local.dt.weekday().alias("_wd"),
                local.dt.strftime("%H:%M").alias("_t"),
            )
            .filter((pl.col("_h") < WORK_START_HOUR) | (pl.col("_h") >= WORK_END_HOUR) | (pl.col("_wd") >= 6))
            .with_columns(
                (
                    pl.lit("sensitive screen '")
                    + pl.col("screen")
                    + pl.lit("' opened outside working hours (")
                    + pl.col("_t")
                    + pl.lit(" NZ time")
                    + pl.when(pl.col("_wd") >= 6).then(pl.lit(", weekend")).otherwise(pl.lit(""))
                    + pl.lit(")")
                ).alias("explanation"),
                json_object(
                    ("screen", pl.col("screen")),
                    ("nz_local_time", pl.col("_t")),
                    ("weekday", pl.col("_wd")),
                ).alias("evidence"),
            )
            .drop("_h", "_wd", "_t")
        )


POSITIVE: Final = (
    Sample(
        "06:59 NZ, covered by an assignment",
        (ev("o1", "u.alice", "000700", screen="address", occurred_at="2025-03-14T17:59:00Z"),),
        frozenset({"o1"}),
    ),
    Sample(
        "Saturday midday",
        (ev("o2", "u.bob", "000300", screen="contact", occurred_at="2025-03-15T12:00:00+13:00"),),
        frozenset({"o2"}),
    ),
)
NEGATIVE: Final = (
    Sample(
        "weekday 07:00 and 18:59 NZ",
        (
            ev("n1", "u.bob", "000300", screen="contact", occurred_at="2025-03-14T07:00:00+13:00"),
            ev("n2", "u.bob", "000300", screen="contact", occurred_at="2025-03-14T05:59:00Z"),
        ),
        frozenset(),
    ),
    Sample(
        "night, not sensitive",
        (ev("n3", "u.bob", "000300", screen="summary", occurred_at="2025-03-14T02:00:00+13:00"),),
        frozenset(),
    ),
)
