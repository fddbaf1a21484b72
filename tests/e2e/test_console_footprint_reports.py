"""The privacy officer's pages on the embedded runtime: a client's footprint (as ``accesswatch footprint``
answers it, audited and recorded as an access to the client's record) with its CSV downloads, and the
quarterly tables with their charts and files; other roles are refused every one of them."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from support.console import ConsoleBrowser, world_runtime

from accesswatch.dal.audit import AuditStore
from accesswatch.dal.partitions import PartitionStore
from accesswatch.quarters import nz_today

pytestmark = pytest.mark.e2e
QUARTER = "2025-04-01_2025-06-30"  # the small world's logs start 31 March 2025: both quarters have some


@pytest.fixture(scope="module")
def runtime(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with world_runtime(small_world, tmp_path_factory.mktemp("console-fr")) as aws:
        yield aws


@pytest.fixture(scope="module")
def events(runtime: Any) -> pl.DataFrame:
    store = PartitionStore(runtime.client("s3"), runtime.resource_name("CuratedBucket"))
    return store.read(store.list(date(2000, 1, 1), date(2100, 1, 1)), ["system", "event_id", "client_id"])


@pytest.fixture(scope="module")
def officer(runtime: Any) -> ConsoleBrowser:
    return ConsoleBrowser(runtime, "privacy_officer", "u-privacy")


def _busiest(events: pl.DataFrame) -> str:
    return str(Counter(events["client_id"].to_list()).most_common(1)[0][0])


class _Tables(HTMLParser):
    """The text of every cell of the tables on a page, by table id: [[cell, ...] per row]."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables_of(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))


# ----------------------------------------------------------------------------------------------- roles
@pytest.mark.parametrize("role", ["investigator", "er_adviser"])
def test_other_roles_are_refused_the_pages_and_the_downloads(runtime: Any, events: pl.DataFrame, role: str) -> None:
    browser = ConsoleBrowser(runtime, role, f"u-{role}")
    client = _busiest(events)
    for path in (f"/footprint?client_id={client}", f"/footprint.csv?client_id={client}",
                 f"/footprint-client-safe.csv?client_id={client}", f"/footprint-client-safe.html?client_id={client}",
                 "/reports", f"/reports?period={QUARTER}", f"/reports/{QUARTER}/report.xlsx",
                 f"/reports/{QUARTER}/table1_investigations.csv", f"/reports/{QUARTER}/charts/table1_investigations.svg"):
        answer = browser.get(path)
        assert answer.status_code == 403, (role, path, answer.status_code)
        assert "text/csv" not in answer.headers["Content-Type"]
    nav = browser.get("/queue").get_data(as_text=True)
    assert 'href="/footprint"' not in nav and 'href="/reports"' not in nav


# ----------------------------------------------------------------------------------------------- footprint
def test_the_form_renders_for_the_privacy_officer(officer: ConsoleBrowser) -> None:
    page = officer.get("/footprint")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="footprint-form"' in html and '<label for="client_id">' in html
    assert 'id="footprint-table"' not in html and 'id="footprint-error"' not in html
    assert 'href="/footprint" aria-current="page"' in html


def test_a_footprint_lists_every_access_with_its_coverage_audited_and_recorded(
        runtime: Any, officer: ConsoleBrowser, events: pl.DataFrame) -> None:
    client = _busiest(events)
    expected = events.filter(pl.col("client_id") == client).unique(subset=["system", "event_id"])
    page = officer.get("/footprint", query_string={"client_id": client, "from": "2025-03-01", "to": "2025-04-30"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    rows = tables_of(html)["footprint-table"]
    assert len(rows) - 1 == expected.height  # a header row, then one row per access
    assert {r[2] for r in rows[1:]} == set(expected["event_id"].to_list())
    coverage = html.split('id="footprint-coverage"', 1)[1].split("</ul>", 1)[0]
    assert "period asked for: 2025-03-01 to 2025-04-30 (New Zealand dates)" in coverage
    assert "logs held from 2025-03-31" in coverage
    assert page.headers["Cache-Control"] == "no-store"
    # audited before it was shown, as the CLI audits it
    today = nz_today()
    records = list(AuditStore(runtime.resource_name("AuditTable"), runtime.resource("dynamodb")).between(
        today - timedelta(days=1), today + timedelta(days=1), action="footprint"))
    mine = [r for r in records if r["subject"].get("client_id") == client and r.get("source") == "console"]
    assert mine and mine[-1]["result"]["accesses"] == expected.height
    # and the officer's look is an access to the client's record, by the system accesswatch
    s3 = runtime.client("s3")
    raw = runtime.resource_name("RawBucket")
    keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=raw, Prefix="access-logs/accesswatch/")
            for o in p.get("Contents", [])]
    logged = [json.loads(line) for key in keys
              for line in s3.get_object(Bucket=raw, Key=key)["Body"].read().decode().splitlines()]
    assert any(e["client_id"] == client and e["user_id"] == "u-privacy" and e["screen"] == "console_footprint"
               for e in logged), logged[:3]


