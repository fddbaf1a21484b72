"""A client's footprint on a deployment (a Privacy Act request): every access to one client's record, with
role, team, assignment cover and findings, from the curated partitions or the stack's Athena workgroup, and
written out as formula-safe CSV or JSON Lines.

Every footprint carries what it covers (``FootprintMeta``): the client id checked against the current clients
snapshot (an unknown id is refused unless allowed, with near misses suggested), the period asked for, and
for each system the days its logs exist and the days inside the period without any. The client-safe form
(``write_client_safe``) keeps only when, who by role and team, and what in plain words, as CSV or a printable
HTML document."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from accesswatch.footprint import (
    FootprintAnswer,
    FootprintMeta,
    client_safe_footprint,
    client_safe_html,
    client_statement,
    footprint_csv,
    internal_csv,
)
from accesswatch_tools.operate.deployment import Deployment, OperationError

__all__ = ["FootprintAnswer", "UnknownClient", "answer_footprint", "asked_period", "client_safe_html",
           "client_statement", "footprint", "footprint_sources", "write_client_safe", "write_footprint"]


class UnknownClient(OperationError):
    """The client id is not in the current clients snapshot (and unknown ids were not allowed)."""


def deployment_systems(dep: Deployment) -> tuple[str, ...]:
    """The systems the deployment accepts logs from (the ingest function's KNOWN_SYSTEMS), or () if unknown."""
    try:
        config = dep.client("lambda").get_function_configuration(FunctionName=dep.resource_name("IngestFunction"))
        text = config.get("Environment", {}).get("Variables", {}).get("KNOWN_SYSTEMS", "")
    except Exception:  # noqa: BLE001 - the list only adds "no logs held" lines; without it they are left out
        return ()
    return tuple(dict.fromkeys(s.strip() for s in str(text).split(",") if s.strip()))


def footprint_sources(dep: Deployment, *, engine: str, cache_dir: Path | None = None) -> Any:
    from accesswatch.dal.athena import AthenaQueries
    from accesswatch.dal.ledger import Ledger
    from accesswatch.dal.objects import ObjectStore
    from accesswatch.dal.partitions import PartitionStore
    from accesswatch.dal.reporting import FindingQueries
    from accesswatch.services.footprint import AthenaEvents, EventSource, FootprintSources, PartitionEvents

    dynamodb = dep.resource("dynamodb")
    s3 = dep.client("s3")
    bucket = dep.resource_name("CuratedBucket")
    events: EventSource
    if engine == "athena":
        try:
            queries = AthenaQueries(dep.client("athena"), dep.resource_name("ReportsWorkGroup"),
                                    dep.resource_name("EventsDatabase"))
            table = dep.resource_name("EventsTable")
        except KeyError as exc:
            raise OperationError(f"the deployment has no Athena resources ({exc}); use --engine partitions") from None
        events = AthenaEvents(queries, table)
    else:
        events = PartitionEvents(PartitionStore(s3, bucket, cache_dir=cache_dir))
    return FootprintSources(events, FindingQueries(dep.resource_name("FindingsTable"), dynamodb),
                            Ledger(dep.resource_name("LedgerTable"), dynamodb), ObjectStore(s3), bucket,
                            partitions=PartitionStore(s3, bucket), known_systems=deployment_systems(dep),
                            raw_bucket=dep.resource_name("RawBucket"))


def _client_footprint(sources: Any, client_id: str, start: date, end: date, *, systems: Sequence[str] | None,
                      with_names: bool) -> pl.DataFrame:
    """``client_footprint``; with names, a raw staff snapshot that cannot be read is one line naming it."""
    from botocore.exceptions import ClientError

    from accesswatch.services.footprint import client_footprint
    from accesswatch.services.reference import RawSnapshotUnavailable

    try:
        return client_footprint(sources, client_id, start, end, systems=systems, with_names=with_names)
    except RawSnapshotUnavailable as exc:
        raise OperationError(f"--with-staff-names: {exc}") from None
    except ClientError as exc:
        if not with_names or exc.operation_name != "GetObject":
            raise
        code = exc.response.get("Error", {}).get("Code", "error")
        raise OperationError(f"--with-staff-names: the current raw staff snapshot cannot be read ({code}); "
                             "names are read from the raw bucket, not the curated copy") from None


def footprint(dep: Deployment, client_id: str, start: date, end: date, *, engine: str = "partitions",
              cache_dir: Path | None = None, systems: Sequence[str] | None = None,
              with_names: bool = False) -> pl.DataFrame:
    return _client_footprint(footprint_sources(dep, engine=engine, cache_dir=cache_dir), client_id, start, end,
                             systems=systems, with_names=with_names)


def asked_period(held: Mapping[str, Any], start: date | None, end: date | None,
                 today: date) -> tuple[date, date, list[str]]:
    """``accesswatch.services.footprint.asked_period``, its refusal as an OperationError."""
    from accesswatch.services.footprint import PeriodError
    from accesswatch.services.footprint import asked_period as period_of

    try:
        return period_of(held, start, end, today)
    except PeriodError as exc:
        raise OperationError(str(exc)) from None


def answer_footprint(dep: Deployment, client_id: str, start: date | None, end: date | None, *,
                     today: date | None = None, allow_unknown: bool = False, engine: str = "partitions",
                     cache_dir: Path | None = None, systems: Sequence[str] | None = None,
                     with_names: bool = False) -> FootprintAnswer:
    """A client's footprint with its coverage (``accesswatch.services.footprint.answer_footprint``). The id is
    checked first: unknown (or no clients snapshot to check it against) raises ``UnknownClient`` naming it and
    its near misses, unless ``allow_unknown``, when the footprint says so. Without ``start`` the period starts
    on the first day with logs; without ``end`` it ends ``today`` (NZ); an ``end`` after today is clipped to
    today, with a note."""
    from accesswatch.quarters import nz_today
    from accesswatch.services.footprint import PeriodError
    from accesswatch.services.footprint import UnknownClient as Unknown
    from accesswatch.services.footprint import answer_footprint as answer

    sources = footprint_sources(dep, engine=engine, cache_dir=cache_dir)
    try:
        return answer(sources, client_id, start, end, today=today or nz_today(), allow_unknown=allow_unknown,
                      systems=systems, with_names=with_names, read=_client_footprint)
    except Unknown as exc:
        raise UnknownClient(str(exc) + " (--allow-unknown-client to look anyway)") from None
    except PeriodError as exc:
        raise OperationError(str(exc)) from None


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")


def write_footprint(frame: pl.DataFrame, out: Path | None, meta: FootprintMeta | None = None) -> None:
    """CSV (or JSON for .json, JSON Lines for .jsonl) with formula-safe text; stdout when ``out`` is None.

    With ``meta``: the CSV starts with ``#`` lines stating the client, the period and the coverage (read
    the table with ``comment_prefix="#"``); JSON Lines start with one ``{"footprint": {...}}`` line; JSON is
    one object ``{"footprint": {...}, "accesses": [...]}``."""
    rows = frame.to_dicts()
    suffix = out.suffix.lower() if out is not None else ""
    header = {"footprint": {**meta.as_json(), "accesses": frame.height}} if meta is not None else None
    if suffix == ".json" and header is not None:
        text = json.dumps({**header, "accesses": rows}, ensure_ascii=False, default=str, indent=1) + "\n"
    elif suffix in {".jsonl", ".json"}:
        lines = ([header] if header is not None else []) + rows
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in lines)
    else:
        text = internal_csv(FootprintAnswer(frame, meta)) if meta is not None else footprint_csv(frame)
    _emit(text, out)


def write_client_safe(answer: FootprintAnswer, out: Path | None, *, with_names: bool = False) -> pl.DataFrame:
    """The client-safe footprint: a printable HTML document for ``.html``/``.htm``, else CSV (stdout when
    ``out`` is None). No finding, case, event or user id and no rule: see ``client_safe_footprint``."""
    safe = client_safe_footprint(answer.frame, with_names=with_names)
    statement = client_statement(answer.meta, safe.height)
    if out is not None and out.suffix.lower() in {".html", ".htm"}:
        _emit(client_safe_html(safe, answer.meta, statement), out)
    else:
        _emit(footprint_csv(safe, statement), out)
    return safe
