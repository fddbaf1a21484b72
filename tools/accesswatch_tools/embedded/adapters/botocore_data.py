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
