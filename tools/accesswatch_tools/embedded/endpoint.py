"""A client's view of the local endpoint: boto3 clients and resources on loopback, and the physical names
of the template's resources (the same interface the CLI uses for a deployed stack)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any


class LocalEndpoint:
    """The embedded runtime running in the endpoint process (``accesswatch_tools.embedded.server``), over
    loopback HTTP.

    ``on_connection_error`` is called with the error of any call that could not reach the endpoint
    (connection refused, reset or closed): it decides what that means (the endpoint died: its state is
    lost) and raises the one-line error the command shows instead of botocore's."""

    def __init__(self, url: str, physical: dict[str, str], state_dir: Path, region: str, *,
                 on_connection_error: Callable[[Exception], None] | None = None,
                 console_url: str | None = None) -> None:
        self.url = url
        self.console_url = console_url  # the console's pages (ConsoleFunction), on a port of their own
        self.physical = physical
        self.state_dir = state_dir
        self.region = region
        self._on_connection_error = on_connection_error
        self._boto_session: Any = None
        self._session_lock = threading.Lock()

    @cached_property
    def template(self) -> dict[str, Any]:
        """template.yaml, read when first asked for (few commands need it: reading it cost ~0.2 s at every
        connect)."""
        from accesswatch_tools.embedded.template import TEMPLATE_PATH, load_template

        return load_template(TEMPLATE_PATH)

    def _after_call_error(self, exception: Exception, **_: Any) -> None:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError

        if self._on_connection_error is not None and isinstance(exception, BotoConnectionError | HTTPClientError):
            self._on_connection_error(exception)

    def _session(self) -> Any:
        """One boto3 session for every client and resource of this endpoint (a session per client reloaded
        botocore's endpoint and partition data: 3 clients took 0.38 s of CPU in separate sessions, 0.095 s in
        one). Callers hold ``_session_lock`` (a session is not safe to make clients from in many threads)."""
        if self._boto_session is None:
            import boto3

            session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",  # noqa: S106
                                            region_name=self.region)
            # Every client and resource of the session (registered before any is made) reports a lost endpoint.
            session.events.register("after-call-error", self._after_call_error)
            self._boto_session = session
        return self._boto_session

    def _config(self) -> Any:
        from botocore.config import Config

        # A call can wait long (an invoked function runs to completion; a large upload's body is read
        # before its notification is queued, and handlers run one at a time): allow for it, and never
        # resend a request, an upload least of all.
        return Config(read_timeout=1800, connect_timeout=10, retries={"max_attempts": 1, "mode": "standard"})

    def client(self, service: str) -> Any:
        with self._session_lock:
            return self._session().client(service, endpoint_url=self.url, config=self._config())

    def resource(self, service: str) -> Any:
        with self._session_lock:
            return self._session().resource(service, endpoint_url=self.url, config=self._config())

    def resource_name(self, logical_id: str) -> str:
        try:
            return self.physical[logical_id]
        except KeyError:
            raise KeyError(f"template has no resource {logical_id}") from None

    def invocation_failures(self) -> list[dict[str, str]]:
        path = self.state_dir / "invocation-failures.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
