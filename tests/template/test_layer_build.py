"""The layer is built by layers/shared/Makefile (the template's `BuildMethod: makefile`): the template and
the Makefile must agree, the Makefile must build for the template's runtime and architecture, and the
layer's requirements must be the runtime dependencies the project declares. Building it for real (size,
polars from the stripped object, cold starts) is `accesswatch bench --cold-start --layer DIR`."""

from __future__ import annotations

import re
import tomllib

from accesswatch_tools.embedded.template import PROJECT_ROOT, load_template, resources_of_type

TEMPLATE = load_template()
LAYERS = resources_of_type(TEMPLATE, "AWS::Serverless::LayerVersion")


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=~!; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_every_makefile_layer_has_its_build_target_for_the_functions_runtime_and_architecture() -> None:
    runtime = TEMPLATE["Globals"]["Function"]["Runtime"]
    architectures = TEMPLATE["Globals"]["Function"]["Architectures"]
    assert LAYERS
    for logical_id, layer in LAYERS.items():
        assert layer["Metadata"]["BuildMethod"] == "makefile", logical_id
        assert [layer["Metadata"]["BuildArchitecture"]] == architectures
        assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
        makefile = (PROJECT_ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
        assert re.search(rf"^build-{logical_id}:", makefile, re.MULTILINE), f"no build-{logical_id} target"
        assert f"LAMBDA_PYTHON_VERSION ?= {runtime.removeprefix('python')}" in makefile
        assert "x86_64" in makefile and architectures == ["x86_64"]


def test_the_layer_requires_exactly_the_projects_runtime_dependencies() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    declared = {_name(r) for r in pyproject["project"]["dependencies"]}
    for layer in LAYERS.values():
        lines = (PROJECT_ROOT / layer["Properties"]["ContentUri"] / "requirements.txt").read_text().splitlines()
        required = {_name(line) for line in lines if line.strip() and not line.startswith("#")}
        assert required == declared


LOCK_LINE = re.compile(r"^(?P<name>[a-z0-9-]+)==(?P<version>[^ \\]+) \\\n    --hash=sha256:[0-9a-f]{64}$", re.MULTILINE)


def test_the_layer_installs_exactly_the_hashed_lock() -> None:
    """Pinned dependencies: every distribution the layer installs is in requirements.lock at one version with its
    wheel's hash, the build installs only those (--require-hashes --no-deps), and the lock satisfies
    requirements.txt."""
    from packaging.requirements import Requirement

    for layer in LAYERS.values():
        root = PROJECT_ROOT / layer["Properties"]["ContentUri"]
        makefile = (root / "Makefile").read_text()
        install = makefile.split(f"build-{next(iter(LAYERS))}:", 1)[1].split("\n\n", 1)[0]
        assert "--require-hashes" in install and "--no-deps" in install and "-r requirements.lock" in install
        assert "requirements.txt" not in install
        lock = (root / "requirements.lock").read_text()
        body = "\n".join(line for line in lock.splitlines() if not line.startswith("#"))
        pins = {m["name"]: m["version"] for m in LOCK_LINE.finditer(body)}
        assert len(pins) == body.count("==") == body.count("--hash="), "every line a pin with its hash"
        for line in (root / "requirements.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                requirement = Requirement(line)
                name = _name(requirement.name)
                assert name in pins, f"{name} is not locked"
                assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])
        assert {"pydantic-core", "botocore", "polars-runtime-32"} <= set(pins), "transitive dependencies too"
