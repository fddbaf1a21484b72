"""A client's footprint on a deployment (a Privacy Act request): every access to one client's record, with
role, team, assignment cover and findings, from the curated partitions or the stack's Athena workgroup, and
written out as formula-safe CSV or JSON Lines.

Every footprint carries what it covers (``FootprintMeta``): the client id checked against the current clients
snapshot (an unknown id is refused unless allowed, with near misses suggested), the period asked for, and
for each system the days its logs exist and the days inside the period without any. The client-safe form
(``write_client_safe``) keeps only when, who by role and team, and what in plain words, as CSV or a printable
HTML document."""

from __future__ import annotations

import csv
import html
import io
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from accesswatch.reports.safe import safe_cell
from accesswatch_tools.operate.deployment import Deployment, OperationError

if TYPE_CHECKING:
    from accesswatch.footprint import FootprintMeta


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


@dataclass(frozen=True)
class FootprintAnswer:
    """A footprint and what it covers."""

    frame: pl.DataFrame
    meta: FootprintMeta

    @property
    def users(self) -> int:
        return int(self.frame["user_id"].n_unique()) if self.frame.height else 0

    @property
    def flagged(self) -> int:
        return self.frame.filter(pl.col("findings") != "").height if self.frame.height else 0


def asked_period(held: Mapping[str, Any], start: date | None, end: date | None,
                 today: date) -> tuple[date, date, list[str]]:
    """The period a footprint or a staff history covers: ``--to`` clipped to today, a missing ``--from`` from the
    first day any logs are held; with a note for each; OperationError if it ends before it starts."""
    notes: list[str] = []
    if end is None:
        end = today
    elif end > today:
        notes.append(f"--to {end} is after today ({today}): the period is clipped to {today}")
        end = today
    if start is None:
        firsts = [min(d) for d in held.values() if d]
        start = min(min(firsts), end) if firsts else end
        notes.append(f"no --from: the period starts on the first day any logs are held ({start})")
    if end < start:
        raise OperationError(f"the period ends ({end}) before it starts ({start})")
    return start, end, notes


def answer_footprint(dep: Deployment, client_id: str, start: date | None, end: date | None, *,
                     today: date | None = None, allow_unknown: bool = False, engine: str = "partitions",
                     cache_dir: Path | None = None, systems: Sequence[str] | None = None,
                     with_names: bool = False) -> FootprintAnswer:
    """A client's footprint with its coverage. The id is checked first: unknown (or no clients snapshot to
    check it against) raises ``UnknownClient`` naming it and its near misses, unless ``allow_unknown``, when
    the footprint says so. Without ``start`` the period starts on the first day with logs; without ``end``
    it ends ``today`` (NZ); an ``end`` after today is clipped to today, with a note."""
    from accesswatch.quarters import nz_today
    from accesswatch.services.footprint import check_client, footprint_meta, held_log_days

    sources = footprint_sources(dep, engine=engine, cache_dir=cache_dir)
    client = check_client(sources, client_id)
    problem = client.problem()
    if problem and not allow_unknown:
        raise UnknownClient(problem + " (--allow-unknown-client to look anyway)")
    held = held_log_days(sources, systems)
    start, end, notes = asked_period(held, start, end, today or nz_today())
    frame = _client_footprint(sources, client_id, start, end, systems=systems, with_names=with_names)
    meta = footprint_meta(sources, client, start, end, held, systems=systems, notes=notes)
    return FootprintAnswer(frame, meta)


