"""Tables as a reader sees them, each number an edge of the release's ``Disclosure``.

``grid`` lays a rows x columns table (optional Total column, Total row, grand total) into the
network; tables that share numbers are declared together so they share edges:

- a *right* side: the table's columns, optionally grouped (rules within severities: the group
  table's cells are sums of the grouped columns, and both tables share the row totals);
- a *left* side: a second table over the same rows whose rows add up to the same totals
  (Table Two by ER case type and Table Three by outcome count the same completed cases).

A ``Table`` then names, for every position it shows, the edge (or the ratio of two edges) there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from accesswatch.reports.disclosure import Disclosure


@dataclass(frozen=True)
class Side:
    columns: Sequence[str]
    values: Mapping[tuple[str, str], int]  # (row, column) -> count; missing = 0
    groups: Mapping[str, Sequence[str]] | None = None  # group -> its columns (right side only)
    column_totals: bool = True
    group_column_totals: bool = True
    not_persons: frozenset[str] = frozenset()  # columns that count automated accounts only (not s9(2)(a))


@dataclass(frozen=True)
class GridIds:
    """Edge ids of a grid: ``cell[(row, col)]``, ``left[(row, col)]``, ``group[(row, g)]``, totals."""

    cell: dict[tuple[str, str], str]
    row_total: dict[str, str]
    column_total: dict[str, str]
    grand: str
    left: dict[tuple[str, str], str] = field(default_factory=dict)
    left_total: dict[str, str] = field(default_factory=dict)
    group: dict[tuple[str, str], str] = field(default_factory=dict)
    group_total: dict[str, str] = field(default_factory=dict)


def grid(d: Disclosure, name: str, rows: Sequence[str], right: Side, *, left: Side | None = None,
         row_totals: bool = True, grand: bool = True) -> GridIds:
    """Declare a table (or linked tables) over ``rows``; see the module docstring."""
    n = f"{name}:"

    def v(side: Side, row: str, col: str) -> int:
        return int(side.values.get((row, col), 0))

    ids = GridIds(cell={}, row_total={}, column_total={}, grand="")
    row_sum = {r: sum(v(right, r, c) for c in right.columns) for r in rows}
    if left is not None:
        for r in rows:
            left_sum = sum(v(left, r, c) for c in left.columns)
            if left_sum != row_sum[r]:
                raise ValueError(f"{name}: linked tables disagree on row {r} ({left_sum} != {row_sum[r]})")
    grand_value = sum(row_sum.values())
    for r in rows:
        tail = f"{n}in|{r}" if left is not None else f"{n}S"
        ids.row_total[r] = d.add(f"{n}R|{r}", tail, f"{n}out|{r}", row_sum[r], shown=row_totals)
    if right.groups is not None:
        grouped = [c for cols in right.groups.values() for c in cols]
        if sorted(grouped) != sorted(right.columns):
            raise ValueError(f"{name}: groups must partition the columns exactly once")
        for g, cols in right.groups.items():
            for r in rows:
                ids.group[(r, g)] = d.add(f"{n}Y|{r}|{g}", f"{n}out|{r}", f"{n}g|{r}|{g}",
                                          sum(v(right, r, c) for c in cols))
                for c in cols:
                    ids.cell[(r, c)] = d.add(f"{n}X|{r}|{c}", f"{n}g|{r}|{g}", f"{n}c|{c}", v(right, r, c))
            for c in cols:
                ids.column_total[c] = d.add(f"{n}C|{c}", f"{n}c|{c}", f"{n}gc|{g}",
                                            sum(v(right, r, c) for r in rows), shown=right.column_totals)
            ids.group_total[g] = d.add(f"{n}CG|{g}", f"{n}gc|{g}", f"{n}T",
                                       sum(v(right, r, c) for r in rows for c in cols),
                                       shown=right.group_column_totals)
    else:
        for c in right.columns:
            persons = c not in right.not_persons
            for r in rows:
                ids.cell[(r, c)] = d.add(f"{n}X|{r}|{c}", f"{n}out|{r}", f"{n}c|{c}", v(right, r, c),
                                         persons=persons)
            ids.column_total[c] = d.add(f"{n}C|{c}", f"{n}c|{c}", f"{n}T", sum(v(right, r, c) for r in rows),
                                        shown=right.column_totals, persons=persons)
    grand_id = d.add(f"{n}G", f"{n}T", f"{n}S", grand_value, shown=grand)
    ids = GridIds(ids.cell, ids.row_total, ids.column_total, grand_id, group=ids.group, group_total=ids.group_total)
    if left is not None:
        for c in left.columns:
            ids.left_total[c] = d.add(f"{n}LC|{c}", f"{n}S", f"{n}b|{c}", sum(v(left, r, c) for r in rows),
                                      shown=left.column_totals)
            for r in rows:
                ids.left[(r, c)] = d.add(f"{n}LX|{r}|{c}", f"{n}b|{c}", f"{n}in|{r}", v(left, r, c))
    return ids


# ---------------------------------------------------------------------- what a reader sees
@dataclass(frozen=True)
class Cell:
    edge: str | None = None  # a count
    ratio: tuple[str, str] | None = None  # (numerator edge, denominator edge): a percentage
    text: str | None = None
    depends: tuple[str, ...] = ()  # edges the text follows from: withheld with any of them
    no_data: bool = False  # a count (zero) in a quarter without logs: shown as "no data", not 0


@dataclass(frozen=True)
class Column:
    key: str  # machine name (CSV header)
    label: str  # what the release prints
    kind: Literal["count", "total", "ratio", "flag"] = "count"  # flag: a yes/no text that follows from counts
    note: str | None = None  # a note on the heading (the workbook's cell comment): a rule's id


@dataclass(frozen=True)
class Row:
    key: str  # machine value of the first column (ISO date, rule id, "total", "period")
    label: str
    cells: tuple[Cell, ...]
    total: bool = False  # the Total row (not charted)
    coverage: str | None = None  # what the row's figures cover ("complete", "partial: ...", "no data: ...")
    note: str | None = None  # a note on the row's label (the workbook's cell comment): a rule's id


@dataclass(frozen=True)
class Chart:
    kind: Literal["col", "bar"] = "col"
    grouping: Literal["clustered", "stacked"] = "clustered"
    y_title: str = "Count"
    series: tuple[str, ...] = ()  # column keys charted (default: the count columns)


@dataclass(frozen=True)
class Table:
    id: str  # stable name; the CSV is <id>.csv
    number: int
    title: str
    row_key: str  # machine header of the first column
    row_label: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    chart: Chart | None = Chart()

    @property
    def has_coverage(self) -> bool:
        return any(r.coverage is not None for r in self.rows)

    @property
    def sheet_name(self) -> str:
        return f"Table {self.number}"

    def charted_series(self) -> list[int]:
        """Indexes of the columns the chart plots."""
        if self.chart is None:
            return []
        if self.chart.series:
            return [i for i, c in enumerate(self.columns) if c.key in self.chart.series]
        return [i for i, c in enumerate(self.columns) if c.kind == "count"]


def counts_row(key: str, label: str, edges: Sequence[str], *, total: bool = False) -> Row:
    return Row(key, label, tuple(Cell(edge=e) for e in edges), total)
