"""Waiting for a case's workflow in end-to-end tests (the workflow runs on its own threads)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from accesswatch.dal.cases import CaseStore

WAIT_S = 180.0  # an upper bound for a loaded CI machine, not a measured time


def wait_for(store: CaseStore, case_id: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The case once ``done`` holds for it; fails naming its status after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        case = store.get(case_id) or {}
        if done(case):
            return case
        assert time.monotonic() < deadline, f"{case_id} stuck at {case.get('status')}"
        time.sleep(0.1)


def waiting(status: str) -> Callable[[dict[str, Any]], bool]:
    """At ``status`` and holding a task token: waiting on a person."""
    return lambda case: case.get("status") == status and bool(case.get("task_token"))
