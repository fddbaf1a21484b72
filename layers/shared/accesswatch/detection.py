"""Detection: run the rule catalog over a partition of events against a reference index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from accesswatch.contract import EVENT_SCHEMA
from accesswatch.findings import finding_ids
from accesswatch.quarters import NZ_TZ_NAME
from accesswatch.reference.index import ReferenceIndex
from accesswatch.rules import CATALOG
from accesswatch.rules.base import ROW, Rule, prepare

FINDING_SCHEMA: Final = pl.Schema(
    {  # type: ignore[arg-type]
        "finding_id": pl.String,
        "system": pl.String,
        "event_id": pl.String,
        "rule": pl.String,
        "severity": pl.String,
        "rule_status": pl.String,
        "user_id": pl.String,
        "client_id": pl.String,
        "occurred_at": pl.String,
        "occurred_at_utc": pl.Datetime("us", "UTC"),
        "nz_date": pl.Date,
        "explanation": pl.String,
        "evidence": pl.String,
        "snapshot_id": pl.String,
        "modifiers": pl.String,
    }
)
_CARRIED: Final = ("system", "event_id", "user_id", "client_id", "occurred_at", "occurred_at_utc", "nz_date",
                   "screen", "action")
WORK_START_HOUR: Final = 7  # inclusive, NZ local time (as OUT_OF_HOURS_SENSITIVE)
WORK_END_HOUR: Final = 19  # exclusive


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDING_SCHEMA)


def detect(events: pl.DataFrame, index: ReferenceIndex, rules: Sequence[Rule] = CATALOG) -> pl.DataFrame:
    """Findings for one partition of events (``EVENT_SCHEMA``): one row per (event, rule).

    Service accounts never raise findings; users absent from the staff snapshot are judged as
    persons; an event delivered twice (same system and event_id) yields one finding per rule
    (the first delivery's row). Ordered by rule (catalog order), then event position.
    """
    missing = [c for c in EVENT_SCHEMA.names() if c not in events.columns]
    if missing:
        raise ValueError(f"events frame lacks columns {missing}")
    if events.height == 0 or not rules:
        return empty_findings()
    lf = prepare(events.select(EVENT_SCHEMA.names()))
    plans = [
        rule.matches(lf, index).select(
            pl.lit(i, dtype=pl.Int32).alias("_rule_pos"),
            ROW,
            *_CARRIED,
            pl.lit(rule.id).alias("rule"),
            pl.lit(rule.severity.value).alias("severity"),
            pl.lit(rule.status).alias("rule_status"),
            pl.col("explanation").cast(pl.String),
            pl.col("evidence").cast(pl.String),
        )
        for i, rule in enumerate(rules)
    ]
    found = pl.concat(pl.collect_all(plans), how="vertical")
    if found.height == 0:
        return empty_findings()
    found = found.sort("_rule_pos", ROW).unique(
        ["system", "event_id", "rule"], keep="first", maintain_order=True
    )
    found = found.with_columns(
        finding_ids(found["system"], found["event_id"], found["rule"]),
        pl.lit(index.snapshot_id, dtype=pl.String).alias("snapshot_id"),
    )
    return with_modifiers(found, index).select(FINDING_SCHEMA.names())


def with_modifiers(found: pl.DataFrame, index: ReferenceIndex) -> pl.DataFrame:
    """``modifiers``: the facts about each access that raise its risk score (accesswatch.cases.scoring),
    comma-separated in a fixed order, empty when none apply."""
    local = pl.col("occurred_at_utc").dt.convert_time_zone(NZ_TZ_NAME)
    hour, weekday = local.dt.hour(), local.dt.weekday()
    persons = index.persons.select("user_id", "status", "start_date", "end_date")
    listed = index.watchlist.select("client_id").unique().with_columns(pl.lit(True).alias("_listed"))
    d = pl.col("nz_date")
    inactive = (
        pl.col("status").is_in(["leave", "terminated"]).fill_null(False)
        | (pl.col("start_date").is_not_null() & (d < pl.col("start_date"))).fill_null(False)
        | (pl.col("end_date").is_not_null() & (d > pl.col("end_date"))).fill_null(False)
    )
    flags = {
        "ird_number_screen": pl.col("screen") == "ird_number",
        "date_of_birth_screen": pl.col("screen") == "date_of_birth",
        "bulk_action": pl.col("action").is_in(["export", "print"]),
        "out_of_hours": (hour < WORK_START_HOUR) | (hour >= WORK_END_HOUR) | (weekday >= 6),
        "watchlist_client": pl.col("_listed").fill_null(False),
        "inactive_account": inactive,
    }
    joined = found.join(persons, on="user_id", how="left", maintain_order="left").join(
        listed, on="client_id", how="left", maintain_order="left")
    parts = [pl.when(expr.fill_null(False)).then(pl.lit(name)).otherwise(None) for name, expr in flags.items()]
    return joined.with_columns(pl.concat_str(parts, separator=",", ignore_nulls=True).alias("modifiers"))
