"""A client's access footprint (a Privacy Act request): every access to their record, explained.

One row per access: when (as the source wrote it, and in New Zealand time), the system and event id,
the user id with their role, team and account type, the action and screen, whether an assignment
covered the access on its New Zealand date (the test detection uses), and the findings it raised
with their cases. Staff names are left out unless asked for.

The events come from the curated partitions: read with polars (``services.footprint`` locally or
wherever the partitions can be listed) or queried with Athena (``footprint_sql``). Both give the
same columns, so ``build_footprint`` serves either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Final

import polars as pl

from accesswatch.contract import EVENT_SCHEMA
from accesswatch.quarters import NZ_TZ_NAME

# The event columns a footprint reads (from Parquet or from Athena).
EVENT_COLUMNS: Final = ("system", "event_id", "occurred_at", "occurred_at_utc", "nz_date", "user_id", "client_id",
                        "action", "screen", "site")
FOOTPRINT_COLUMNS: Final = (
    "occurred_at", "occurred_at_nz", "nz_date", "system", "event_id", "user_id", "account_type", "role", "team",
    "action", "screen", "site", "assignment_covered", "findings", "finding_ids", "case_ids",
)
NAME_COLUMNS: Final = ("staff_family_name", "staff_given_names")


def quote_identifier(name: str) -> str:
    """An Athena (Trino) identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """A SQL string literal, as Athena's execution parameters take them."""
    return "'" + value.replace("'", "''") + "'"


def footprint_sql(database: str, table: str, client_id: str, start: date, end: date,
                  systems: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """The Athena query for one client's accesses on NZ dates ``start..end``, and its parameters.

    ``nz_date`` and ``system`` are partition columns (projected), so Athena reads only the days
    asked for. Every value is an execution parameter (``?``), never pasted into the text.
    """
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    columns = ", ".join(
        f"CAST({quote_identifier(c)} AS varchar) AS {quote_identifier(c)}"
        if c in ("nz_date", "occurred_at_utc") else quote_identifier(c)
        for c in EVENT_COLUMNS
    )
    where, parameters = _period_filter(start, end, systems, client_id=client_id)
    sql = (f"SELECT {columns} FROM {quote_identifier(database)}.{quote_identifier(table)} "
           f"WHERE {' AND '.join(where)} ORDER BY occurred_at_utc, system, event_id")
    return sql, parameters


def _period_filter(start: date, end: date, systems: Sequence[str] | None,
                   client_id: str | None = None) -> tuple[list[str], list[str]]:
    """WHERE clauses and their parameters for New Zealand dates start..end, the client if given, and the
    systems if given."""
    where = ["nz_date BETWEEN CAST(? AS date) AND CAST(? AS date)"]
    parameters = [sql_string(start.isoformat()), sql_string(end.isoformat())]
    if client_id is not None:
        where.append("client_id = ?")
        parameters.append(sql_string(client_id))
    if systems:
        where.append("system IN (" + ", ".join("?" for _ in systems) + ")")
        parameters += [sql_string(s) for s in systems]
    return where, parameters


def distinct_users_sql(database: str, table: str, start: date, end: date,
                       systems: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """(user_id, nz_date) pairs for the unique-users table, from Athena."""
    where, parameters = _period_filter(start, end, systems)
    sql = (f"SELECT DISTINCT user_id, CAST(nz_date AS varchar) AS nz_date "
           f"FROM {quote_identifier(database)}.{quote_identifier(table)} WHERE {' AND '.join(where)}")
    return sql, parameters


def typed_events(frame: pl.DataFrame) -> pl.DataFrame:
    """Athena's text columns (or Parquet's typed ones) as the EVENT_SCHEMA types the footprint uses."""
    out = frame
    if out.schema.get("nz_date") == pl.String:
        out = out.with_columns(pl.col("nz_date").str.to_date("%Y-%m-%d"))
    if out.schema.get("occurred_at_utc") == pl.String:
        out = out.with_columns(
            pl.col("occurred_at_utc").str.replace(r" UTC$", "").str.to_datetime(time_zone="UTC", time_unit="us")
        )
    for column in EVENT_COLUMNS:
        if column not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=EVENT_SCHEMA[column]).alias(column))
    return out.select(EVENT_COLUMNS)


def build_footprint(events: pl.DataFrame, *, staff: pl.DataFrame, assignments: pl.DataFrame,
                    findings: Sequence[dict[str, Any]], with_names: bool = False) -> pl.DataFrame:
    """One row per access (``FOOTPRINT_COLUMNS``, plus the staff names if ``with_names``).

    ``staff``: the staff snapshot (strings); ``assignments``: the reference index's assignments
    (user_id, client_id, valid_from, valid_to as dates, null = open); ``findings``: the client's
    findings (system, event_id, rule, finding_id, case_id).
    """
    ev = typed_events(events).unique(subset=["system", "event_id"], keep="first", maintain_order=True)
    ev = ev.with_row_index("_row")
    wanted = ["user_id", "role", "team", "account_type"] + (["family_name", "given_names"] if with_names else [])
    people = staff.select([c for c in wanted if c in staff.columns]).unique(subset=["user_id"], keep="first")
    for column in wanted:
        if column not in people.columns:
            people = people.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    d = pl.col("nz_date")
    covered = (
        ev.select("_row", "user_id", "client_id", "nz_date")
        .join(assignments.select("user_id", "client_id", "valid_from", "valid_to"), on=["user_id", "client_id"])
        .filter((pl.col("valid_from").is_null() | (pl.col("valid_from") <= d))
                & (pl.col("valid_to").is_null() | (d <= pl.col("valid_to"))))
        .select("_row").unique().with_columns(pl.lit(True).alias("assignment_covered"))
    )
    found_schema = {"system": pl.String, "event_id": pl.String, "rule": pl.String, "finding_id": pl.String,
                    "case_id": pl.String}
    found = pl.DataFrame([{k: (None if f.get(k) in (None, "") else str(f.get(k))) for k in found_schema}
                          for f in findings], schema=found_schema)
    per_event = found.sort("rule").group_by(["system", "event_id"]).agg(
        pl.col("rule").str.join(";").alias("findings"),
        pl.col("finding_id").str.join(";").alias("finding_ids"),
        pl.col("case_id").drop_nulls().unique().sort().str.join(";").alias("case_ids"),
    )
    out = (
        ev.join(people, on="user_id", how="left")
        .join(covered, on="_row", how="left")
        .join(per_event, on=["system", "event_id"], how="left")
        .with_columns(
            pl.col("occurred_at_utc").dt.convert_time_zone(NZ_TZ_NAME).dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
            .alias("occurred_at_nz"),
            pl.col("assignment_covered").fill_null(False),
            pl.col("findings").fill_null(""),
            pl.col("finding_ids").fill_null(""),
            pl.col("case_ids").fill_null(""),
        )
        .sort(["occurred_at_utc", "system", "event_id"])
    )
    columns = list(FOOTPRINT_COLUMNS)
    if with_names:
        out = out.rename({"family_name": "staff_family_name", "given_names": "staff_given_names"})
        columns += list(NAME_COLUMNS)
    return out.select(columns)
