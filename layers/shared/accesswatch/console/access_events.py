"""The console's own users are monitored: every page that shows a client's details writes one access event
per client shown, as the access log of the system ``accesswatch`` (``access-logs/accesswatch/...`` in the raw
bucket), in the contract's format. Ingestion and detection then treat it like the CMS's logs: an
investigator who opens a case about their own relative's record raises RELATIVE_RECORD like anyone else.

Event ids derive from the request id and the client, so a request handled twice with one request id (an
invocation retried by Lambda) delivers the same events twice, which ingestion keeps once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from accesswatch.console.principal import Principal


class ObjectWriter(Protocol):
    def put_object(self, **kwargs: Any) -> Any: ...


def access_events(principal: Principal, client_ids: Iterable[str], *, page: str, request_id: str,
                  at: datetime | None = None, session_id: str = "") -> list[dict[str, str]]:
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    events = []
    for client_id in dict.fromkeys(str(c) for c in client_ids if c):  # each client once, in page order
        digest = hashlib.sha256(f"{request_id}|{client_id}".encode()).hexdigest()[:24]
        event = {"event_id": f"console-{digest}", "occurred_at": when, "user_id": principal.user_id,
                 "client_id": client_id, "action": "view", "screen": f"console_{page}", "site": "console"}
        if session_id:
            event["session_id"] = session_id
        events.append(event)
    return events


def object_key(system: str, request_id: str, at: datetime | None = None) -> str:
    day = (at or datetime.now(UTC)).astimezone(UTC)
    safe = hashlib.sha256(request_id.encode()).hexdigest()[:32]
    return f"access-logs/{system}/{day:%Y/%m/%d}/console-{safe}.jsonl"


def write_access_events(s3: ObjectWriter, bucket: str, system: str, events: list[dict[str, str]], *,
                        request_id: str) -> str | None:
    """Put the events (one JSON Lines object per request); None when the page showed no client."""
    if not events:
        return None
    key = object_key(system, request_id)
    body = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
    return key
