"""Console page: a client's footprint (a Privacy Act request), for the privacy officer.

``GET /footprint?client_id=&from=&to=`` answers as ``accesswatch footprint`` does (``services.footprint``
over the curated partitions): the client id checked against the current clients snapshot (an unknown or
zero-stripped id is refused with its near misses, never answered "nobody looked"), the same period rule
(``asked_period``), every access in the period and the coverage statement. ``GET /footprint.csv`` is the
internal footprint, ``GET /footprint-client-safe.csv`` (and ``.html``, printable) what is handed to the
client; every CSV is formula-safe. Each answer is audited (``footprint`` / ``footprint_client_safe``) and
recorded as an access to the client's record before it is shown or downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import polars as pl
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accesswatch.console.roles import Permission
from accesswatch.console.sources import ConsoleSources
from accesswatch.console.web import (
    BadRequest,
    Unavailable,
    allowed,
    audit,
    download,
    page,
    query,
    sources,
    viewed_clients,
)
from accesswatch.dal.athena import AthenaQueryFailed
from accesswatch.footprint import (
    FootprintAnswer,
    client_safe_csv,
    client_safe_footprint,
    client_safe_html,
    client_statement,
    internal_csv,
)
from accesswatch.services.footprint import FootprintSources

router = Router()
MAX_SHOWN: Final = 2000  # rows on the page; the CSV has every one
MAX_CLIENT_ID: Final = 64
CSV: Final = "text/csv; charset=utf-8"


class Refused(Exception):
    """A footprint that cannot be answered as asked (bad period, unknown client): 400, with the reason and,
    for a client id, the known ids it may have meant."""

    def __init__(self, message: str, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.suggestions = suggestions


@dataclass(frozen=True)
class Asked:
    client_id: str
    date_from: str
    date_to: str

    def params(self, client_id: str | None = None) -> dict[str, str]:
        return {"client_id": self.client_id if client_id is None else client_id, "from": self.date_from,
                "to": self.date_to}


def parse_date(text: str, name: str) -> date | None:
    """A YYYY-MM-DD date from the form (None if blank); Refused otherwise."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(f"{name}: not a date (YYYY-MM-DD): {text[:40]!r}") from None


ATHENA_TIMEOUT_S = 20.0  # within the function's 29 s and the HTTP API's 30 s; longer: the CLI's --engine athena


def footprint_sources(src: ConsoleSources) -> FootprintSources:
    """The footprint's data over the console's storage: events by one Athena query where the stack has its
    Athena workgroup and Glue table (on AWS: a ministry's months of events are far beyond what the function
    could read in its 29 s), else from the curated partitions (the local runtime, which has no Athena)."""
    from accesswatch.dal.partitions import PartitionStore
    from accesswatch.dal.reporting import FindingQueries
    from accesswatch.services.footprint import AthenaEvents, EventSource, PartitionEvents

    settings = src.settings
    partitions = PartitionStore(src.client("s3"), settings.curated_bucket)
    events: EventSource = PartitionEvents(partitions)
    if settings.athena_workgroup and settings.events_database and settings.events_table:
        from accesswatch.dal.athena import AthenaQueries

        events = AthenaEvents(AthenaQueries(src.client("athena"), settings.athena_workgroup, settings.events_database,
                                            timeout_s=ATHENA_TIMEOUT_S), settings.events_table)
    return FootprintSources(events, FindingQueries(settings.findings_table, src.dynamodb),
                            src.ledger, src.store, settings.curated_bucket,
                            partitions=partitions, known_systems=tuple(settings.known_systems),
                            raw_bucket=settings.raw_bucket)


def answer(src: ConsoleSources, asked: Asked, *, today: date | None = None) -> FootprintAnswer:
    """The footprint as the CLI answers it; Refused (400) for a bad period or an unknown client id."""
    from accesswatch.quarters import nz_today
    from accesswatch.services.footprint import PeriodError, UnknownClient, answer_footprint

    if not asked.client_id:
        raise Refused("a client id is needed")
    if len(asked.client_id) > MAX_CLIENT_ID:
        raise Refused(f"a client id has at most {MAX_CLIENT_ID} characters")
    start = parse_date(asked.date_from, "from")
    end = parse_date(asked.date_to, "to")
    if start and end and end < start:
        raise Refused(f"to {end} is before from {start}")
    try:
        return answer_footprint(footprint_sources(src), asked.client_id, start, end, today=today or nz_today())
    except UnknownClient as exc:
        raise Refused(str(exc), exc.check.suggestions) from None
    except PeriodError as exc:
        raise Refused(str(exc)) from None
    except AthenaQueryFailed as exc:
        raise Unavailable(f"{exc}; for a long period ask with `accesswatch footprint CLIENT --engine athena`, "
                          "which waits longer") from None