def test_an_unknown_or_zero_stripped_id_gets_suggestions_and_no_table(
        officer: ConsoleBrowser, small_world: Path) -> None:
    clients = pl.read_csv(small_world / "reference" / "clients.csv.gz", infer_schema=False)["client_id"].to_list()
    real = next(c for c in sorted(clients) if c.startswith("0") and not c.startswith("00"))
    stripped = real.lstrip("0")
    assert stripped not in clients
    page = officer.get("/footprint", query_string={"client_id": stripped})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert 'id="footprint-table"' not in html and "footprint-none" not in html
    assert f"client &#39;{stripped}&#39; is not in the current clients reference snapshot" in html
    suggestions = html.split('id="footprint-suggestions"', 1)[1].split("</ul>", 1)[0]
    assert f">{real}</a>" in suggestions
    download = officer.get("/footprint.csv", query_string={"client_id": stripped})
    assert download.status_code == 400 and "text/csv" not in download.headers["Content-Type"]
    nobody = officer.get("/footprint", query_string={"client_id": "no-such-client"})
    assert nobody.status_code == 400 and 'id="footprint-table"' not in nobody.get_data(as_text=True)


def test_period_errors_are_400_with_the_message(officer: ConsoleBrowser, events: pl.DataFrame) -> None:
    client = _busiest(events)
    backwards = officer.get("/footprint", query_string={"client_id": client, "from": "2025-04-02", "to": "2025-04-01"})
    assert backwards.status_code == 400
    assert "to 2025-04-01 is before from 2025-04-02" in backwards.get_data(as_text=True)
    garbled = officer.get("/footprint", query_string={"client_id": client, "from": "31/03/2025"})
    assert garbled.status_code == 400 and "not a date (YYYY-MM-DD)" in garbled.get_data(as_text=True)
    # a missing --from after the logs' last day: the period would end before it starts
    future = officer.get("/footprint.csv", query_string={"client_id": client, "from": "2099-01-01"})
    assert future.status_code == 400 and "before it starts" in future.get_data(as_text=True)
    clipped = officer.get("/footprint", query_string={"client_id": client, "from": "2025-03-31", "to": "2099-12-31"})
    assert clipped.status_code == 200
    assert "is after today" in clipped.get_data(as_text=True)


def test_the_downloads_are_csv_attachments_the_client_safe_one_without_ids(
        officer: ConsoleBrowser, events: pl.DataFrame) -> None:
    client = _busiest(events)
    expected = events.filter(pl.col("client_id") == client).unique(subset=["system", "event_id"]).height
    params = {"client_id": client, "from": "2025-03-01", "to": "2025-04-30"}
    internal = officer.get("/footprint.csv", query_string=params)
    assert internal.status_code == 200
    assert internal.headers["Content-Type"].startswith("text/csv")
    assert internal.headers["Content-Disposition"] == f'attachment; filename="footprint_{client}_2025-03-01_2025-04-30.csv"'
    text = internal.get_data(as_text=True)
    assert text.startswith(f"# accesswatch footprint of client {client}\n")
    rows = _csv_rows(text)
    assert len(rows) == expected and {"event_id", "user_id", "findings"} <= set(rows[0])
    safe = officer.get("/footprint-client-safe.csv", query_string=params)
    assert safe.status_code == 200 and safe.headers["Content-Type"].startswith("text/csv")
    safe_rows = _csv_rows(safe.get_data(as_text=True))
    assert len(safe_rows) == expected
    assert set(safe_rows[0]) == {"date", "time", "time_zone", "system", "staff_role", "staff_team", "what_happened"}
    printable = officer.get("/footprint-client-safe.html", query_string=params)
    assert printable.status_code == 200 and "<script" not in printable.get_data(as_text=True)
    assert printable.headers["Content-Disposition"].startswith("attachment;")


