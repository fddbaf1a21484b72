"""New Zealand quarters: the reporting periods, labelled by their last day ("31 March 2025")."""

from __future__ import annotations

import calendar
from datetime import date, datetime

from accesswatch.contract import NZ


def nz_date(instant: datetime) -> date:
    if instant.tzinfo is None:
        raise ValueError("a naive datetime has no New Zealand date")
    return instant.astimezone(NZ).date()


def quarter_end(day: date) -> date:
    """The last day of the calendar quarter (Mar, Jun, Sep, Dec) that holds ``day``."""
    last_month = ((day.month - 1) // 3 + 1) * 3
    return date(day.year, last_month, calendar.monthrange(day.year, last_month)[1])


def quarter_start(day: date) -> date:
    return date(day.year, ((day.month - 1) // 3) * 3 + 1, 1)


def quarter_label(end: date) -> str:
    """'31 March 2025' for the quarter ending on that day."""
    return f"{end.day} {calendar.month_name[end.month]} {end.year}"
