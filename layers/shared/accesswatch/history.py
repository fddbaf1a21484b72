"""A staff member's access history: every access one user made in a period, explained (the mirror image of a
client's footprint, ``accesswatch.footprint``).

One row per access: when (as the source wrote it, and in New Zealand time), the system and event id, the
client id, the action, screen and site, whether an assignment covered the access on its New Zealand date (the
test detection uses), and the findings it raised with their cases. Then a summary by client and by screen, and
how the user compares with the median of their team: accesses per day with logs, distinct clients and accesses
to sensitive screens (``contract.SENSITIVE_SCREENS``) over the same period.

Ids only: no name, address, date of birth or IRD number is read or shown. The events come from the curated
partitions (polars) or Athena (``history_sql``, ``team_stats_sql``); both give the same columns.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

import polars as pl

from accesswatch.contract import SENSITIVE_SCREENS
from accesswatch.footprint import (
    ClientIdCheck,
    SystemCoverage,
    _period_filter,
    quote_identifier,
    typed_events,
)
from accesswatch.quarters import NZ_TZ_NAME

HISTORY_COLUMNS: Final = (
    "occurred_at", "occurred_at_nz", "nz_date", "system", "event_id", "client_id", "action", "screen", "site",
    "covered", "sensitive", "findings", "finding_ids", "case_ids",
)
# What ``--json`` prints for each access (at least these: issue 17).
JSON_COLUMNS: Final = HISTORY_COLUMNS
STAT_COLUMNS: Final = ("user_id", "accesses", "distinct_clients", "sensitive")
_STATS_SCHEMA: Final = {"user_id": pl.String, "accesses": pl.Int64, "distinct_clients": pl.Int64,
                        "sensitive": pl.Int64}
_ASSIGNMENT_SCHEMA: Final = {"user_id": pl.String, "client_id": pl.String, "valid_from": pl.Date,
                             "valid_to": pl.Date}


def _columns_sql() -> str:
    from accesswatch.footprint import EVENT_COLUMNS

    return ", ".join(
        f"CAST({quote_identifier(c)} AS varchar) AS {quote_identifier(c)}"
        if c in ("nz_date", "occurred_at_utc") else quote_identifier(c)
        for c in EVENT_COLUMNS
    )


def history_sql(database: str, table: str, user_id: str, start: date, end: date,
                systems: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """The Athena query for one user's accesses on NZ dates ``start..end``, and its parameters (every value an
    execution parameter; ``nz_date`` and ``system`` are projected partition columns, so only those days are
    read)."""
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    where, parameters = _period_filter(start, end, systems)
    where.append("user_id = ?")
    parameters.append("'" + user_id.replace("'", "''") + "'")
    sql = (f"SELECT {_columns_sql()} FROM {quote_identifier(database)}.{quote_identifier(table)} "
           f"WHERE {' AND '.join(where)} ORDER BY occurred_at_utc, system, event_id")
    return sql, parameters


def team_stats_sql(database: str, table: str, user_ids: Sequence[str], start: date, end: date,
                   systems: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """One row per user of ``user_ids`` with any access on NZ dates ``start..end``: ``STAT_COLUMNS``."""
    if not user_ids:
        raise ValueError("no user ids")
    where, parameters = _period_filter(start, end, systems)
    where.append("user_id IN (" + ", ".join("?" for _ in user_ids) + ")")
    parameters += ["'" + u.replace("'", "''") + "'" for u in user_ids]
    screens = ", ".join("'" + s + "'" for s in sorted(SENSITIVE_SCREENS))  # constants, not input
    sql = (f"SELECT user_id, count(*) AS accesses, count(DISTINCT client_id) AS distinct_clients, "
           f"count_if(screen IN ({screens})) AS sensitive "
           f"FROM {quote_identifier(database)}.{quote_identifier(table)} WHERE {' AND '.join(where)} "
           f"GROUP BY user_id")
    return sql, parameters


def event_stats(events: pl.DataFrame) -> pl.DataFrame:
    """``STAT_COLUMNS`` per user of ``events`` (user_id, client_id, screen; duplicates by system and event id
    counted once)."""
    if not events.height:
        return pl.DataFrame(schema=_STATS_SCHEMA)
    ev = events.unique(subset=["system", "event_id"], keep="first") if "event_id" in events.columns else events
    return ev.group_by("user_id").agg(
        pl.len().cast(pl.Int64).alias("accesses"),
        pl.col("client_id").drop_nulls().n_unique().cast(pl.Int64).alias("distinct_clients"),
        pl.col("screen").is_in(sorted(SENSITIVE_SCREENS)).sum().cast(pl.Int64).alias("sensitive"),
    ).select(STAT_COLUMNS).sort("user_id")


def typed_stats(frame: pl.DataFrame) -> pl.DataFrame:
    """Athena's text (or any integer type) as ``STAT_COLUMNS`` with Int64 counts."""
    if not frame.height:
        return pl.DataFrame(schema=_STATS_SCHEMA)
    return frame.select([pl.col(c).cast(t) for c, t in _STATS_SCHEMA.items()])