# ----------------------------------------------------------------------------------------------- reports
def test_the_reports_page_offers_periods_before_any_release(officer: ConsoleBrowser) -> None:
    page = officer.get("/reports")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<label for="period">' in html and f'<option value="{QUARTER}">' in html
    assert 'id="reports-none"' in html and 'id="report-table1_investigations"' not in html


def _display(value: str) -> str:
    """A CSV value as the page prints it."""
    if re.fullmatch(r"-?\d+", value):
        return f"{int(value):,}"
    if re.fullmatch(r"-?\d+\.\d+", value):
        return f"{float(value):.1%}"
    return value


def test_the_tables_match_the_files_withheld_counts_and_all(officer: ConsoleBrowser) -> None:
    page = officer.get("/reports", query_string={"period": QUARTER})
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "Produced now for 1 April 2025 to 30 June 2025" in html
    tables = tables_of(html)
    assert {"report-table1_investigations", "report-instances_by_rule"} <= set(tables)
    files = officer.get(f"/reports/{QUARTER}/table1_investigations.csv")
    assert files.status_code == 200 and files.headers["Content-Type"].startswith("text/csv")
    shown = tables["report-table1_investigations"]
    written = list(csv.reader(io.StringIO(files.get_data(as_text=True))))
    header, body = written[0], written[1:]
    assert len(shown) == len(written)
    width = len(header) - (1 if header[-1] == "coverage" else 0)
    for on_page, in_file in zip(shown[1:], body, strict=True):
        assert on_page[1:width] == [_display(v) for v in in_file[1:width]], (on_page, in_file)
    assert '<img src="data:image/svg+xml;base64,' in html  # the charts, as data URIs (the CSP allows no more)
    assert "<svg" not in html
    links = re.findall(r'href="/reports/' + QUARTER + r'/([^"]+)"', html)
    assert links[0] == "report.xlsx" and "table1_investigations.csv" in links
    workbook = officer.get(f"/reports/{QUARTER}/report.xlsx")
    assert workbook.status_code == 200 and workbook.get_data()[:2] == b"PK"
    assert workbook.headers["Content-Disposition"].startswith("attachment;")


def test_a_published_release_is_read_from_the_bucket_and_only_its_files_are_served(
        runtime: Any, officer: ConsoleBrowser) -> None:
    from accesswatch.dal.objects import ObjectStore
    from accesswatch.quarters import Period
    from accesswatch.services.report import produce, publish
    from accesswatch_tools.operate.report import report_sources

    period = Period(date(2025, 1, 1), date(2025, 3, 31))
    sources = report_sources(runtime)
    report = produce(sources, period, threshold=3)
    keys = publish(report, ObjectStore(runtime.client("s3")), runtime.resource_name("CuratedBucket"))
    key = "2025-01-01_2025-03-31"
    page = officer.get("/reports")  # the newest release is the default
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "The release published for" in html
    assert f'<option value="{key}" selected>' in html
    assert "small-count threshold 3," in " ".join(html.split())
    published = next(k for k in keys if k.endswith("/report.json"))
    body = runtime.client("s3").get_object(Bucket=runtime.resource_name("CuratedBucket"), Key=published)["Body"].read()
    assert officer.get(f"/reports/{key}/report.json").get_data() == body
    assert officer.get(f"/reports/{key}/charts/table1_investigations.svg").status_code == 200
    for bad in (f"/reports/{key}/nothing.csv", f"/reports/{key}/..%2Freport.json", f"/reports/{key}/report.txt"):
        assert officer.get(bad).status_code == 404, bad
    assert officer.get("/reports/last-quarter/report.xlsx").status_code == 400
    assert officer.get("/reports", query_string={"period": "2099-01-01_2099-03-31"}).status_code == 400
    assert officer.get("/reports", query_string={"quarter": "2025-03-30"}).status_code == 400
