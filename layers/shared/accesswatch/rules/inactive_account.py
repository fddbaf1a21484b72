"""INACTIVE_ACCOUNT (staging): access by a person account that should not be working that day."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.contract import ReferenceKind, Severity
from accesswatch.reference.index import ReferenceIndex
from accesswatch.rules.base import Rule, Sample, ev, json_object


class InactiveAccount(Rule):
    """A person account whose staff status is ``terminated`` or ``leave``, or whose NZ access
    date is before ``start_date`` or after ``end_date``.

    Rationale: a login used while its owner is gone or away is either a shared or stolen
    credential or an off-the-books access; either deserves a look. Severity: medium.
    Known false positives: the staff snapshot is current, not historical, so an access made
    before a later termination or leave is reported when an old partition is re-run; staff
    who work a few hours during leave (approved); end_date typed as the last paid day rather than
    the last working day. Users missing from the staff snapshot are not reported here.
    Evidence: status, start_date, end_date."""

    id = "INACTIVE_ACCOUNT"
    severity = Severity.MEDIUM
    status = "staging"
    description = "a person account that is terminated, on leave, or outside its start/end dates"

    def plan(self, events: pl.LazyFrame, index: ReferenceIndex) -> pl.LazyFrame:
        p = index.persons.filter(
            ~pl.col("is_service")
            & (
                pl.col("status").is_in(["terminated", "leave"])
                | pl.col("start_date").is_not_null()
                | pl.col("end_date").is_not_null()
            )
        ).select("user_id", "status", "start_date", "end_date")
        d = pl.col("nz_date")
        before = pl.col("start_date").is_not_null() & (d < pl.col("start_date"))
        after = pl.col("end_date").is_not_null() & (d > pl.col("end_date"))
        inactive_status = pl.col("status").is_in(["terminated", "leave"])
        reason = (
            pl.when(inactive_status)
            .then(pl.lit("staff status is ") + pl.col("status"))
            .when(before)
            .then(pl.lit("access before the staff start_date"))
            .otherwise(pl.lit("access after the staff end_date"))
        )
        return (
            events.join(p.lazy(), on="user_id", how="inner")
            .filter(inactive_status | before | after)
            .with_columns(
                (pl.lit("account used while inactive: ") + reason).alias("explanation"),
                json_object(
                    ("status", pl.col("status")),
                    ("start_date", pl.col("start_date").cast(pl.String)),
                    ("end_date", pl.col("end_date").cast(pl.String)),
                ).alias("evidence"),
            )
            .drop("status", "start_date", "end_date")
        )


_EXTRA_STAFF: Final[tuple[dict[str, str | None], ...]] = (
    {"user_id": "u.new", "status": "active", "start_date": "2025-04-01", "account_type": "person"},
    {"user_id": "u.away", "status": "Leave", "account_type": "person"},
)
POSITIVE: Final = (
    Sample("terminated", (ev("i1", "u.cara", "000300"),), frozenset({"i1"})),
    Sample(
        "on leave; before start date",
        (ev("i2", "u.away", "000300"), ev("i3", "u.new", "000300", occurred_at="2025-03-31T23:30:00+13:00")),
        frozenset({"i2", "i3"}),
        reference={ReferenceKind.STAFF: _EXTRA_STAFF},
    ),
)
NEGATIVE: Final = (
    Sample("active staff", (ev("n1", "u.alice", "000300"),), frozenset()),
    Sample(
        "first NZ day of employment (UTC still the day before)",
        (ev("n2", "u.new", "000300", occurred_at="2025-04-01T00:30:00+13:00"),),
        frozenset(),
        reference={ReferenceKind.STAFF: _EXTRA_STAFF},
    ),
    Sample("unknown user", (ev("n3", "u.ghost", "000300"),), frozenset()),
)