def build_history(events: pl.DataFrame, *, assignments: pl.DataFrame,
                  findings: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per access of one user (``HISTORY_COLUMNS``), oldest first.

    ``assignments``: the reference index's assignments of that user (user_id, client_id, valid_from,
    valid_to as dates, null = open); ``findings``: the user's findings (system, event_id, rule, finding_id,
    case_id)."""
    ev = typed_events(events).unique(subset=["system", "event_id"], keep="first", maintain_order=True)
    ev = ev.with_row_index("_row")
    d = pl.col("nz_date")
    assigned = assignments.select(list(_ASSIGNMENT_SCHEMA)).cast(_ASSIGNMENT_SCHEMA)  # type: ignore[arg-type]
    covered = (
        ev.select("_row", "user_id", "client_id", "nz_date")
        .join(assigned, on=["user_id", "client_id"])
        .filter((pl.col("valid_from").is_null() | (pl.col("valid_from") <= d))
                & (pl.col("valid_to").is_null() | (d <= pl.col("valid_to"))))
        .select("_row").unique().with_columns(pl.lit(True).alias("covered"))
    )
    found_schema = {"system": pl.String, "event_id": pl.String, "rule": pl.String, "finding_id": pl.String,
                    "case_id": pl.String}
    found = pl.DataFrame([{k: (None if f.get(k) in (None, "") else str(f.get(k))) for k in found_schema}
                          for f in findings], schema=found_schema)
    per_event = found.sort("rule", "finding_id").group_by(["system", "event_id"]).agg(
        pl.col("rule").unique(maintain_order=True).str.join(";").alias("findings"),
        pl.col("finding_id").alias("finding_ids"),
        pl.col("case_id").drop_nulls().unique().sort().str.join(";").alias("case_ids"),
    )
    out = (
        ev.join(covered, on="_row", how="left")
        .join(per_event, on=["system", "event_id"], how="left")
        .with_columns(
            pl.col("occurred_at_utc").dt.convert_time_zone(NZ_TZ_NAME).dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
            .alias("occurred_at_nz"),
            pl.col("covered").fill_null(False),
            pl.col("screen").is_in(sorted(SENSITIVE_SCREENS)).fill_null(False).alias("sensitive"),
            pl.col("findings").fill_null(""),
            pl.col("finding_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("case_ids").fill_null(""),
        )
        .sort(["occurred_at_utc", "system", "event_id"])
    )
    return out.select(HISTORY_COLUMNS)


def by_client(history: pl.DataFrame) -> pl.DataFrame:
    """Per client: accesses, first and last NZ time, accesses not covered, accesses that raised findings;
    most accessed first."""
    schema = {"client_id": pl.String, "accesses": pl.Int64, "first_nz": pl.String, "last_nz": pl.String,
              "not_covered": pl.Int64, "flagged": pl.Int64}
    if not history.height:
        return pl.DataFrame(schema=schema)
    return history.group_by("client_id").agg(
        pl.len().cast(pl.Int64).alias("accesses"),
        pl.col("occurred_at_nz").min().alias("first_nz"),
        pl.col("occurred_at_nz").max().alias("last_nz"),
        (~pl.col("covered")).sum().cast(pl.Int64).alias("not_covered"),
        (pl.col("finding_ids").list.len() > 0).sum().cast(pl.Int64).alias("flagged"),
    ).sort(["accesses", "client_id"], descending=[True, False]).select(list(schema))


def by_screen(history: pl.DataFrame) -> pl.DataFrame:
    """Per screen: accesses, distinct clients, whether it is a sensitive screen; most used first."""
    schema = {"screen": pl.String, "accesses": pl.Int64, "distinct_clients": pl.Int64, "sensitive": pl.Boolean}
    if not history.height:
        return pl.DataFrame(schema=schema)
    return history.group_by("screen").agg(
        pl.len().cast(pl.Int64).alias("accesses"),
        pl.col("client_id").n_unique().cast(pl.Int64).alias("distinct_clients"),
        pl.col("sensitive").first().alias("sensitive"),
    ).sort(["accesses", "screen"], descending=[True, False]).select(list(schema))


# --------------------------------------------------------------------------- the user against their team
MEASURES: Final = ("accesses_per_day", "distinct_clients", "sensitive")
MEASURE_WORDS: Final = {"accesses_per_day": "accesses per day with logs", "distinct_clients": "distinct clients",
                        "sensitive": "sensitive-screen accesses"}


@dataclass(frozen=True)
class Measure:
    name: str
    user: float
    team_median: float | None  # None: the team has no other member to compare with

    @property
    def ratio(self) -> float | None:
        """The user's value over the team median (None when there is no median, or it is 0)."""
        if self.team_median is None or self.team_median == 0:
            return None
        return self.user / self.team_median

    def text(self) -> str:
        words = MEASURE_WORDS.get(self.name, self.name)
        if self.team_median is None:
            return f"{words}: {_num(self.user)} (no team median: no other member in the team)"
        ratio = self.ratio
        times = f", {ratio:.1f}x the median" if ratio is not None else ""
        return f"{words}: {_num(self.user)} (team median {_num(self.team_median)}{times})"

    def as_json(self) -> dict[str, Any]:
        return {"user": round(self.user, 4),
                "team_median": None if self.team_median is None else round(self.team_median, 4),
                "ratio": None if self.ratio is None else round(self.ratio, 4)}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


