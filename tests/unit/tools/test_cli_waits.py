"""A command that waits for the workflow polls soon at first, then less often: ``cases reopen`` looks for its
case at the decision step again after 0.02 s, each pause half as long again up to 0.2 s (it polled every
0.1 s). The sleeps are recorded, not slept; no timing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from accesswatch_tools.cli.commands.cases import _settle_reopened


class _Cases:
    def __init__(self, polls_before_waiting: int) -> None:
        self.left = polls_before_waiting

    def get(self, case_id: str) -> dict[str, Any]:
        if self.left > 0:
            self.left -= 1
            return {"case_id": case_id, "status": "reopened"}
        return {"case_id": case_id, "status": "investigating", "task_token": "token"}


class _Teamwork:
    def __init__(self, polls_before_waiting: int) -> None:
        self.cases = _Cases(polls_before_waiting)


def test_reopen_polls_from_a_short_pause_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    said = _settle_reopened(_Teamwork(polls_before_waiting=10), "CASE-0000000000000001", timeout_s=3600)
    assert said == "waiting for a decision again (`accesswatch cases decide`)"
    assert len(pauses) == 10
    assert pauses[0] == pytest.approx(0.02)
    assert all(later >= earlier for earlier, later in zip(pauses, pauses[1:], strict=False))
    assert max(pauses) == pytest.approx(0.2)


def test_a_case_already_waiting_is_reported_without_a_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    assert _settle_reopened(_Teamwork(polls_before_waiting=0), "CASE-0000000000000001", timeout_s=30).startswith(
        "waiting for a decision again")
    assert pauses == []
