"""Console page: the quarterly governance and OIA tables (docs/reports.md), with their charts and files.

``GET /reports?period=<from>_<to>`` shows a release: the one published under ``reports/<from>_<to>/`` in the
curated bucket when there is one (the report function's, or ``accesswatch report --publish``), otherwise one
produced now with the same layer code (``services.report.produce``, the console's small-count threshold),
not published. Either way the page is drawn from the release's own ``report.json`` and ``charts/*.svg``, so
every figure, and every withheld count, is exactly what the files say. ``GET /reports/<period>/<file>``
downloads a file of that release, by its exact name only.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accesswatch.console.roles import Permission
from accesswatch.console.sources import ConsoleSources
from accesswatch.console.web import BadRequest, NotFound, allowed, download, page, query, sources
from accesswatch.quarters import Period, previous_quarter_end, quarter_end, quarter_label, quarter_start
from accesswatch.reports.render import JSON_NAME, XLSX_NAME

router = Router()
PERIOD: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})$")
QUARTERS_OFFERED: Final = 12
FILE_NAME: Final = re.compile(r"^(charts/)?[A-Za-z0-9_.-]{1,120}$")
CONTENT_TYPES: Final = {".csv": "text/csv; charset=utf-8", ".json": "application/json",
                        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        ".svg": "image/svg+xml"}
NO_DATA_SHOWN: Final = "no data"


DOCUMENT_DEFAULTS: dict[str, Any] = {"small_count_threshold": "", "withheld_cells": 0, "no_data_cells": 0,
                                     "generated_at": "", "notes": [], "footnote": "", "tables": []}
FIRST_YEAR, LAST_YEAR = 2000, 2100


def document_view(document: Mapping[str, Any]) -> dict[str, Any]:
    """A release's ``report.json`` with every field the page reads (blank where an older release lacks one)."""
    return {**DOCUMENT_DEFAULTS, **document}  # beyond these, New Zealand date arithmetic overflows; no log is there


def period_key(period: Period) -> str:
    return f"{period.start.isoformat()}_{period.end.isoformat()}"


def parse_period(text: str) -> Period:
    """``<from>_<to>`` (NZ dates, as the release's folder is named); BadRequest otherwise."""
    found = PERIOD.match(text)
    if not found:
        raise BadRequest("a period is <from>_<to>, two dates YYYY-MM-DD")
    try:
        period = Period(date.fromisoformat(found.group(1)), date.fromisoformat(found.group(2)))
    except ValueError as exc:
        raise BadRequest(f"period {text[:30]}: {exc}") from None
    if not (FIRST_YEAR <= period.start.year and period.end.year <= LAST_YEAR):
        raise BadRequest(f"a period lies between {FIRST_YEAR} and {LAST_YEAR}")
    return period


def quarter_period(end: date) -> Period:
    return Period(quarter_start(end), end)


def asked_period_key(period_text: str, quarter_text: str) -> str:
    """The period asked for as ``<from>_<to>``: ``period`` itself, or the quarter ending ``quarter``."""
    if period_text or not quarter_text:
        return period_text
    try:
        end = date.fromisoformat(quarter_text)
    except ValueError:
        raise BadRequest("a quarter is named by its last day, YYYY-MM-DD") from None
    if not FIRST_YEAR <= end.year <= LAST_YEAR:
        raise BadRequest(f"a quarter lies between {FIRST_YEAR} and {LAST_YEAR}")
    if quarter_end(end) != end:
        raise BadRequest(f"{end} is not the last day of a quarter")
    return period_key(quarter_period(end))


@dataclass
class Release:
    """The files of one release: published in the bucket, or produced now (in memory)."""

    key: str  # the period as asked (the URL's <period>)
    period: Period  # what the release covers (clipped to today if asked beyond it)
    published: bool
    names: list[str]
    reader: Callable[[str], bytes]

    def read(self, name: str) -> bytes:
        if name not in self.names:
            raise NotFound(f"the release {self.key} has no file {name[:120]!r}")
        return self.reader(name)

    def document(self) -> dict[str, Any]:
        value = json.loads(self.read(JSON_NAME))
        assert isinstance(value, dict)  # noqa: S101 - report.json is one object (render.report_json)
        return value

    def chart(self, table_id: str) -> bytes | None:
        name = f"charts/{table_id}.svg"
        return self.read(name) if name in self.names else None


