"""A table's chart as a small standalone SVG (for documents and web pages; the workbook has native charts).

Column charts, clustered or stacked, of the published counts; withheld counts are drawn as nothing
(as in the workbook), and so are counts in quarters without logs ("no data"); the caption says so. No dependencies.
"""

from __future__ import annotations

from html import escape

from accesswatch.reports.coverage import NO_DATA
from accesswatch.reports.model import Report
from accesswatch.reports.tables import Table

PALETTE = ("#1f4e79", "#e07b39", "#5b9e4d", "#b84a62", "#7a5ea8", "#c9a227", "#3f9eae", "#8c8c8c", "#2d2d2d")


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least ``value`` (axis top)."""
    power = 1.0
    while power * 10 <= value:
        power *= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def chart_svg(report: Report, table: Table, width: int = 760, height: int = 380) -> str:
    series = table.charted_series()
    rows = [r for r in table.rows if not r.total]
    values = [[report.published(r.cells[i]) for i in series] for r in rows]
    numbers = [[v if isinstance(v, int | float) else 0 for v in row] for row in values]
    stacked = table.chart is not None and table.chart.grouping == "stacked"
    top = nice_ceiling(max([sum(row) if stacked else max(row, default=0) for row in numbers] + [1]))
    left, right, upper, lower = 60, 200, 40, 70
    plot_w, plot_h = width - left - right, height - upper - lower
    step = plot_w / max(len(rows), 1)
    bar_w = step * 0.7 / (1 if stacked else max(len(series), 1))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14" font-weight="bold">'
           f'{escape(f"Table {table.number}: {table.title}")}</text>']
    for k in range(5):
        value = top * k / 4
        y = upper + plot_h - plot_h * k / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,.4g}</text>')
    for i, (row, nums) in enumerate(zip(rows, numbers, strict=True)):
        x0 = left + i * step + step * 0.15
        base = 0.0
        for j, value in enumerate(nums):
            h = plot_h * value / top
            x = x0 if stacked else x0 + j * bar_w
            y = upper + plot_h - (base + h if stacked else h)
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                       f'fill="{PALETTE[j % len(PALETTE)]}"/>')
            if stacked:
                base += h
        out.append(f'<text x="{x0 + step * 0.35:.1f}" y="{upper + plot_h + 16}" text-anchor="middle">'
                   f'{escape(row.label)}</text>')
    for j, index in enumerate(series):
        y = upper + 14 * j
        out.append(f'<rect x="{left + plot_w + 14}" y="{y}" width="10" height="10" '
                   f'fill="{PALETTE[j % len(PALETTE)]}"/>')
        out.append(f'<text x="{left + plot_w + 30}" y="{y + 9}">{escape(table.columns[index].label)}</text>')
    withheld = any(v == "S" for row in values for v in row)
    caption = "Withheld counts (S, OIA s9(2)(a)) are not drawn." if withheld else ""
    if any(v == NO_DATA for row in values for v in row):
        caption += (" " if caption else "") + "Quarters without access logs (no data) are not drawn."
    out.append(f'<text x="{left}" y="{height - 18}" fill="#555">Period: {escape(report.period.label)}. '
               f'{caption}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
