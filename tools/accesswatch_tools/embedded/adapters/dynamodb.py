"""Adapters of moto's DynamoDB: what it does differently from AWS, or too slowly, for this template.

docs/local-runtime.md lists every adapter and why it exists.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock


@contextlib.contextmanager
def serialised_dynamodb() -> Iterator[None]:
    """One DynamoDB request at a time. moto's tables are plain dicts: a read that serialises or copies
    an item while another thread adds attributes to it fails with ``RuntimeError: dictionary changed
    size during iteration`` (``run`` querying the status index while cases are triaged, the CLI
    reading a case while its workflow moves it on). DynamoDB triggers no functions here, so a request
    never waits on the invocation lock while holding this one."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    lock = threading.RLock()

    def call_action(handler: Any) -> Any:
        with lock:
            return original(handler)

    with mock.patch.object(DynamoHandler, "call_action", call_action):
        yield


@contextlib.contextmanager
def adapted() -> Iterator[None]:
    """Every DynamoDB adapter, for as long as the runtime runs."""
    with serialised_dynamodb():
        yield
