"""On AWS the console's footprints are one Athena query in the stack's workgroup (the function could not read a
ministry's months of partitions in its 29 s); locally, with no Athena, the curated partitions."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from accesswatch.config import ConsoleSettings
from accesswatch.console.pages.footprint import ATHENA_TIMEOUT_S, footprint_sources
from accesswatch.console.sources import ConsoleSources
from accesswatch.dal.athena import AthenaQueryFailed
from accesswatch.services.footprint import AthenaEvents, PartitionEvents

BASE = {"RAW_BUCKET": "raw", "CURATED_BUCKET": "curated", "FINDINGS_TABLE": "f", "CASES_TABLE": "c",
        "LEDGER_TABLE": "l", "IDEMPOTENCY_TABLE": "i", "AUDIT_TABLE": "a", "CASE_STATE_MACHINE_ARN": "arn",
        "DETECT_FUNCTION": "d"}
ATHENA = {"ATHENA_WORKGROUP": "aw-prod-reports", "EVENTS_DATABASE": "aw_prod", "EVENTS_TABLE": "events"}


class _Athena:
    def __init__(self, state: str) -> None:
        self.state = state
        self.started: list[dict[str, Any]] = []

    def start_query_execution(self, **kwargs: Any) -> dict[str, str]:
        self.started.append(kwargs)
        return {"QueryExecutionId": "q1"}

    def get_query_execution(self, **_: Any) -> dict[str, Any]:
        return {"QueryExecution": {"Status": {"State": self.state, "StateChangeReason": "boom"}}}


class _DynamoDB:
    def Table(self, name: str) -> str:  # noqa: N802 - boto3's name
        return name


def _sources(env: dict[str, str], athena: Any = None) -> ConsoleSources:
    return ConsoleSources(ConsoleSettings.from_env(env), dynamodb=_DynamoDB(),
                          clients={"s3": object(), "athena": athena or _Athena("SUCCEEDED")})


def test_local_stack_reads_partitions() -> None:
    assert isinstance(footprint_sources(_sources(BASE)).events, PartitionEvents)


def test_a_stack_with_athena_asks_athena_with_the_client_id_as_a_parameter() -> None:
    athena = _Athena("FAILED")
    events = footprint_sources(_sources(BASE | ATHENA, athena)).events
    assert isinstance(events, AthenaEvents)
    assert events.queries.timeout_s == ATHENA_TIMEOUT_S < 29
    with pytest.raises(AthenaQueryFailed):
        events.client_events("012345", date(2025, 1, 1), date(2025, 3, 31))
    [query] = athena.started
    assert query["WorkGroup"] == "aw-prod-reports" and query["QueryExecutionContext"] == {"Database": "aw_prod"}
    assert "'012345'" in query["ExecutionParameters"] and "012345" not in query["QueryString"]
