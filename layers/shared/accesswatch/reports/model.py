"""A built release: its tables, the disclosure behind them, and the published value of every cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from accesswatch.quarters import Period
from accesswatch.reports.coverage import NO_DATA, Coverage
from accesswatch.reports.disclosure import Disclosure, State
from accesswatch.reports.tables import Cell, Table

# The marker a withheld count shows (primary and secondary alike), and its footnote.
WITHHELD: Final = "S"
OIA_FOOTNOTE: Final = (
    "S: withheld under section 9(2)(a) of the Official Information Act 1982, to protect the privacy of "
    "natural persons. Counts of people from 1 to {below} are withheld, and so are other counts from which a "
    "withheld count could be calculated (from the table's totals or another table's). Counts of automated "
    "(service) accounts are not people's and are withheld only where they would give a withheld count away. "
    "Zero is shown as 0."
)
NO_DATA_NOTE: Final = (
    "no data: there are no access logs for that quarter (for the systems counted), so its count is unknown, "
    "not zero. Totals and whole-period figures count the days with logs."
)


@dataclass
class Report:
    period: Period
    threshold: int
    generated_at: datetime
    tables: list[Table]
    disclosure: Disclosure
    notes: list[str] = field(default_factory=list)
    systems: tuple[str, ...] = ()
    coverage: Coverage | None = None  # the days with logs behind the figures (None: not known)

    @property
    def footnote(self) -> str:
        return OIA_FOOTNOTE.format(below=max(self.threshold - 1, 0))

    def table(self, table_id: str) -> Table:
        for t in self.tables:
            if t.id == table_id:
                return t
        raise KeyError(table_id)

    def published(self, cell: Cell) -> int | float | str | None:
        """The value a reader gets: a count, a ratio (0..1), the marker, a text, or None (blank).

        A ratio or a text that follows from counts (``Cell.depends``) is withheld with either count. A count
        in a quarter without logs is ``NO_DATA`` (JSON writes null)."""
        if cell.no_data:
            return NO_DATA
        if cell.edge is not None:
            if self.disclosure.state(cell.edge) is State.WITHHELD:
                return WITHHELD
            return self.disclosure.value(cell.edge)
        if cell.ratio is not None:
            num, den = cell.ratio
            if WITHHELD in (self.published(Cell(edge=num)), self.published(Cell(edge=den))):
                return WITHHELD
            denominator = self.disclosure.value(den)
            return None if denominator == 0 else self.disclosure.value(num) / denominator
        if any(self.disclosure.state(e) is State.WITHHELD for e in cell.depends):
            return WITHHELD  # a text worked out from a withheld count would give it away
        return cell.text

    def withheld_cells(self) -> int:
        return sum(1 for t in self.tables for r in t.rows for c in r.cells
                   if c.edge is not None and self.published(c) == WITHHELD)

    def no_data_cells(self) -> int:
        return sum(1 for t in self.tables for r in t.rows for c in r.cells if c.no_data)

    def has_withheld(self, table: Table) -> bool:
        return any(self.published(c) == WITHHELD for r in table.rows for c in r.cells)


def quarter_key(end: date) -> str:
    return end.isoformat()
