"""A staff member's access history from a deployment: events (partitions or Athena), staff, assignments, findings.

The same sources as a client's footprint (``services.footprint.FootprintSources``); the question is turned
round: one user's accesses, and per-user counts of the other members of their team for the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import polars as pl

from accesswatch.dal.athena import AthenaQueries
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.partitions import PartitionStore
from accesswatch.footprint import EVENT_COLUMNS, ClientIdCheck, check_user_id
from accesswatch.history import (
    HistoryMeta,
    TeamComparison,
    build_history,
    compare_with_team,
    event_stats,
    history_sql,
    team_stats_sql,
    typed_stats,
)
from accesswatch.services.footprint import (
    FootprintSources,
    current_index,
    footprint_meta,
    known_user_ids,
)
from accesswatch.services.report import staff_snapshot


class HistoryEventSource(Protocol):
    def user_events(self, user_id: str, team: Sequence[str], start: date, end: date,
                    systems: Sequence[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The user's events (``EVENT_COLUMNS``) and per-user stats (``history.STAT_COLUMNS``) of ``team``."""
        ...


class PartitionHistoryEvents:
    """Polars over the curated partitions of the days asked for: one read for the user and their team."""

    def __init__(self, partitions: PartitionStore) -> None:
        self.partitions = partitions

    def user_events(self, user_id: str, team: Sequence[str], start: date, end: date,
                    systems: Sequence[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        objects = self.partitions.list(start, end, systems)
        wanted = sorted({user_id, *team})
        events = self.partitions.read(objects, EVENT_COLUMNS, pl.col("user_id").is_in(wanted))
        return events.filter(pl.col("user_id") == user_id), event_stats(events.filter(pl.col("user_id") != user_id))


class AthenaHistoryEvents:
    """The same as two Athena queries: the user's rows, and the team's counts (grouped by the service)."""

    def __init__(self, queries: AthenaQueries, table: str) -> None:
        self.queries = queries
        self.table = table

    def user_events(self, user_id: str, team: Sequence[str], start: date, end: date,
                    systems: Sequence[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        sql, parameters = history_sql(self.queries.database, self.table, user_id, start, end, systems)
        events = self.queries.run(sql, parameters)
        others = sorted(set(team) - {user_id})
        stats = typed_stats(pl.DataFrame())
        if others:
            sql, parameters = team_stats_sql(self.queries.database, self.table, others, start, end, systems)
            stats = typed_stats(self.queries.run(sql, parameters))
        return events, stats


@dataclass(frozen=True)
class StaffHistory:
    """A user's accesses (``history.HISTORY_COLUMNS``), what they cover, and the team comparison."""

    frame: pl.DataFrame
    meta: HistoryMeta
    team: TeamComparison


def check_user(sources: FootprintSources, user_id: str) -> ClientIdCheck:
    return check_user_id(user_id, known_user_ids(sources.ledger, sources.store, sources.curated_bucket))


def user_team(staff: pl.DataFrame | None, user_id: str) -> tuple[str | None, list[str]]:
    """The user's team in the staff snapshot and its members' user ids (persons only), or (None, [])."""
    if staff is None or "team" not in staff.columns:
        return None, []
    mine = staff.filter(pl.col("user_id") == user_id)["team"].drop_nulls().to_list()
    team = str(mine[0]).strip() if mine and str(mine[0]).strip() else None
    if team is None:
        return None, []
    members = staff.filter(pl.col("team").str.strip_chars() == team)
    if "account_type" in staff.columns:
        members = members.filter(
            pl.col("account_type").fill_null("person").str.strip_chars().str.to_lowercase() != "service")
    return team, sorted({str(u) for u in members["user_id"].drop_nulls().to_list()})


def staff_history(sources: FootprintSources, events: HistoryEventSource, findings: FindingStore,
                  user: ClientIdCheck, start: date, end: date, held: dict[str, set[date]], *,
                  systems: Sequence[str] | None = None, notes: Sequence[str] = ()) -> StaffHistory:
    """Every access of ``user`` on NZ dates ``start..end`` with the comparison with their team."""
    user_id = user.client_id
    staff = staff_snapshot(sources.ledger, sources.store, sources.curated_bucket)
    team, members = user_team(staff, user_id)
    own, stats = events.user_events(user_id, members, start, end, systems)
    index = current_index(sources.ledger, sources.store, sources.curated_bucket)
    assignments = (index.assignments.filter(pl.col("user_id") == user_id) if index is not None else
                   pl.DataFrame(schema={"user_id": pl.String, "client_id": pl.String, "valid_from": pl.Date,
                                        "valid_to": pl.Date}))
    first, last = start.isoformat(), end.isoformat()
    raised = [f for f in findings.find(user_id=user_id)
              if first <= str(f.get("nz_date") or "") <= last and f.get("user_id") == user_id]
    frame = build_history(own, assignments=assignments, findings=raised)
    cover = footprint_meta(sources, user, start, end, held, systems=systems, notes=notes)
    meta = HistoryMeta(user, start, end, cover.coverage, tuple(notes))
    stats = pl.concat([stats, event_stats(own)], how="vertical_relaxed")
    comparison = compare_with_team(user_id, team, members, stats, meta.days_with_logs)
    return StaffHistory(frame, meta, comparison)
