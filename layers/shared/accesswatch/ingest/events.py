"""Validating raw access-log rows into events (contract "Access logs"), vectorised with polars.

A row becomes an event, or a quarantined line with one reason, never both and never neither.
Reasons name the problem, never the content (content may be personal information).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from accesswatch.contract import ACTIONS, EVENT_FIELDS, EVENT_SCHEMA, REQUIRED_EVENT_FIELDS
from accesswatch.ingest.records import EXTRA_COLUMN, LINE_COLUMN
from accesswatch.quarters import NZ_TZ_NAME

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)
_REASON = "__reason"

_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")
_NAIVE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"


@dataclass
class ValidatedRows:
    events: pl.DataFrame  # EVENT_SCHEMA
    quarantined: pl.DataFrame  # columns: line (Int64), reason (String)


def missing_required_columns(columns: list[str]) -> list[str]:
    return [f for f in REQUIRED_EVENT_FIELDS if f not in columns]


def parse_timestamps(column: pl.Expr) -> pl.Expr:
    """ISO-8601 with an offset or Z, to a UTC instant (null when it does not parse)."""
    text = column.str.strip_chars().str.replace(r"[Zz]$", "+00:00").str.replace(
        r"^(\d{4}-\d{2}-\d{2}) ", "${1}T"
    )
    return pl.coalesce(
        [text.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us") for f in _FORMATS]
    )


def utc_instants(occurred_at: pl.Series) -> pl.Series:
    """``parse_timestamps`` over a column, computed the cheap way where that gives the same answer.

    Most timestamps parse with the first format once a trailing Z is rewritten; only those that do
    not, or that hold a space (the date-space-time form), go through the full ``parse_timestamps``.
    """
    text = occurred_at.str.strip_chars().str.replace(r"[Zz]$", "+00:00")
    first = text.str.to_datetime(_FORMATS[0], strict=False, time_zone="UTC", time_unit="us")
    redo = (first.is_null() | text.str.contains(" ", literal=True)).fill_null(True)
    if not redo.any():
        return first.alias(occurred_at.name)
    where = redo.arg_true()
    exact = pl.DataFrame({"t": occurred_at.gather(where)}).select(parse_timestamps(pl.col("t"))).to_series()
    return first.scatter(where, exact).alias(occurred_at.name)


def validate_events(rows: pl.DataFrame, *, system: str, source_key: str, now: datetime | None = None) -> ValidatedRows:
    now = now or datetime.now(UTC)
    frame = rows
    for name in EVENT_FIELDS:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    known = set(EVENT_FIELDS) | {LINE_COLUMN, EXTRA_COLUMN}
    unknown = [c for c in frame.columns if c not in known]
    extra_parts = []
    if unknown:
        extra_parts.append(pl.struct(unknown).struct.json_encode())
    if EXTRA_COLUMN in frame.columns:
        extra_parts.append(pl.col(EXTRA_COLUMN))
    extra = _merge_extra(extra_parts)

    cleaned = frame.with_columns(
        *[pl.col(f).str.strip_chars().replace("", None) for f in EVENT_FIELDS],
    ).with_columns(
        pl.col("action").str.to_lowercase(),
        pl.col("screen").str.to_lowercase(),
        extra.alias("extra"),
    )
    cleaned = cleaned.with_columns(utc_instants(cleaned["occurred_at"]).alias("occurred_at_utc"))
    reason: Any = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for name in REQUIRED_EVENT_FIELDS:
        reason = reason.when(pl.col(name).is_null()).then(pl.lit(f"missing required field {name}"))
    reason = (
        reason.when(pl.col("occurred_at").str.contains(_NAIVE))
        .then(pl.lit("timestamp without offset"))
        .when(pl.col("occurred_at_utc").is_null())
        .then(pl.lit("unparseable timestamp"))
        .when(
            (pl.col("occurred_at_utc") < pl.lit(EARLIEST))
            | (pl.col("occurred_at_utc") > pl.lit(now + FUTURE_SLACK))
        )
        .then(pl.lit("timestamp out of range"))
        .when(~pl.col("action").is_in(sorted(ACTIONS)))
        .then(pl.lit("unknown action"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    judged = cleaned.with_columns(reason.alias(_REASON))
    accepted = judged.filter(pl.col(_REASON).is_null())
    quarantined = judged.filter(pl.col(_REASON).is_not_null()).select(
        pl.col(LINE_COLUMN).alias("line"), pl.col(_REASON).alias("reason")
    )
    events = accepted.select(
        pl.lit(system).alias("system"),
        "event_id",
        "occurred_at",
        "occurred_at_utc",
        pl.col("occurred_at_utc").dt.convert_time_zone(NZ_TZ_NAME).dt.date().alias("nz_date"),
        "user_id",
        "client_id",
        "action",
        "screen",
        "site",
        "session_id",
        pl.lit(source_key).alias("source_key"),
        pl.col(LINE_COLUMN).alias("line"),
        pl.col("extra").fill_null("{}"),
    ).cast(EVENT_SCHEMA)
    return ValidatedRows(events, quarantined)


def _merge_extra(parts: list[pl.Expr]) -> pl.Expr:
    if not parts:
        return pl.lit(None, dtype=pl.String)
    if len(parts) == 1:
        return parts[0]
    # CSV never has __extra and JSONL never has unknown columns: only one part is ever present.
    return pl.coalesce(parts)
