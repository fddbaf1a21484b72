"""Validating raw access-log rows into events (contract "Access logs"), vectorised with polars.

A row becomes an event, or a quarantined line with one reason, never both and never neither.
Reasons name the problem, never the content (content may be personal information).
"""

from __future__ import annotations

import json
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
    # line (Int64), reason (String), field (String: the field the reason is about) and fields
    # (List[String]: the names of the fields that hold a value on the line); never a value.
    quarantined: pl.DataFrame


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
    # (condition, reason, the field it is about), first match wins.
    checks: list[tuple[pl.Expr, str, str]] = [
        (pl.col(name).is_null(), f"missing required field {name}", name) for name in REQUIRED_EVENT_FIELDS
    ]
    checks += [
        (pl.col("occurred_at").str.contains(_NAIVE), "timestamp without offset", "occurred_at"),
        (pl.col("occurred_at_utc").is_null(), "unparseable timestamp", "occurred_at"),
        ((pl.col("occurred_at_utc") < pl.lit(EARLIEST)) | (pl.col("occurred_at_utc") > pl.lit(now + FUTURE_SLACK)),
         "timestamp out of range", "occurred_at"),
        (~pl.col("action").is_in(sorted(ACTIONS)), "unknown action", "action"),
    ]
    reason: Any = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    failed: Any = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for condition, text, name in checks:
        reason = reason.when(condition).then(pl.lit(text))
        failed = failed.when(condition).then(pl.lit(name))
    reason = reason.otherwise(pl.lit(None, dtype=pl.String))
    failed = failed.otherwise(pl.lit(None, dtype=pl.String))
    judged = cleaned.with_columns(reason.alias(_REASON))
    accepted = judged.filter(pl.col(_REASON).is_null())
    bad = judged.filter(pl.col(_REASON).is_not_null())
    quarantined = bad.select(
        pl.col(LINE_COLUMN).alias("line"),
        pl.col(_REASON).alias("reason"),
        failed.alias("field"),
        _field_names([*EVENT_FIELDS, *unknown]).alias("fields"),
    )
    if EXTRA_COLUMN in bad.columns and bad.height:
        quarantined = quarantined.with_columns(
            pl.Series("fields", [names + _json_names(text) for names, text
                                 in zip(quarantined["fields"].to_list(), bad[EXTRA_COLUMN].to_list(), strict=True)],
                      dtype=pl.List(pl.String)))
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


def _field_names(names: list[str]) -> pl.Expr:
    """The names, among ``names``, of the columns holding a value on each row (contract fields are already
    stripped, blank -> null)."""
    if not names:
        return pl.lit([], dtype=pl.List(pl.String))
    return pl.concat_list([pl.when(pl.col(n).is_not_null()).then(pl.lit(n)).otherwise(None) for n in names]
                          ).list.drop_nulls()


def _json_names(text: str | None) -> list[str]:
    """The attribute names (not the values) of a JSON Lines row's unknown attributes (JSON object text)."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return sorted(k for k, v in value.items() if v is not None) if isinstance(value, dict) else []


def _merge_extra(parts: list[pl.Expr]) -> pl.Expr:
    if not parts:
        return pl.lit(None, dtype=pl.String)
    if len(parts) == 1:
        return parts[0]
    # CSV never has __extra and JSONL never has unknown columns: only one part is ever present.
    return pl.coalesce(parts)
