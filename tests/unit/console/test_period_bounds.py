"""Weeks and periods far outside any log's time are refused with a message (400), never a 500 from date
arithmetic overflowing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accesswatch.console.pages.digest import asked_week
from accesswatch.console.pages.reports import asked_period_key, parse_period
from accesswatch.console.web import BadRequest

NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize("week", ["0001-W01", "9999-W52", "1999-W01", "2099-W10", "2026-W99", "x"])
def test_weeks_out_of_range_are_bad_requests(week: str) -> None:
    with pytest.raises(BadRequest):
        asked_week(week, NOW)


def test_a_week_in_range_is_answered() -> None:
    assert asked_week("2026-W01", NOW).id == "2026-W01"


@pytest.mark.parametrize("period", ["0001-01-01_0001-03-31", "9999-10-01_9999-12-31", "2025-01-01_2999-01-01"])
def test_periods_out_of_range_are_bad_requests(period: str) -> None:
    with pytest.raises(BadRequest):
        parse_period(period)


@pytest.mark.parametrize("quarter", ["0001-03-31", "9999-12-31"])
def test_quarters_out_of_range_are_bad_requests(quarter: str) -> None:
    with pytest.raises(BadRequest):
        asked_period_key("", quarter)
