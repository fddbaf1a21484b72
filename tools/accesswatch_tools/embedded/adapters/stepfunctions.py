"""Adapters of moto's Step Functions: what it does differently from AWS, or too slowly, for this template.

docs/local-runtime.md lists every adapter and why it exists.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock


def cached_asl_parser() -> Any:
    """moto parses a state machine's ASL (an ANTLR grammar, ~50 ms) for every execution it starts,
    Distributed Map children included. The parsed program is immutable (executions keep their state
    in their own environment; an inline Map already runs one program on many threads), so parse
    each definition once."""
    import functools

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse
    cached = functools.lru_cache(maxsize=64)(original)
    return mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(cached))


@contextlib.contextmanager
def used_task_tokens_refused() -> Iterator[None]:
    """A task token answers once, as on AWS: a second SendTaskSuccess/Failure on a used token fails with
    TaskTimedOut ("Provided task does not exist anymore"). moto keeps a used callback endpoint while the
    execution runs and accepts the second answer silently; the case CLI's "already decided" handling
    (docs/cases.md, "Two people at once") must see what AWS does. Check and answer under one lock."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackNotifyConsumerError,
        CallbackPoolManager,
    )

    original = CallbackPoolManager.notify
    lock = threading.Lock()

    def notify(manager: Any, callback_id: Any, outcome: Any) -> bool:
        with lock:
            endpoint = manager.get(callback_id)
            if endpoint is not None and endpoint._notify_event.is_set():  # noqa: SLF001 - moto's own state
                raise CallbackNotifyConsumerError(CallbackConsumerTimeout())
            return bool(original(manager, callback_id, outcome))

    with mock.patch.object(CallbackPoolManager, "notify", notify):
        yield


@contextlib.contextmanager
def cached_task_clients() -> Iterator[None]:
    """moto's Step Functions creates a new boto3 client for every task it runs (~10 ms each);
    boto3 clients are thread-safe, so one per (service, region) serves every task."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def cached(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = original(region, service, state_credentials)
            return clients[(region, service)]

    patched = [m for name, m in list(sys.modules.items())
               if name.startswith("moto.stepfunctions.parser") and getattr(m, "boto_client_for", None) is original]
    for module in patched:
        module.boto_client_for = cached  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in patched:
            module.boto_client_for = original  # type: ignore[attr-defined]


@contextlib.contextmanager
def adapted() -> Iterator[None]:
    """Every Step Functions adapter, for as long as the runtime runs."""
    with cached_asl_parser(), cached_task_clients(), used_task_tokens_refused():
        yield