def report_sources(src: ConsoleSources) -> Any:
    from accesswatch.dal.partitions import PartitionStore
    from accesswatch.dal.reporting import FindingQueries
    from accesswatch.services.report import ReportSources

    settings = src.settings
    return ReportSources(cases=src.cases, findings=FindingQueries(settings.findings_table, src.dynamodb),
                         partitions=PartitionStore(src.client("s3"), settings.curated_bucket), ledger=src.ledger,
                         store=src.store, curated_bucket=settings.curated_bucket)


def published_names(src: ConsoleSources, period: Period) -> list[str]:
    """The files of the release published for ``period`` (names relative to its folder), [] if none."""
    from accesswatch.services.report import report_prefix

    prefix = report_prefix(period)
    s3 = src.client("s3")
    names = []
    for listed in s3.get_paginator("list_objects_v2").paginate(Bucket=src.settings.curated_bucket, Prefix=prefix):
        names += [item["Key"][len(prefix):] for item in listed.get("Contents", [])]
    return sorted(names) if JSON_NAME in names else []


def published_periods(src: ConsoleSources) -> list[str]:
    """The periods (``<from>_<to>``) with a release in the curated bucket, newest first."""
    from accesswatch.services.report import REPORTS_PREFIX

    found = []
    s3 = src.client("s3")
    for listed in s3.get_paginator("list_objects_v2").paginate(Bucket=src.settings.curated_bucket,
                                                               Prefix=REPORTS_PREFIX, Delimiter="/"):
        for prefix in listed.get("CommonPrefixes", []):
            name = prefix["Prefix"][len(REPORTS_PREFIX):].rstrip("/")
            if PERIOD.match(name):
                found.append(name)
    return sorted(found, key=lambda k: (k[11:], k[:10]), reverse=True)


def _reader(store: Any, bucket: str, prefix: str) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        data = store.get_bytes(bucket, prefix + name)
        assert isinstance(data, bytes)  # noqa: S101 - ObjectStore.get_bytes
        return data
    return read


def load_release(src: ConsoleSources, period: Period, *, today: date | None = None) -> Release:
    """The release for ``period``: published (under the period asked, or the period clipped to today) or
    else produced now; BadRequest for a period that starts after today."""
    from accesswatch.quarters import nz_today
    from accesswatch.reports.coverage import clip_to_today
    from accesswatch.reports.render import render_files
    from accesswatch.services.report import produce, report_prefix

    try:
        clipped, _ = clip_to_today(period, today or nz_today())
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    store = src.store
    bucket = src.settings.curated_bucket
    for candidate in dict.fromkeys([period, clipped]):
        names = published_names(src, candidate)
        if names:
            return Release(period_key(period), candidate, True, names,
                           _reader(store, bucket, report_prefix(candidate)))
    try:
        report = produce(report_sources(src), period, threshold=src.settings.small_count_threshold)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    files = render_files(report)
    return Release(period_key(period), report.period, False, sorted(files), files.__getitem__)


def shown_value(value: Any, kind: str) -> tuple[str, str]:
    """A published value as the page prints it, and its cell class: a count with thousands separators, a
    ratio as a percentage, the withheld marker, "no data" (JSON null), or blank."""
    if value is None:
        return NO_DATA_SHOWN, "nodata"
    if value == "S":
        return "S", "withheld"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value), "text"
    if kind == "ratio" and isinstance(value, int | float):
        return f"{value:.1%}", "num"
    if isinstance(value, int):
        return f"{value:,}", "num"
    if isinstance(value, float):
        return f"{value:,.4g}", "num"
    return str(value), "text"


