"""Deployed functions: their configuration (the words and scores they run with) and synchronous invokes."""

from __future__ import annotations

import json
from typing import Any

import boto3


class Functions:
    """Deployed functions: their configuration (the words and scores they run with) and synchronous invokes."""

    def __init__(self, client: Any | None = None) -> None:
        self.client = client or boto3.client("lambda")

    def environment(self, function_name: str) -> dict[str, str]:
        """The deployed function's environment variables (its configuration, as the template set it)."""
        config = self.client.get_function_configuration(FunctionName=function_name)
        return dict(config.get("Environment", {}).get("Variables", {}))

    def invoke(self, function_name: str, payload: dict[str, Any]) -> str | None:
        """None when it succeeded, else the error type it raised."""
        response = self.client.invoke(FunctionName=function_name, Payload=json.dumps(payload).encode("utf-8"))
        if "FunctionError" in response:
            return str(json.loads(response["Payload"].read() or b"{}").get("errorType", "error"))
        return None