@dataclass(frozen=True)
class TeamComparison:
    """How one user compares with the median of the other members of their team over the same period.

    Members are the staff snapshot's users with the same ``team`` (the user left out); a member without any
    access in the period counts as 0. Per day means per NZ day in the period that has logs of any system."""

    team: str | None
    members: int  # other members compared with
    days_with_logs: int
    measures: tuple[Measure, ...] = field(default=())

    def lines(self) -> list[str]:
        if self.team is None:
            return ["team: not known (the user has no team in the staff snapshot): no comparison"]
        head = (f"team {self.team}: compared with the median of its {self.members} other member(s) over "
                f"{self.days_with_logs} day(s) with logs")
        return [head, *(f"  {m.text()}" for m in self.measures)]

    def as_json(self) -> dict[str, Any]:
        return {"team": self.team, "other_members": self.members, "days_with_logs": self.days_with_logs,
                **{m.name: m.as_json() for m in self.measures}}


def compare_with_team(user_id: str, team: str | None, team_members: Sequence[str], stats: pl.DataFrame,
                      days_with_logs: int) -> TeamComparison:
    """The comparison of ``user_id`` with the other ``team_members`` from per-user ``stats``
    (``STAT_COLUMNS``; users without a row made no access)."""
    if team is None:
        return TeamComparison(None, 0, days_with_logs)
    rows = {str(r["user_id"]): r for r in stats.to_dicts()}
    days = max(days_with_logs, 1)

    def values(uid: str) -> dict[str, float]:
        r = rows.get(uid) or {}
        return {"accesses_per_day": float(r.get("accesses") or 0) / days,
                "distinct_clients": float(r.get("distinct_clients") or 0),
                "sensitive": float(r.get("sensitive") or 0)}

    others = sorted({m for m in team_members if m != user_id})
    mine = values(user_id)
    theirs = [values(m) for m in others]
    measures = tuple(Measure(name, mine[name], statistics.median(v[name] for v in theirs) if theirs else None)
                     for name in MEASURES)
    return TeamComparison(team, len(others), days_with_logs, measures)


# --------------------------------------------------------------------------- what a history covers
@dataclass(frozen=True)
class HistoryMeta:
    """What a history answers: the user checked, the period, each system's coverage in it, notes."""

    user: ClientIdCheck
    start: date
    end: date
    coverage: tuple[SystemCoverage, ...]
    notes: tuple[str, ...] = ()

    @property
    def days_with_logs(self) -> int:
        """NZ days in the period with logs of at least one system."""
        if not self.coverage:
            return 0
        missing = [{d for g in c.gaps for d in _days(g.start, g.end)} for c in self.coverage]
        total = (self.end - self.start).days + 1
        none = set.intersection(*missing) if missing else set()
        return total - len(none)

    def lines(self) -> list[str]:
        out = [f"period asked for: {self.start} to {self.end} (New Zealand dates)", *self.notes]
        out += [c.text() for c in self.coverage]
        if not self.coverage:
            out.append("no logs of any system are held")
        problem = self.user.problem()
        if problem:
            out.append(f"WARNING: {problem}")
        return out

    def as_json(self) -> dict[str, Any]:
        return {"user_id": self.user.client_id, "user_known": self.user.known, "user_checked": self.user.checked,
                "suggestions": list(self.user.suggestions),
                "period": {"from": self.start.isoformat(), "to": self.end.isoformat(), "dates": "New Zealand"},
                "days_with_logs": self.days_with_logs,
                "coverage": [c.as_json() for c in self.coverage], "notes": list(self.notes)}


def _days(start: date, end: date) -> list[date]:
    from datetime import timedelta

    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def access_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One access as ``--json`` prints it (``JSON_COLUMNS``; dates as text)."""
    out = {c: row.get(c) for c in JSON_COLUMNS}
    day = out.get("nz_date")
    if isinstance(day, date):
        out["nz_date"] = day.isoformat()
    out["finding_ids"] = list(out.get("finding_ids") or [])
    return out
