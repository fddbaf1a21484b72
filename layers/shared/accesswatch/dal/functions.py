"""Invoking a deployed function synchronously (a redelivered S3 notification)."""

from __future__ import annotations

import json
from typing import Any

import boto3


class Functions:
    """Invoking a deployed function synchronously (a redelivered S3 notification)."""

    def __init__(self, client: Any | None = None) -> None:
        self.client = client or boto3.client("lambda")

    def invoke(self, function_name: str, payload: dict[str, Any]) -> str | None:
        """None when it succeeded, else the error type it raised."""
        response = self.client.invoke(FunctionName=function_name, Payload=json.dumps(payload).encode("utf-8"))
        if "FunctionError" in response:
            return str(json.loads(response["Payload"].read() or b"{}").get("errorType", "error"))
        return None
