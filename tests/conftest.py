"""Shared fixtures: the project root, a small synthetic world, and the embedded runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accesswatch_tools.embedded.template import PROJECT_ROOT


@pytest.fixture(scope="session")
def root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small world to the contract (planted violations of every rule, truth labels)."""
    from accesswatch_tools.world import generate

    out = tmp_path_factory.mktemp("world")
    generate(out, staff=40, clients=1500, days=3, seed=11)
    return out


@pytest.fixture
def aws() -> Iterator[object]:
    """A fresh embedded deployment of template.yaml."""
    from accesswatch_tools.embedded.runtime import EmbeddedAws

    with EmbeddedAws() as runtime:
        yield runtime


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A fresh local state directory; whatever endpoint the test started there is stopped afterwards."""
    from accesswatch_tools.embedded import server

    directory = tmp_path / "state"
    try:
        yield directory
    finally:
        server.stop(directory)