def _csv_text(frame: pl.DataFrame, preamble: Sequence[str] = ()) -> str:
    """CSV after ``#`` lines (one cell each: their commas become semicolons, so that a spreadsheet shows each
    line whole and a reader with ``comment_prefix="#"`` skips them)."""
    buffer = io.StringIO()
    for line in preamble:
        buffer.write("# " + " ".join(line.replace(",", ";").split()) + "\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(frame.columns)
    for r in frame.to_dicts():
        writer.writerow([("yes" if v else "no") if isinstance(v, bool) else safe_cell("" if v is None else v)
                         for v in r.values()])
    return buffer.getvalue()


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
        preamble = ([f"accesswatch footprint of client {meta.client.client_id}", *meta.lines()]
                    if meta is not None else [])
        text = _csv_text(frame, preamble)
    _emit(text, out)


def write_client_safe(answer: FootprintAnswer, out: Path | None, *, with_names: bool = False) -> pl.DataFrame:
    """The client-safe footprint: a printable HTML document for ``.html``/``.htm``, else CSV (stdout when
    ``out`` is None). No finding, case, event or user id and no rule: see ``client_safe_footprint``."""
    from accesswatch.footprint import client_safe_footprint

    safe = client_safe_footprint(answer.frame, with_names=with_names)
    statement = client_statement(answer.meta, safe.height)
    if out is not None and out.suffix.lower() in {".html", ".htm"}:
        _emit(client_safe_html(safe, answer.meta, statement), out)
    else:
        _emit(_csv_text(safe, statement), out)
    return safe


def _long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def client_statement(meta: FootprintMeta, accesses: int) -> list[str]:
    """What the client-safe footprint covers, in plain words (no internal ids)."""
    from accesswatch.footprint import SYSTEM_WORDS

    lines = [f"Accesses to the record of client {meta.client.client_id} from {_long_date(meta.start)} to "
             f"{_long_date(meta.end)} (New Zealand dates): {accesses}."]
    for c in meta.coverage:
        name = SYSTEM_WORDS.get(c.system, c.system)
        if c.logs_from is None or c.logs_to is None:
            lines.append(f"We hold no records of access to the {name} ({c.system}): it is not covered.")
            continue
        line = (f"Our records of access to the {name} ({c.system}) run from {_long_date(c.logs_from)} to "
                f"{_long_date(c.logs_to)}.")
        if c.gaps:
            line += (" We hold no records of it for " + "; ".join(
                _long_date(g.start) if g.start == g.end else f"{_long_date(g.start)} to {_long_date(g.end)}"
                for g in c.gaps) + ". Accesses on those days cannot be listed.")
        lines.append(line)
    if not meta.client.known:
        lines.append(f"Note: {meta.client.client_id} is not a client number in our current records.")
    return lines


def client_safe_html(safe: pl.DataFrame, meta: FootprintMeta, statement: Sequence[str]) -> str:
    """A self-contained, printable HTML page (every value escaped, no scripts, no external resources)."""
    labels = {"date": "Date", "time": "Time", "time_zone": "Time zone", "system": "System",
              "staff_role": "Staff role", "staff_team": "Team", "staff_name": "Staff member",
              "what_happened": "What was done"}
    e = html.escape
    head = "".join(f"<th>{e(labels.get(c, c))}</th>" for c in safe.columns)
    body = "".join("<tr>" + "".join(f"<td>{e('' if v is None else str(v))}</td>" for v in row) + "</tr>\n"
                   for row in safe.iter_rows())
    if not safe.height:
        body = f'<tr><td colspan="{len(safe.columns)}">No accesses were recorded in this period.</td></tr>\n'
    paragraphs = "".join(f"<p>{e(line)}</p>\n" for line in statement)
    title = f"Who accessed your record: client {meta.client.client_id}"
    return ("<!DOCTYPE html>\n<html lang=\"en-NZ\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title>\n<style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse;width:100%}th,td{border:1px solid #888;padding:4px 6px;"
            "text-align:left;font-size:10pt}th{background:#eee}tr{page-break-inside:avoid}"
            "@media print{body{margin:0}}</style></head>\n<body>\n"
            f"<h1>{e(title)}</h1>\n{paragraphs}<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}"
            "</tbody></table>\n<p>Times are New Zealand time (Pacific/Auckland). Staff are shown by role and "
            "team.</p>\n</body></html>\n")
