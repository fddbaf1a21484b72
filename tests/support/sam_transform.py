"""template.yaml through the SAM translator, as `sam deploy` would transform it, for tests that read the result.

Code and state machine definitions are stood in for (the translator rejects local paths, and the tests read
resources and policies, not code), and no managed policy is looked up (no network)."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any
from unittest import mock

from accesswatch_tools.embedded.template import load_template


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def transformed_template(parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The SAM-transformed template.yaml with ``parameters`` (the template's defaults for the rest)."""
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(load_template())
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://artifacts/code.zip"
        if res["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            del props["DefinitionUri"]
            props["Definition"] = {"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "ap-southeast-2"}):
        return transform(template, dict(parameters or {}), _NoManagedPolicies())  # type: ignore[no-any-return]
