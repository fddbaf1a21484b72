"""New Zealand quarters at their boundaries, across daylight-saving changes, and as properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accesswatch.quarters import (
    NZ,
    Period,
    last_complete_quarter,
    nz_date,
    nz_midnight,
    parse_instant,
    quarter_bounds,
    quarter_end,
    quarter_ends_between,
    quarter_label,
    quarter_of,
    quarter_of_text,
    quarter_start,
)


@pytest.mark.parametrize(("timestamp", "quarter"), [
    # The example: late on 31 March, New Zealand daylight time, is the March quarter...
    ("2025-03-31T23:30:00+13:00", date(2025, 3, 31)),
    # ...although in UTC it is 10:30 on the 31st, and the next NZ minute is April.
    ("2025-03-31T10:30:00Z", date(2025, 3, 31)),
    ("2025-03-31T11:00:00Z", date(2025, 6, 30)),  # 00:00 NZDT 1 April
    ("2025-03-31T10:59:59.999999Z", date(2025, 3, 31)),
    # The same instant written with another offset is still the same NZ date.
    ("2025-03-31T12:30:00+02:00", date(2025, 3, 31)),
    # June quarter ends in standard time (+12).
    ("2025-06-30T23:59:59+12:00", date(2025, 6, 30)),
    ("2025-06-30T12:00:00Z", date(2025, 9, 30)),  # 00:00 NZST 1 July
    ("2025-06-30T11:59:59Z", date(2025, 6, 30)),
    # September quarter ends after daylight time began (28 Sep 2025): +13.
    ("2025-09-30T10:59:59Z", date(2025, 9, 30)),
    ("2025-09-30T11:00:00Z", date(2025, 12, 31)),
    # December quarter: the year changes in New Zealand half a day before UTC.
    ("2024-12-31T11:00:00Z", date(2025, 3, 31)),
    ("2024-12-31T10:59:59Z", date(2024, 12, 31)),
    ("2025-01-01T00:00:00+13:00", date(2025, 3, 31)),
])
def test_an_instant_falls_in_the_new_zealand_quarter(timestamp: str, quarter: date) -> None:
    assert quarter_of_text(timestamp) == quarter


def test_daylight_saving_changes_inside_a_quarter_keep_its_bounds_at_nz_midnight() -> None:
    # June quarter 2025: starts in daylight time (1 April, +13), daylight time ends 6 April.
    start, stop = quarter_bounds(date(2025, 6, 30))
    assert start == datetime(2025, 3, 31, 11, 0, tzinfo=UTC)
    assert stop == datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
    assert stop - start == timedelta(days=91, hours=1)  # an hour longer: the clocks went back
    # September quarter 2025: daylight time started 28 September, so an hour shorter...
    start, stop = quarter_bounds(date(2025, 9, 30))
    assert (start, stop) == (datetime(2025, 6, 30, 12, tzinfo=UTC), datetime(2025, 9, 30, 11, tzinfo=UTC))
    assert stop - start == timedelta(days=92, hours=-1)
    # ...and the December quarter, all in daylight time, is exactly its days long.
    start, stop = quarter_bounds(date(2025, 12, 31))
    assert stop - start == timedelta(days=92)


def test_the_hour_repeated_when_daylight_time_ends_is_one_nz_date() -> None:
    # 6 April 2025: 03:00 NZDT becomes 02:00 NZST, so 02:30 happens twice.
    first = datetime(2025, 4, 5, 13, 30, tzinfo=UTC)
    second = datetime(2025, 4, 5, 14, 30, tzinfo=UTC)
    assert first.astimezone(NZ).strftime("%H:%M") == second.astimezone(NZ).strftime("%H:%M") == "02:30"
    assert nz_date(first) == nz_date(second) == date(2025, 4, 6)


def test_labels_and_periods() -> None:
    assert quarter_label(date(2025, 3, 31)) == "31 March 2025"
    assert quarter_label(date(2024, 6, 30)) == "30 June 2024"
    year = Period(date(2024, 4, 1), date(2025, 3, 31))
    assert year.quarters == [date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31), date(2025, 3, 31)]
    assert year.partial_quarters == []
    assert year.label == "1 April 2024 to 31 March 2025"
    assert Period.of_quarters(date(2025, 3, 31), 4) == year
    part = Period(date(2025, 2, 15), date(2025, 4, 10))
    assert part.quarters == [date(2025, 3, 31), date(2025, 6, 30)]
    assert part.partial_quarters == part.quarters
    assert part.bounds() == (nz_midnight(date(2025, 2, 15)), nz_midnight(date(2025, 4, 11)))
    with pytest.raises(ValueError, match="not the last day"):
        Period.of_quarters(date(2025, 3, 30), 1)
    with pytest.raises(ValueError, match="before it starts"):
        Period(date(2025, 3, 2), date(2025, 3, 1))
    with pytest.raises(ValueError, match="no offset"):
        parse_instant("2025-03-31T10:00:00")
    with pytest.raises(ValueError, match="naive"):
        nz_date(datetime(2025, 3, 31, 10))


def test_the_schedule_reports_the_quarter_that_just_ended_in_new_zealand() -> None:
    # The template's cron fires 13:00 UTC on the 1st: already the 2nd in New Zealand.
    assert last_complete_quarter(datetime(2025, 4, 1, 13, 0, tzinfo=UTC)) == date(2025, 3, 31)
    assert last_complete_quarter(datetime(2025, 7, 1, 13, 0, tzinfo=UTC)) == date(2025, 6, 30)
    # 31 March 11:30 UTC is already 1 April in New Zealand: the March quarter is over.
    assert last_complete_quarter(datetime(2025, 3, 31, 11, 30, tzinfo=UTC)) == date(2025, 3, 31)
    assert last_complete_quarter(datetime(2025, 3, 31, 10, 30, tzinfo=UTC)) == date(2024, 12, 31)


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 12, 31),
                        timezones=st.just(UTC))
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))


@given(instants)
def test_an_instant_lies_within_its_quarters_bounds(instant: datetime) -> None:
    end = quarter_of(instant)
    start, stop = quarter_bounds(end)
    assert start <= instant < stop
    assert quarter_of(start) == end and quarter_of(stop) != end
    assert quarter_of(stop - timedelta(microseconds=1)) == end


@given(days)
def test_a_day_lies_in_exactly_one_quarter_of_three_months(day: date) -> None:
    end, start = quarter_end(day), quarter_start(day)
    assert start <= day <= end
    assert end.month % 3 == 0 and (end + timedelta(days=1)).day == 1
    assert start.day == 1 and start.month % 3 == 1
    assert quarter_end(start) == end and quarter_start(end) == start
    assert 90 <= (end - start).days + 1 <= 92


@given(days, days)
def test_quarters_between_cover_the_range_in_order_without_gaps(a: date, b: date) -> None:
    start, end = min(a, b), max(a, b)
    ends = quarter_ends_between(start, end)
    assert ends[0] == quarter_end(start) and ends[-1] == quarter_end(end)
    for previous, following in zip(ends, ends[1:], strict=False):
        assert quarter_start(following) == previous + timedelta(days=1)
    assert all(Period(start, end).contains(d) for d in (start, end))
