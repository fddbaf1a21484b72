"""New Zealand quarters: the reporting periods, labelled by their last day ("31 March 2025").

Everything here reckons in New Zealand time (``Pacific/Auckland``), never in UTC: an access at
2025-03-31T23:30+13:00 (10:30 UTC on the 31st) and one at 2025-03-31T11:30Z (00:30 NZDT on
1 April) fall in different quarters. A quarter runs from its first day 00:00 NZ time to its last
day 24:00 NZ time; across a daylight-saving change the quarter is simply an hour longer or shorter.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

# New Zealand time, in which quarters, days and working hours are reckoned (data contract, "General").
NZ_TZ_NAME: Final = "Pacific/Auckland"
NZ: Final = ZoneInfo(NZ_TZ_NAME)


def nz_date(instant: datetime) -> date:
    if instant.tzinfo is None:
        raise ValueError("a naive datetime has no New Zealand date")
    return instant.astimezone(NZ).date()


def nz_time(value: object, *, seconds: bool = False) -> str:
    """An instant (ISO text with an offset or ``Z``, or an aware datetime) as people read it: New Zealand
    time with its zone named, e.g. ``2025-03-31 09:00 NZDT``; ``-`` for none; other text as it is."""
    if value in (None, ""):
        return "-"
    try:
        instant = value if isinstance(value, datetime) else parse_instant(str(value))
    except ValueError:
        return str(value)
    if instant.tzinfo is None:
        return str(value)
    return instant.astimezone(NZ).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "") + " %Z")


def nz_today() -> date:
    """Today's date in New Zealand."""
    return nz_date(datetime.now(UTC))


def parse_instant(text: str) -> datetime:
    """An ISO-8601 timestamp with an offset or ``Z`` (the contract's form), as an aware datetime."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no offset")
    return value


def quarter_end(day: date) -> date:
    """The last day of the calendar quarter (Mar, Jun, Sep, Dec) that holds ``day``."""
    last_month = ((day.month - 1) // 3 + 1) * 3
    return date(day.year, last_month, calendar.monthrange(day.year, last_month)[1])


def quarter_start(day: date) -> date:
    return date(day.year, ((day.month - 1) // 3) * 3 + 1, 1)


def quarter_of(instant: datetime) -> date:
    """The end of the New Zealand quarter an instant falls in."""
    return quarter_end(nz_date(instant))


def quarter_of_text(timestamp: str) -> date:
    return quarter_of(parse_instant(timestamp))


def quarter_label(end: date) -> str:
    """'31 March 2025' for the quarter ending on that day."""
    return f"{end.day} {calendar.month_name[end.month]} {end.year}"


def next_quarter_end(end: date) -> date:
    return quarter_end(end + timedelta(days=1))


def previous_quarter_end(day: date) -> date:
    """The end of the quarter before the one that holds ``day``."""
    return quarter_start(day) - timedelta(days=1)


def quarter_ends_between(start: date, end: date) -> list[date]:
    """Every quarter end whose quarter overlaps ``start..end`` (inclusive), in order."""
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    ends = []
    current = quarter_end(start)
    while True:
        ends.append(current)
        if current >= end:
            return ends
        current = next_quarter_end(current)


def nz_midnight(day: date) -> datetime:
    """The instant (UTC) at which New Zealand day ``day`` begins."""
    return datetime.combine(day, time(0), tzinfo=NZ).astimezone(UTC)


def quarter_bounds(end: date) -> tuple[datetime, datetime]:
    """[start, stop) of the quarter ending ``end`` as UTC instants (NZ midnights)."""
    return nz_midnight(quarter_start(end)), nz_midnight(end + timedelta(days=1))


def last_complete_quarter(now: datetime) -> date:
    """The end of the latest New Zealand quarter that has entirely passed at ``now``."""
    return previous_quarter_end(nz_date(now))


@dataclass(frozen=True)
class Period:
    """An inclusive range of New Zealand dates, reported by the quarters it overlaps."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def of_quarters(cls, last_quarter_end: date, count: int) -> Period:
        """The ``count`` whole quarters ending with the quarter that ends ``last_quarter_end``."""
        if count < 1:
            raise ValueError("a period has at least one quarter")
        if quarter_end(last_quarter_end) != last_quarter_end:
            raise ValueError(f"{last_quarter_end} is not the last day of a quarter")
        first = last_quarter_end
        for _ in range(count - 1):
            first = previous_quarter_end(first)
        return cls(quarter_start(first), last_quarter_end)

    @property
    def quarters(self) -> list[date]:
        return quarter_ends_between(self.start, self.end)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def contains_instant(self, instant: datetime) -> bool:
        return self.contains(nz_date(instant))

    @property
    def partial_quarters(self) -> list[date]:
        """Quarters the period covers only in part (its first and last may be cut short)."""
        return [q for q in self.quarters if quarter_start(q) < self.start or q > self.end]

    @property
    def label(self) -> str:
        return f"{self.start.day} {calendar.month_name[self.start.month]} {self.start.year} to {quarter_label(self.end)}"

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, stop) as UTC instants."""
        return nz_midnight(self.start), nz_midnight(self.end + timedelta(days=1))


# ---------------------------------------------------------------------------------- ISO weeks
def nz_week(day: date) -> str:
    """The ISO week (``YYYY-Www``) of a New Zealand date."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def nz_week_bounds(week: str) -> tuple[datetime, datetime]:
    """[start, stop) of ISO week ``YYYY-Www`` as UTC instants (Monday 00:00 to the next Monday, NZ time)."""
    try:
        year, number = week.split("-W")
        monday = date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise ValueError(f"{week!r} is not an ISO week (YYYY-Www, e.g. 2025-W14)") from None
    return nz_midnight(monday), nz_midnight(monday + timedelta(days=7))


def previous_nz_week(now: datetime) -> str:
    """The last complete ISO week in New Zealand at ``now``."""
    return nz_week(nz_date(now) - timedelta(days=7))
