"""Adapter of botocore's data loading: each service model read once per process, not once per Session.

docs/local-runtime.md lists every adapter and why it exists.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

# One botocore Loader per data path (AWS_DATA_PATH) for the process, kept from one runtime to the next.
_LOADERS: dict[str | None, Any] = {}
_LOADERS_LOCK = threading.Lock()


@contextlib.contextmanager
def one_loader_per_process() -> Iterator[None]:
    """botocore gives every Session a Loader of its own, which reads and parses the JSON of every service model,
    endpoint and partition file again; each runtime gets new Sessions (moto resets boto3's default session, the
    runtime's clients, its handlers' and moto's own: ~0.3 s of every start, moto.ec2's import asks three more).
    While the runtime runs, Sessions share one Loader per data path: the same files, read once (a Session already
    hands the one parsed model it cached to all its clients)."""
    import botocore.session

    original = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> Any:
        with _LOADERS_LOCK:
            if search_path_string not in _LOADERS:
                _LOADERS[search_path_string] = original(search_path_string)
            return _LOADERS[search_path_string]

    with mock.patch.object(botocore.session, "create_loader", create_loader):
        yield


@contextlib.contextmanager
def moto_service_models_once() -> Iterator[None]:
    """moto's ``get_service_model`` is cached (``functools.cache``), but every thread that asks for a model before the
    first reader has finished reads and parses it too: the first ``sns:Publish`` of hundreds of case executions
    waiting at once each loaded sns's model (~40 ms each, ~10 s of the 0.5M-event world). Here moto's dispatch asks
    through one lock: the first reader loads, the others wait for its answer (the same cached object as before)."""
    from moto.core import responses, utils

    original = utils.get_service_model
    lock = threading.Lock()

    def get_service_model(service_name: str) -> Any:
        with lock:
            return original(service_name)

    with mock.patch.object(responses, "get_service_model", get_service_model):
        yield
