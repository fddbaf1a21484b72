"""Adapters of moto's CloudFormation: what it does too slowly for this template.

docs/local-runtime.md lists every adapter and why it exists.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock


class _JsonFirstYaml:
    """moto's CloudFormation reads every template body with PyYAML's pure-Python loader, JSON included (the
    runtime sends JSON): about half of bringing a runtime up. A body that is a JSON object is read by
    ``json.loads`` (the same dict: JSON is YAML's flow style); anything else goes to PyYAML as before."""

    def __init__(self, yaml: Any) -> None:
        self._yaml = yaml

    def __getattr__(self, name: str) -> Any:
        return getattr(self._yaml, name)

    def load(self, stream: Any, Loader: Any = None) -> Any:  # noqa: N803 - PyYAML's keyword
        if isinstance(stream, str) and stream.lstrip().startswith("{"):
            try:
                parsed = json.loads(stream)
            except ValueError:
                pass
            else:
                if isinstance(parsed, dict):
                    return parsed
        return self._yaml.load(stream, Loader=Loader)


@contextlib.contextmanager
def json_templates_read_as_json() -> Iterator[None]:
    """See ``_JsonFirstYaml``: moto's CloudFormation models and responses read JSON bodies with json."""
    from moto.cloudformation import models, responses

    with mock.patch.object(models, "yaml", _JsonFirstYaml(models.yaml)), \
            mock.patch.object(responses, "yaml", _JsonFirstYaml(responses.yaml)):
        yield


@contextlib.contextmanager
def adapted() -> Iterator[None]:
    """Every CloudFormation adapter, for as long as the runtime runs."""
    with json_templates_read_as_json():
        yield