def table_views(document: Mapping[str, Any], charts: Mapping[str, bytes | None]) -> list[dict[str, Any]]:
    """Each table of ``report.json`` as the page draws it, with its chart as a data URI (an <img>: no inline
    SVG, nothing from the bucket marked safe)."""
    views = []
    for table in document.get("tables") or []:
        columns = list(table.get("columns") or [])
        has_coverage = any("coverage" in r for r in table.get("rows") or [])
        rows = []
        for row in table.get("rows") or []:
            values = row.get("values") or {}
            cells = [dict(zip(("text", "kind"), shown_value(values.get(c["key"]), str(c.get("kind"))), strict=True))
                     for c in columns]
            rows.append({"label": row.get("label", ""), "total": bool(row.get("total")), "cells": cells,
                         "coverage": row.get("coverage") or ""})
        chart = charts.get(str(table.get("id")))
        views.append({"id": str(table.get("id")), "number": table.get("number"), "title": table.get("title", ""),
                      "row_label": str(table.get("row_key", "")).replace("_", " ").capitalize(), "columns": columns, "rows": rows,
                      "has_coverage": has_coverage, "notes": list(table.get("notes") or []),
                      "chart": ("data:image/svg+xml;base64," + base64.b64encode(chart).decode()) if chart else ""})
    return views


def download_order(names: list[str]) -> list[str]:
    """The workbook first, then the CSVs, then the JSON (charts are on the page)."""
    def rank(name: str) -> tuple[int, str]:
        return ({XLSX_NAME: 0, JSON_NAME: 3}.get(name, 1 if name.endswith(".csv") else 4), name)
    return [n for n in sorted(names, key=rank) if not n.startswith("charts/")]


def offered_periods(published: list[str], today: date) -> list[dict[str, str]]:
    """The periods the form offers: every published release, then the last quarters (newest first)."""
    options = [{"key": key, "label": f"{key.replace('_', ' to ')} (published)"} for key in published]
    end = quarter_end(today)
    for _ in range(QUARTERS_OFFERED):
        key = period_key(quarter_period(end))
        if key not in published:
            label = f"quarter ending {quarter_label(end)}" + (" (so far)" if end > today else "")
            options.append({"key": key, "label": label})
        end = previous_quarter_end(end)
    return options


@router.get("/reports")
def reports() -> Response:
    allowed(router, Permission.REPORTS)
    from accesswatch.quarters import nz_today

    src = sources(router)
    today = nz_today()
    published = published_periods(src)
    asked = asked_period_key(query(router, "period"), query(router, "quarter")) or (published[0] if published else "")
    values: dict[str, Any] = {"asked": asked, "options": offered_periods(published, today), "release": None,
                              "document": {}, "tables": [], "downloads": [], "coverage": []}
    if not asked:
        return page(router, "reports.html", title="Reports", active="/reports", **values)
    release = load_release(src, parse_period(asked), today=today)
    # A release published by an earlier version may lack a later field: shown blank, never a 500.
    document = document_view(release.document())
    tables = table_views(document, {str(t.get("id")): release.chart(str(t.get("id")))
                                    for t in document.get("tables") or []})
    values.update(release=release, document=document, tables=tables, downloads=download_order(release.names),
                  coverage=_coverage_lines(document))
    return page(router, "reports.html", title=f"Reports: {release.period.label}", active="/reports", **values)


def _coverage_lines(document: Mapping[str, Any]) -> list[str]:
    """What the figures of tables 4 to 8 cover, a line per quarter (as ``accesswatch report`` prints it)."""
    coverage = document.get("coverage") or {}
    lines = [str(coverage["message"])] if coverage.get("message") else []
    for quarter in coverage.get("quarters") or []:
        if isinstance(quarter, Mapping) and quarter.get("text"):
            lines.append(f"quarter ending {quarter.get('label', '')}: {quarter['text']}")
    return lines


def _file(period: str, name: str) -> Response:
    allowed(router, Permission.REPORTS)
    if not FILE_NAME.match(name) or ".." in name:
        raise NotFound("no such file")
    suffix = name[name.rfind("."):].lower()
    if suffix not in CONTENT_TYPES:
        raise NotFound("no such file")
    release = load_release(sources(router), parse_period(period))
    data = release.read(name)
    filename = f"report_{release.key}_{name.replace('/', '_')}"
    # text as text: powertools serialises a bytes body of application/json as JSON; the workbook as bytes
    body: str | bytes = data if suffix == ".xlsx" else data.decode("utf-8")
    return download(body, filename=filename, content_type=CONTENT_TYPES[suffix])


@router.get("/reports/<period>/<name>")
def report_file(period: str, name: str) -> Response:
    return _file(period, name)


@router.get("/reports/<period>/charts/<name>")
def report_chart(period: str, name: str) -> Response:
    return _file(period, f"charts/{name}")
