"""What a release's figures cover: which New Zealand dates have access logs, per system and quarter.

A count of accesses or users in a quarter without logs is not zero, it is unknown: the release shows
"no data" there. Coverage is read from the curated partitions (``events/system=<s>/nz_date=<d>/``):
a date has logs for a system when a partition of that system and date exists. (A day on which nobody
accessed a record at all looks the same as a day whose logs never arrived.)

- A quarter is *complete* when every system counted has logs on every day of the quarter that the
  period covers, *partial* when some of those days have logs, and *no data* when none has.
- The current quarter is *unfinished*: it runs to the day the release was produced (New Zealand
  date), whatever its logs. A period ending after that day is clipped to it (``clip_to_today``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from accesswatch.quarters import Period, quarter_label, quarter_start

NO_DATA: Final = "no data"  # what a count shows in a quarter without any logs
COMPLETE, PARTIAL, NONE = "complete", "partial", "no_data"


def clip_to_today(period: Period, today: date) -> tuple[Period, str | None]:
    """The period, or the part of it up to ``today`` with a message saying so.

    A period that starts after today is refused (``ValueError``): there is nothing to report yet."""
    if period.start > today:
        raise ValueError(f"the period starts after today ({period.start.isoformat()} > {today.isoformat()}, "
                         "New Zealand date): there are no logs for it yet")
    if period.end <= today:
        return period, None
    clipped = Period(period.start, today)
    return clipped, (f"the period asked for ends {period.end.isoformat()}, after today; the report runs to today, "
                     f"{today.isoformat()} (New Zealand date), and the current quarter is marked unfinished")


def date_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive runs of dates: [(first, last), ...] in order."""
    out: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if out and day == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def ranges_text(days: Iterable[date], limit: int = 4) -> str:
    """'2025-03-24 to 2025-03-31, 2025-04-02' (at most ``limit`` runs, then 'and N more')."""
    runs = date_ranges(days)
    parts = [a.isoformat() if a == b else f"{a.isoformat()} to {b.isoformat()}" for a, b in runs[:limit]]
    if len(runs) > limit:
        parts.append(f"and {len(runs) - limit} more")
    return ", ".join(parts)


@dataclass(frozen=True)
class Span:
    """Some days the period covers (one quarter's, or the whole period's) and the logs of each system on them."""

    first: date
    last: date
    logs: Mapping[str, frozenset[date]]  # system -> days with logs, within first..last
    unfinished: bool = False  # the quarter has not ended: it runs to ``last`` (today)
    cut: bool = False  # the period covers only part of the quarter (not counting an unfinished one)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def covered(self, systems: Sequence[str] | None = None) -> frozenset[date]:
        chosen = self.logs if systems is None else {s: self.logs.get(s, frozenset()) for s in systems}
        return frozenset().union(*chosen.values()) if chosen else frozenset()

    def status(self, systems: Sequence[str] | None = None) -> str:
        chosen = list(self.logs) if systems is None else list(systems)
        if not self.covered(chosen):
            return NONE
        if chosen and all(len(self.logs.get(s, ())) == self.days for s in chosen):
            return COMPLETE
        return PARTIAL

    def text(self, systems: Sequence[str] | None = None) -> str:
        """What a reader is told about these days: "complete", "no data: no logs", or "partial: " with the
        days that have logs; the current quarter also says "unfinished, runs to <today>"."""
        chosen = sorted(self.logs) if systems is None else list(systems)
        status = self.status(chosen)
        notes = [f"unfinished, runs to {self.last.isoformat()}"] if self.unfinished else []
        if self.cut:
            notes.append(f"period covers {self.first.isoformat()} to {self.last.isoformat()}")
        if status == NONE:
            return f"{NO_DATA}: " + "; ".join(["no logs", *notes])
        if status == COMPLETE:
            if not notes:
                return COMPLETE
            body = f"logs on all {self.days} days"
        else:
            sets = {s: self.logs.get(s, frozenset()) for s in chosen}
            if len(set(sets.values())) <= 1:
                body = self._logs_text(self.covered(chosen))
            else:
                body = "; ".join(f"{s}: {self._logs_text(v) if v else 'no logs'}" for s, v in sets.items())
        return "partial: " + "; ".join([*notes, body])

    def period_text(self) -> str:
        """For counts that do not come from the quarter's logs (case records): only what the period covers."""
        notes = [f"unfinished, runs to {self.last.isoformat()}"] if self.unfinished else []
        if self.cut:
            notes.append(f"period covers {self.first.isoformat()} to {self.last.isoformat()}")
        return "partial: " + "; ".join(notes) if notes else COMPLETE

    def _logs_text(self, days: frozenset[date]) -> str:
        return f"logs {ranges_text(days)} ({len(days)} of {self.days} days)"

    def as_json(self, systems: Sequence[str] | None = None) -> dict[str, Any]:
        chosen = sorted(self.logs) if systems is None else list(systems)
        return {
            "from": self.first.isoformat(), "to": self.last.isoformat(), "days": self.days,
            "unfinished": self.unfinished, "status": self.status(chosen),
            "days_with_logs": len(self.covered(chosen)),
            "systems": {s: {"status": Span(self.first, self.last, {s: self.logs.get(s, frozenset())}).status(),
                            "days_with_logs": len(self.logs.get(s, ())),
                            "logs": [[a.isoformat(), b.isoformat()]
                                     for a, b in date_ranges(self.logs.get(s, ()))]}
                        for s in chosen},
            "text": self.text(chosen),
        }


@dataclass(frozen=True)
class Coverage:
    """The days with logs per system, and the New Zealand date the release was produced on."""

    log_days: Mapping[str, frozenset[date]]  # system -> NZ dates with logs (at least the period's)
    as_of: date
    systems: tuple[str, ...] = ()  # the systems known (default: those with logs)
    requested: Period | None = None  # the period asked for, when it was clipped to ``as_of``
    message: str | None = None  # why it was clipped

    @property
    def all_systems(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.systems) | set(self.log_days)))

    def span(self, first: date, last: date, *, unfinished: bool = False, cut: bool = False) -> Span:
        logs = {s: frozenset(d for d in self.log_days.get(s, frozenset()) if first <= d <= last)
                for s in self.all_systems}
        return Span(first, last, logs, unfinished, cut)

    def quarter(self, end: date, period: Period) -> Span:
        first, last = max(quarter_start(end), period.start), min(end, period.end)
        unfinished = end > self.as_of
        return self.span(first, last, unfinished=unfinished,
                         cut=first > quarter_start(end) or (last < end and not unfinished))

    def whole(self, period: Period) -> Span:
        return self.span(period.start, period.end)

    def as_json(self, period: Period, systems: Sequence[str] | None = None) -> dict[str, Any]:
        chosen = list(systems) if systems else list(self.all_systems)
        whole = self.whole(period)
        return {
            "as_of": self.as_of.isoformat(),
            "requested": None if self.requested is None else {"from": self.requested.start.isoformat(),
                                                              "to": self.requested.end.isoformat()},
            "message": self.message,
            "systems": {s: {"days_with_logs": len(whole.logs.get(s, ())),
                            "first": min(whole.logs[s]).isoformat() if whole.logs.get(s) else None,
                            "last": max(whole.logs[s]).isoformat() if whole.logs.get(s) else None,
                            "logs": [[a.isoformat(), b.isoformat()] for a, b in date_ranges(whole.logs.get(s, ()))]}
                        for s in chosen},
            "quarters": [{"quarter_ending": q.isoformat(), "label": quarter_label(q),
                          **self.quarter(q, period).as_json(chosen)} for q in period.quarters],
        }
