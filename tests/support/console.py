"""The console in tests: ConsoleFunction on an embedded runtime, reached through the local endpoint's adapter
(``accesswatch_tools.embedded.console.LocalConsole``) with werkzeug's test client: the same event shape, the
same handler and the same template as the local endpoint and AWS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.test import Client, TestResponse

from accesswatch_tools.embedded.console import LocalConsole

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class ConsoleBrowser:
    """One person at the console: signed in as ``role``/``user_id``, keeping cookies between requests."""

    def __init__(self, aws: Any, role: str, user_id: str = "u-console") -> None:
        self.aws = aws
        self.client = Client(LocalConsole(aws))
        self.role = role
        self.user_id = user_id
        signed = self.client.post("/local-sign-in", data={"role": role, "user_id": user_id})
        assert signed.status_code == 303, signed.get_data(as_text=True)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def token(self, path: str = "/") -> str:
        """The CSRF token the console's forms carry (from any page with a form, or the cookie it set)."""
        page = self.client.get(path)
        found = CSRF_FIELD.search(page.get_data(as_text=True))
        if found:
            return found.group(1)
        cookie = self.client.get_cookie("aw_csrf")
        assert cookie is not None, "the console set no CSRF cookie"
        return cookie.value

    def post(self, path: str, data: dict[str, Any], *, token: str | None = None, **kwargs: Any) -> TestResponse:
        """Submit a form as the console's own page would (its CSRF token included unless ``token`` says)."""
        fields = {"csrf_token": self.token() if token is None else token, **data}
        return self.client.post(path, data=fields, **kwargs)


@contextmanager
def world_runtime(small_world: Path, out: Path) -> Iterator[Any]:
    """An embedded runtime with ``small_world`` run through it (cases waiting for people)."""
    from accesswatch_tools.embedded.runtime import EmbeddedAws
    from accesswatch_tools.operate.world_run import run_world

    with EmbeddedAws() as aws:
        run_world(aws, small_world / "reference", small_world / "logs", out)
        yield aws
