"""A release as files: one CSV per table, the long-form instances CSV, JSON, and an XLSX workbook.

``render_files`` returns ``{file name: bytes}`` (charts also as ``charts/<table>.svg``) so the CLI writes them to ``OUT/reports/`` and the
report function to the curated bucket, the same bytes either way. Every text cell passes through
``safe_text`` (no cell can start a formula). The workbook has an About sheet, then one sheet per
table laid out as an OIA release: title, period, the table with its totals, a native chart, notes,
and the s9(2)(a) footnote. Table 9's flag column (a rule recommended for demotion to staging) is
"yes", "no" or the withheld marker in every format, and a "yes" is highlighted in the workbook.

Coverage: every per-quarter table ends with a ``coverage`` column (CSV, workbook; ``coverage`` on each
JSON row) saying what the row's figures cover; a count in a quarter without logs is "no data" (JSON:
null), and ``coverage.csv`` and the JSON's ``coverage`` block give the days with logs per system and
quarter. Rules are headed by the names people read, their ids in a cell comment (workbook) and as
the column key (CSV, JSON).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Final

from accesswatch.quarters import quarter_label
from accesswatch.reports.build import FLAGGED
from accesswatch.reports.coverage import NO_DATA, ranges_text
from accesswatch.reports.model import WITHHELD, Report
from accesswatch.reports.safe import safe_cell, safe_text
from accesswatch.reports.svg import chart_svg
from accesswatch.reports.tables import Table

TITLE: Final = "Access to client records: governance and Official Information Act tables"
XLSX_NAME: Final = "report.xlsx"
JSON_NAME: Final = "report.json"
INSTANCES_NAME: Final = "instances_by_quarter.csv"
COVERAGE_NAME: Final = "coverage.csv"
COVERAGE_COLUMN: Final = "coverage"


def machine_value(value: int | float | str | None) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    return "" if value is None else value


def json_value(value: int | float | str | None) -> Any:
    """A published value in JSON: "no data" is null (the release's ``coverage`` block says why)."""
    return None if value == NO_DATA else machine_value(value)


def table_csv(report: Report, table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = [COVERAGE_COLUMN] if table.has_coverage else []
    writer.writerow([safe_text(table.row_key), *(safe_text(c.key) for c in table.columns), *extra])
    for row in table.rows:
        tail = [safe_text(row.coverage or "")] if table.has_coverage else []
        writer.writerow([safe_cell(row.key), *(safe_cell(machine_value(report.published(c))) for c in row.cells),
                         *tail])
    return buffer.getvalue().encode("utf-8")


def coverage_csv(report: Report) -> bytes:
    """quarter_ending, system, status, from, to, days, days_with_logs, logs: the days with logs per quarter
    and system ("all" first: any system), and the whole period (quarter_ending "period")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["quarter_ending", "system", "status", "from", "to", "days", "days_with_logs", "logs",
                     "unfinished"])
    coverage = report.coverage
    if coverage is not None:
        spans = [(q.isoformat(), coverage.quarter(q, report.period)) for q in report.period.quarters]
        for key, span in [*spans, ("period", coverage.whole(report.period))]:
            document = span.as_json()
            writer.writerow([key, "all", document["status"], document["from"], document["to"], document["days"],
                             document["days_with_logs"], ranges_text(span.covered(), limit=1000),
                             "yes" if span.unfinished else "no"])
            for system, facts in document["systems"].items():
                logs = ranges_text(span.logs.get(system, frozenset()), limit=1000)
                writer.writerow([key, safe_text(system), facts["status"], document["from"], document["to"],
                                 document["days"], facts["days_with_logs"], logs,
                                 "yes" if span.unfinished else "no"])
    return buffer.getvalue().encode("utf-8")


def instances_csv(report: Report) -> bytes:
    """quarter_ending, rule, count: Table 5 in long form (withheld counts show the marker)."""
    table = report.table("instances_by_rule")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["quarter_ending", "rule", "count"])
    for row in table.rows:
        if row.total:
            continue
        for column, cell in zip(table.columns, row.cells, strict=True):
            if column.kind == "count":
                writer.writerow([row.key, safe_text(column.key), machine_value(report.published(cell))])
    return buffer.getvalue().encode("utf-8")


def report_json(report: Report) -> dict[str, Any]:
    return {
        "title": TITLE,
        "period": {"from": report.period.start.isoformat(), "to": report.period.end.isoformat(),
                   "quarters": [q.isoformat() for q in report.period.quarters]},
        "generated_at": report.generated_at.isoformat(),
        "small_count_threshold": report.threshold,
        "withheld_marker": WITHHELD,
        "withheld_cells": report.withheld_cells(),
        "no_data_cells": report.no_data_cells(),
        "footnote": report.footnote,
        "notes": report.notes,
        "systems": list(report.systems),
        "coverage": None if report.coverage is None else report.coverage.as_json(report.period),
        "tables": [
            {
                "id": t.id, "number": t.number, "title": t.title,
                "row_key": t.row_key,
                "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in t.columns],
                "rows": [
                    {"key": r.key, "label": r.label, "total": r.total,
                     "values": {c.key: json_value(report.published(cell))
                                for c, cell in zip(t.columns, r.cells, strict=True)},
                     **({"coverage": r.coverage} if t.has_coverage else {})}
                    for r in t.rows
                ],
                "notes": list(t.notes),
            }
            for t in report.tables
        ],
    }


def render_files(report: Report) -> dict[str, bytes]:
    files = {f"{t.id}.csv": table_csv(report, t) for t in report.tables}
    files[INSTANCES_NAME] = instances_csv(report)
    if report.coverage is not None:
        files[COVERAGE_NAME] = coverage_csv(report)
    files[JSON_NAME] = (json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    files[XLSX_NAME] = workbook_bytes(report)
    for table in report.tables:
        if table.chart is not None:
            files[f"charts/{table.id}.svg"] = chart_svg(report, table).encode("utf-8")
    return files


# ---------------------------------------------------------------------- the workbook
def workbook_bytes(report: Report) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    about = wb.active
    assert about is not None
    about.title = "About"
    _about_sheet(report, about)
    for table in report.tables:
        _table_sheet(report, table, wb.create_sheet(table.sheet_name))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _about_sheet(report: Report, ws: Any) -> None:
    from openpyxl.styles import Font

    ws["A1"] = safe_text(TITLE)
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = safe_text(f"Period: {report.period.label} (New Zealand time)")
    ws["A3"] = safe_text(f"Produced {report.generated_at:%d %B %Y %H:%M} UTC by accesswatch")
    row = 5
    ws.cell(row, 1, "Contents").font = Font(bold=True)
    for table in report.tables:
        row += 1
        ws.cell(row, 1, safe_text(f"{table.sheet_name}: {table.title}"))
    if report.coverage is not None:
        row += 2
        ws.cell(row, 1, "Access logs behind the figures").font = Font(bold=True)
        for q in report.period.quarters:
            row += 1
            span = report.coverage.quarter(q, report.period)
            ws.cell(row, 1, safe_text(f"Quarter ending {quarter_label(q)}: {span.text()}"))
    row += 2
    ws.cell(row, 1, "Notes").font = Font(bold=True)
    for note in [*report.notes, "Quarters are New Zealand quarters, labelled by their last day.", report.footnote]:
        row += 1
        ws.cell(row, 1, safe_text(note))
    ws.column_dimensions["A"].width = 110


def _table_sheet(report: Report, table: Table, ws: Any) -> None:
    from openpyxl.chart import BarChart, Reference
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    ws["A1"] = safe_text(f"Table {table.number}: {table.title}")
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = safe_text(f"Period: {report.period.label}")
    header_row = 4
    header_fill = PatternFill("solid", fgColor="DDE4EE")
    flag_fill = PatternFill("solid", fgColor="FFC7CE")  # a rule flagged for demotion stands out
    ws.cell(header_row, 1, safe_text(table.row_label))
    for j, column in enumerate(table.columns, start=2):
        heading = ws.cell(header_row, j, safe_text(column.label))
        if column.note:
            heading.comment = Comment(safe_text(column.note), "accesswatch", width=220, height=60)
    width = len(table.columns) + 1 + (1 if table.has_coverage else 0)
    if table.has_coverage:
        ws.cell(header_row, width, "Coverage (days with access logs)")
    for j in range(1, width + 1):
        cell = ws.cell(header_row, j)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="left" if j == 1 else "right")
    data_rows = []
    top = Border(top=Side(style="thin"))
    r = header_row
    for row in table.rows:
        r += 1
        if not row.total:
            data_rows.append(r)
        label = ws.cell(r, 1, safe_text(row.label))
        if row.note:
            label.comment = Comment(safe_text(row.note), "accesswatch", width=220, height=60)
        if table.has_coverage:
            ws.cell(r, width, safe_text(row.coverage or "")).alignment = Alignment(horizontal="left")
        for j, (column, cell) in enumerate(zip(table.columns, row.cells, strict=True), start=2):
            value = report.published(cell)
            target = ws.cell(r, j, safe_cell(value))
            target.alignment = Alignment(horizontal="right")
            if value == NO_DATA:
                target.font = Font(italic=True, color="7F7F7F")
                continue
            if column.kind == "ratio" and isinstance(value, float):
                target.number_format = "0.0%"
            elif isinstance(value, int):
                target.number_format = "#,##0"
            if column.kind == "total" or row.total:
                target.font = Font(bold=True)
            if column.kind == "flag" and value == FLAGGED:
                target.font = Font(bold=True, color="9C0006")
                target.fill = flag_fill
        if row.total:
            for j in range(1, width + 1):
                ws.cell(r, j).border = top
                ws.cell(r, j).font = Font(bold=True)
    r += 2
    ws.cell(r, 1, "Notes").font = Font(bold=True)
    for note in [*table.notes, *report.notes]:
        r += 1
        ws.cell(r, 1, safe_text(note))
    r += 2
    ws.cell(r, 1, "Footnote").font = Font(bold=True)
    r += 1
    ws.cell(r, 1, safe_text(report.footnote))
    ws.column_dimensions["A"].width = 44
    for j in range(2, len(table.columns) + 2):
        ws.column_dimensions[get_column_letter(j)].width = 16
    if table.has_coverage:
        ws.column_dimensions[get_column_letter(width)].width = 60
    ws.row_dimensions[header_row].height = 45
    ws.freeze_panes = ws.cell(header_row + 1, 2)

    series = table.charted_series()
    if table.chart is None or not series or not data_rows:
        return
    chart = BarChart()
    chart.type = table.chart.kind
    chart.grouping = table.chart.grouping
    if table.chart.grouping == "stacked":
        chart.overlap = 100
    chart.title = f"Table {table.number}"
    chart.y_axis.title = table.chart.y_title
    chart.x_axis.title = table.row_label
    chart.height = 9
    chart.width = 18
    first, end = data_rows[0], data_rows[-1]
    for index in series:
        col = index + 2
        chart.add_data(Reference(ws, min_col=col, min_row=header_row, max_row=end), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=end))
    anchor_col = get_column_letter(width + 2)
    ws.add_chart(chart, f"{anchor_col}{header_row}")
