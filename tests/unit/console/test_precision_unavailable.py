"""A page whose AWS read fails says so (503, the error code only), never a bare 500."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from accesswatch.console.pages import precision
from accesswatch.console.principal import Principal
from accesswatch.console.roles import Role
from accesswatch.console.sources import ConsoleSources
from accesswatch.console.web import Unavailable


class _Lambda:
    def get_function_configuration(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetFunctionConfiguration")


class _Settings:
    detect_function = "detect"


def test_precision_without_the_detect_functions_settings_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    src = ConsoleSources.__new__(ConsoleSources)
    src.settings = _Settings()  # type: ignore[assignment]
    src._clients = {"lambda": _Lambda()}
    src.__dict__["case_service"] = object()
    who = Principal(user_id="u1", roles=frozenset({Role.INVESTIGATOR}), local=True)
    monkeypatch.setattr(precision.router, "context", {"principal": who, "sources": src}, raising=False)
    with pytest.raises(Unavailable, match="AccessDeniedException"):
        precision.precision()
