"""The console's own page views as access events of the system accesswatch (data contract: access logs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from accesswatch.console.access_events import access_events, write_access_events
from accesswatch.console.principal import Principal
from accesswatch.console.roles import Role

WHO = Principal(user_id="u204", roles=frozenset({Role.INVESTIGATOR}), local=False)
AT = datetime(2026, 11, 30, 1, 2, 3, 456000, tzinfo=UTC)


class _Bucket:
    def __init__(self) -> None:
        self.puts: list[dict[str, object]] = []

    def put_object(self, **kwargs: object) -> None:
        self.puts.append(kwargs)


def test_one_event_per_client_shown_with_the_contracts_fields() -> None:
    events = access_events(WHO, ["010693250", "000123", "010693250", ""], page="case", request_id="req-1", at=AT)
    assert [e["client_id"] for e in events] == ["010693250", "000123"]  # ids kept as strings, zeros and all
    for event in events:
        assert {"event_id", "occurred_at", "user_id", "client_id", "action"} <= set(event)
        assert event["user_id"] == "u204"
        assert event["action"] == "view"
        assert event["screen"] == "console_case"
        assert event["occurred_at"] == "2026-11-30T01:02:03.456Z"
    assert len({e["event_id"] for e in events}) == 2


def test_the_same_request_gives_the_same_event_ids() -> None:
    first = access_events(WHO, ["c1", "c2"], page="case", request_id="req-9", at=AT)
    again = access_events(WHO, ["c1", "c2"], page="case", request_id="req-9", at=AT)
    other = access_events(WHO, ["c1", "c2"], page="case", request_id="req-10", at=AT)
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again]
    assert not {e["event_id"] for e in first} & {e["event_id"] for e in other}


def test_written_as_json_lines_under_the_systems_prefix() -> None:
    bucket = _Bucket()
    events = access_events(WHO, ["c1"], page="footprint", request_id="r", at=AT)
    key = write_access_events(bucket, "raw", "accesswatch", events, request_id="r")
    assert key is not None and key.startswith("access-logs/accesswatch/") and key.endswith(".jsonl")
    body = bucket.puts[0]["Body"]
    assert isinstance(body, bytes)
    assert [json.loads(line) for line in body.decode().splitlines()] == events
    assert write_access_events(bucket, "raw", "accesswatch", [], request_id="r2") is None
    assert len(bucket.puts) == 1
