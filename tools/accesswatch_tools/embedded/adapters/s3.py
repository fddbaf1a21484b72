"""Adapters of moto's S3: what it does differently from AWS, or too slowly, for this template.

docs/local-runtime.md lists every adapter and why it exists.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock


@contextlib.contextmanager
def s3_events_as_aws_sends_them() -> Iterator[None]:
    """moto's S3 event records carry no ``versionId`` and no ``sequencer``; AWS's carry both (``versionId``
    when the bucket is versioned). The reference function tells a new put of the same bytes from a
    notification delivered again by them, and orders puts by the sequencer: a record here gets the object's
    version id and a sequencer that grows with every put (hex, upper case, like S3's), the same one for
    every notification of that put."""
    from moto.s3 import notifications

    original = notifications._get_s3_event
    lock = threading.Lock()
    last = [0]

    def sequencer(key: Any) -> str:
        with lock:
            value = getattr(key, "_accesswatch_sequencer", None)
            if value is None:
                last[0] = max(last[0] + 1, time.time_ns())
                value = key._accesswatch_sequencer = f"{last[0]:018X}"
            return str(value)

    def event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, list[dict[str, Any]]]:
        body = original(event_name, bucket, key, notification_id)
        for record in body["Records"]:
            obj = record["s3"]["object"]
            if key.version_id and key.version_id != "null":
                obj["versionId"] = key.version_id
            obj["sequencer"] = sequencer(key)
        return body

    with mock.patch.object(notifications, "_get_s3_event", event):
        yield


@contextlib.contextmanager
def adapted() -> Iterator[None]:
    """Every S3 adapter, for as long as the runtime runs."""
    with s3_events_as_aws_sends_them():
        yield