def _asked() -> Asked:
    return Asked(query(router, "client_id"), query(router, "from"), query(router, "to"))


def _audit(asked: Asked, found: FootprintAnswer, *, client_safe: bool, shown_as: str) -> None:
    """Recorded before anything is shown or downloaded, as ``accesswatch footprint`` records it; and the
    client's record counts as accessed by the person at the console."""
    meta = found.meta
    audit(router, "footprint_client_safe" if client_safe else "footprint",
          subject={"client_id": asked.client_id, "from": meta.start, "to": meta.end, "systems": [],
                   "with_staff_names": False, "shown_as": shown_as},
          result={"accesses": found.frame.height, "users": found.users,
                  **({} if client_safe else {"findings": found.flagged})})
    viewed_clients(router, [asked.client_id], page_name="footprint")


def _yes_no(value: object) -> str:
    return "" if value is None else ("yes" if value else "no")


def table_rows(frame: pl.DataFrame, limit: int = MAX_SHOWN) -> list[dict[str, Any]]:
    """The accesses as the page shows them (the first ``limit``)."""
    rows = []
    for r in frame.head(limit).to_dicts():
        rows.append({"occurred_at_nz": r.get("occurred_at_nz") or "", "system": r.get("system") or "",
                     "event_id": r.get("event_id") or "", "user_id": r.get("user_id") or "",
                     "account_type": r.get("account_type") or "", "role": r.get("role") or "",
                     "team": r.get("team") or "", "action": r.get("action") or "", "screen": r.get("screen") or "",
                     "site": r.get("site") or "",
                     "covered": _yes_no(r.get("assignment_covered")),
                     "findings": r.get("findings") or "", "case_ids": r.get("case_ids") or ""})
    return rows


@router.get("/footprint")
def footprint() -> Response:
    allowed(router, Permission.FOOTPRINT)
    asked = _asked()
    values: dict[str, Any] = {"asked": asked, "error": "", "suggestions": [], "found": None, "rows": [],
                              "meta_lines": [], "shown": 0, "total": 0, "users": 0,
                              "flagged": 0, "params": asked.params()}
    if not asked.client_id and not asked.date_from and not asked.date_to:
        return page(router, "footprint.html", title="Footprint", active="/footprint", **values)
    try:
        found = answer(sources(router), asked)
    except Refused as exc:
        values.update(error=str(exc), suggestions=[{"client_id": s, "params": asked.params(s)}
                                                   for s in exc.suggestions])
        return page(router, "footprint.html", title="Footprint", active="/footprint", status=400, **values)
    _audit(asked, found, client_safe=False, shown_as="page")
    rows = table_rows(found.frame)
    values.update(found=found, rows=rows, shown=len(rows), total=found.frame.height, users=found.users,
                  flagged=found.flagged, meta_lines=found.meta.lines())
    return page(router, "footprint.html", title=f"Footprint of client {asked.client_id}", active="/footprint",
                **values)


def _download_answer() -> tuple[Asked, FootprintAnswer]:
    asked = _asked()
    try:
        return asked, answer(sources(router), asked)
    except Refused as exc:
        raise BadRequest(str(exc)) from None


def _name(found: FootprintAnswer, kind: str, suffix: str) -> str:
    meta = found.meta
    return f"{kind}_{meta.client.client_id}_{meta.start}_{meta.end}.{suffix}"


@router.get("/footprint.csv")
def footprint_csv() -> Response:
    allowed(router, Permission.FOOTPRINT)
    asked, found = _download_answer()
    _audit(asked, found, client_safe=False, shown_as="csv")
    return download(internal_csv(found), filename=_name(found, "footprint", "csv"), content_type=CSV)


@router.get("/footprint-client-safe.csv")
def client_safe_csv_download() -> Response:
    allowed(router, Permission.FOOTPRINT)
    asked, found = _download_answer()
    _audit(asked, found, client_safe=True, shown_as="csv")
    return download(client_safe_csv(found), filename=_name(found, "footprint_client_safe", "csv"),
                    content_type=CSV)


@router.get("/footprint-client-safe.html")
def client_safe_html_download() -> Response:
    allowed(router, Permission.FOOTPRINT)
    asked, found = _download_answer()
    _audit(asked, found, client_safe=True, shown_as="html")
    safe = client_safe_footprint(found.frame)
    body = client_safe_html(safe, found.meta, client_statement(found.meta, safe.height))
    return download(body, filename=_name(found, "footprint_client_safe", "html"),
                    content_type="text/html; charset=utf-8")

