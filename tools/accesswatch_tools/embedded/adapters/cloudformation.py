"""Adapters of moto's CloudFormation: what it does too slowly for this template.

docs/local-runtime.md lists every adapter and why it exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import string
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


_SUFFIX_CHARS = string.digits + string.ascii_uppercase


def stable_suffix(stack_name: str, logical_id: str) -> str:
    """The 12 characters moto draws at random for a generated physical name, derived from the stack name and
    the logical id instead: the same resource gets the same name every time the stack is created."""
    digest = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).digest()
    return "".join(_SUFFIX_CHARS[b % len(_SUFFIX_CHARS)] for b in digest[:12])


@contextlib.contextmanager
def stable_physical_names() -> Iterator[None]:
    """Generated physical names (a table's, a function's, a queue's) that do not change between two creations of
    the stack: the local endpoint's saved state (docs/local-runtime.md, "Durable local state") is found again
    under the same names after a restart, whatever else the template gained. AWS draws these suffixes at random;
    nothing in the code depends on their form."""
    from moto.cloudformation import parsing

    original = parsing.generate_resource_name

    def generate(resource_type: str, stack_name: str, logical_id: str) -> str:
        with mock.patch.object(parsing, "random_suffix", lambda: stable_suffix(stack_name, logical_id)):
            return original(resource_type, stack_name, logical_id)

    with mock.patch.object(parsing, "generate_resource_name", generate):
        yield


@contextlib.contextmanager
def adapted(*, stable_names: bool = False) -> Iterator[None]:
    """Every CloudFormation adapter, for as long as the runtime runs. ``stable_names`` only for the local endpoint
    (one runtime per process, whose saved state must be found again): a throw-away runtime keeps moto's random
    names, so that a workflow still running from an earlier runtime of the same process (a test's) can never
    reach this one's functions and tables."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(json_templates_read_as_json())
        if stable_names:
            stack.enter_context(stable_physical_names())
        yield
