"""Detection: run the rule catalog over a partition of events against a reference index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from accesswatch.contract import EVENT_SCHEMA
from accesswatch.findings import finding_ids
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
    }
)
_CARRIED: Final = ("system", "event_id", "user_id", "client_id", "occurred_at", "occurred_at_utc", "nz_date")


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
    return found.with_columns(
        finding_ids(found["system"], found["event_id"], found["rule"]),
        pl.lit(index.snapshot_id, dtype=pl.String).alias("snapshot_id"),
    ).select(FINDING_SCHEMA.names())
