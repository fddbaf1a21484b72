"""A staff member's access history on a deployment (``accesswatch history USER_ID``): every access that user
made in a period, from the curated partitions (polars) or the stack's Athena workgroup, with a summary by
client and by screen and the comparison with their team's median; written as text for people, JSON Lines
(``--json``), CSV or JSON. Ids only: no name, address or date of birth is read or written."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from accesswatch.reports.safe import safe_cell
from accesswatch_tools.operate.deployment import Deployment, OperationError
from accesswatch_tools.operate.footprint import asked_period, footprint_sources

if TYPE_CHECKING:
    from accesswatch.services.history import StaffHistory


class UnknownUser(OperationError):
    """The user id is not in the current staff snapshot."""


def _events(dep: Deployment, engine: str, cache_dir: Path | None) -> Any:
    from accesswatch.dal.athena import AthenaQueries
    from accesswatch.dal.partitions import PartitionStore
    from accesswatch.services.history import AthenaHistoryEvents, PartitionHistoryEvents

    if engine == "athena":
        try:
            queries = AthenaQueries(dep.client("athena"), dep.resource_name("ReportsWorkGroup"),
                                    dep.resource_name("EventsDatabase"))
            table = dep.resource_name("EventsTable")
        except KeyError as exc:
            raise OperationError(f"the deployment has no Athena resources ({exc}); use --engine partitions") from None
        return AthenaHistoryEvents(queries, table)
    return PartitionHistoryEvents(PartitionStore(dep.client("s3"), dep.resource_name("CuratedBucket"),
                                                 cache_dir=cache_dir))


def answer_history(dep: Deployment, user_id: str, start: date | None, end: date | None, *,
                   today: date | None = None, engine: str = "partitions", cache_dir: Path | None = None,
                   systems: Sequence[str] | None = None, allow_unknown: bool = False) -> StaffHistory:
    """The user's history. The id is checked first against the current staff snapshot: unknown (or no staff
    snapshot) raises ``UnknownUser`` naming it and its near misses, unless ``allow_unknown`` (an evidence
    pack of someone who has since left), when the history says so. Without ``start`` the period starts on
    the first day with logs; without ``end`` it ends ``today`` (NZ); a later ``end`` is clipped to today."""
    from accesswatch.dal.findings import FindingStore
    from accesswatch.quarters import nz_today
    from accesswatch.services.footprint import held_log_days
    from accesswatch.services.history import check_user, staff_history

    sources = footprint_sources(dep, engine="partitions", cache_dir=cache_dir)
    user = check_user(sources, user_id)
    problem = user.problem()
    if problem and not allow_unknown:
        raise UnknownUser(problem)
    held = held_log_days(sources, systems)
    start, end, notes = asked_period(held, start, end, today or nz_today())
    findings = FindingStore(dep.resource_name("FindingsTable"), dep.resource("dynamodb"))
    return staff_history(sources, _events(dep, engine, cache_dir), findings, user, start, end, held,
                         systems=systems, notes=notes)


@dataclass(frozen=True)
class HistoryCounts:
    accesses: int
    clients: int
    flagged: int
    not_covered: int


def counts(history: StaffHistory) -> HistoryCounts:
    frame = history.frame
    if not frame.height:
        return HistoryCounts(0, 0, 0, 0)
    return HistoryCounts(frame.height, int(frame["client_id"].n_unique()),
                         frame.filter(pl.col("finding_ids").list.len() > 0).height,
                         frame.filter(~pl.col("covered")).height)


def summary_json(history: StaffHistory) -> dict[str, Any]:
    from accesswatch.history import by_client, by_screen

    c = counts(history)
    return {**history.meta.as_json(), "accesses": c.accesses, "distinct_clients": c.clients,
            "flagged_accesses": c.flagged, "not_covered": c.not_covered,
            "by_client": by_client(history.frame).to_dicts(), "by_screen": by_screen(history.frame).to_dicts(),
            "team_comparison": history.team.as_json()}


def access_records(history: StaffHistory) -> list[dict[str, Any]]:
    from accesswatch.history import access_record

    return [access_record(r) for r in history.frame.to_dicts()]


def json_lines(history: StaffHistory) -> str:
    """One object per access (``history.JSON_COLUMNS``)."""
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in access_records(history))


def csv_text(history: StaffHistory) -> str:
    """CSV of the accesses after ``#`` lines stating the user, period and coverage (formula-safe cells)."""
    buffer = io.StringIO()
    for line in [f"accesswatch access history of user {history.meta.user.client_id}", *history.meta.lines()]:
        buffer.write("# " + " ".join(line.replace(",", ";").split()) + "\n")
    writer = csv.writer(buffer, lineterminator="\n")
    records = access_records(history)
    from accesswatch.history import JSON_COLUMNS

    writer.writerow(JSON_COLUMNS)
    for r in records:
        writer.writerow([("yes" if v else "no") if isinstance(v, bool) else
                         ";".join(v) if isinstance(v, list) else safe_cell("" if v is None else v)
                         for v in r.values()])
    return buffer.getvalue()


def json_document(history: StaffHistory) -> str:
    return json.dumps({"history": summary_json(history), "accesses": access_records(history)},
                      ensure_ascii=False, default=str, indent=1) + "\n"


SHOWN_CLIENTS = 15


def text_report(history: StaffHistory, *, limit: int | None = None) -> str:
    """For people: the accesses as a table (NZ time), then the summary and the team comparison."""
    from accesswatch.history import by_client, by_screen

    frame = history.frame
    rows = frame.to_dicts() if limit is None else frame.head(limit).to_dicts()
    header = ("when (NZ)", "client", "action", "screen", "site", "covered", "findings")
    body = [(str(r["occurred_at_nz"]), str(r["client_id"]), str(r["action"] or ""), str(r["screen"] or ""),
             str(r["site"] or ""), "yes" if r["covered"] else "NO", ", ".join(r["finding_ids"]) or "-")
            for r in rows]
    lines = [f"access history of user {history.meta.user.client_id}", *(f"  {x}" for x in history.meta.lines()), ""]
    if body:
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths, strict=True)).rstrip() for b in body]
        if limit is not None and frame.height > limit:
            lines.append(f"... and {frame.height - limit} more access(es) (--all, --json or --out for every one)")
    else:
        lines.append("no accesses by this user in the period")
    c = counts(history)
    lines += ["", f"summary: {c.accesses} access(es) to {c.clients} client(s); {c.not_covered} not covered by an "
                  f"assignment; {c.flagged} raised findings"]
    clients = by_client(frame)
    if clients.height:
        lines.append("by client (most accessed first):")
        for r in clients.head(SHOWN_CLIENTS).to_dicts():
            lines.append(f"  {r['client_id']}: {r['accesses']} access(es), {r['not_covered']} not covered, "
                         f"{r['flagged']} flagged, {r['first_nz'][:16]} to {r['last_nz'][:16]}")
        if clients.height > SHOWN_CLIENTS:
            lines.append(f"  ... and {clients.height - SHOWN_CLIENTS} more client(s)")
    screens = by_screen(frame)
    if screens.height:
        lines.append("by screen:")
        lines += [f"  {r['screen'] or '(no screen recorded)'}{' (sensitive)' if r['sensitive'] else ''}: "
                  f"{r['accesses']} access(es), "
                  f"{r['distinct_clients']} client(s)" for r in screens.to_dicts()]
    lines += history.team.lines()
    return "\n".join(lines) + "\n"
