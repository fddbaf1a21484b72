"""Vectorised parsing of reference-data cells (every snapshot column arrives as ``pl.String``)."""

from __future__ import annotations

from typing import Final

import polars as pl

from accesswatch.quarters import NZ_TZ_NAME

UTC_US: Final = pl.Datetime("us", "UTC")
_OFFSET_FORMATS: Final = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")
_NAIVE_FORMATS: Final = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M")


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """Strip a string cell; ``""`` and whitespace-only become null."""
    stripped = expr.str.strip_chars()
    return pl.when(stripped.str.len_bytes() > 0).then(stripped).otherwise(None)


def enum_value(expr: pl.Expr) -> pl.Expr:
    """An enum cell as compared: stripped, lower case, blank -> null."""
    return blank_to_null(expr).str.to_lowercase()


def to_date(expr: pl.Expr) -> pl.Expr:
    """An ISO date ``YYYY-MM-DD`` -> ``pl.Date`` (null when blank or not a plain date)."""
    return blank_to_null(expr).str.to_date("%Y-%m-%d", strict=False)


def to_instant(expr: pl.Expr) -> pl.Expr:
    """An ISO-8601 timestamp -> UTC instant. Offsets and ``Z`` honoured; a timestamp without an
    offset is read as New Zealand local time. Null when blank, a plain date or unparseable."""
    t = blank_to_null(expr).str.replace(r"[zZ]$", "+00:00").str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
    with_offset = [
        t.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in _OFFSET_FORMATS
    ]
    naive = [
        t.str.to_datetime(f, strict=False, time_unit="us")
        .dt.replace_time_zone(NZ_TZ_NAME, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        for f in _NAIVE_FORMATS
    ]
    return pl.coalesce(*with_offset, *naive).cast(UTC_US)


def to_nz_date(expr: pl.Expr) -> pl.Expr:
    """A date, or a timestamp reduced to its New Zealand calendar date."""
    return pl.coalesce(to_date(expr), to_instant(expr).dt.convert_time_zone(NZ_TZ_NAME).dt.date())


def is_unparseable_when_present(expr: pl.Expr, *, timestamps: bool) -> pl.Expr:
    """True where a cell is present but does not parse (as a date, or date-or-timestamp)."""
    parsed = to_nz_date(expr) if timestamps else to_date(expr)
    return blank_to_null(expr).is_not_null() & parsed.is_null()
