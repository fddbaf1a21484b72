"""What deploys is only what runs there: every function, imported in a fresh interpreter with only its
code directory and the layer's package on the path (as Lambda does), loads none of the tools package,
moto or yaml; the short functions load no polars. Figures (import time, RSS) come from
`accesswatch bench --cold-start`, not from this test."""

from __future__ import annotations

import pytest

from accesswatch_tools.bench.coldstart import FORBIDDEN, measure
from accesswatch_tools.embedded.template import function_specs, load_template

TEMPLATE = load_template()
WITHOUT_POLARS = {"CaseStepFunction", "DetectionOutcomeFunction"}


@pytest.mark.parametrize("function", sorted(function_specs(TEMPLATE)))
def test_a_function_loads_only_the_runtime_package(function: str) -> None:
    cold = measure(function, TEMPLATE)
    assert cold.loads("accesswatch") and cold.loads("boto3")
    assert [m for m in FORBIDDEN if cold.loads(m)] == [], f"{function} loads tools or test-only packages"
    if function in WITHOUT_POLARS:
        assert not cold.loads("polars"), f"{function} loads polars"


def test_the_check_would_see_a_forbidden_import(tmp_path) -> None:
    """The measurement really reports what the child imported (a function that imports yaml is caught)."""
    import shutil

    template = load_template()
    spec = function_specs(template)["CaseStepFunction"]
    copy = tmp_path / "case_step"
    shutil.copytree(spec.code_dir, copy)
    (copy / "app.py").write_text((copy / "app.py").read_text() + "\nimport yaml  # noqa: E402, F401\n")
    template["Resources"]["CaseStepFunction"]["Properties"]["CodeUri"] = str(copy)
    assert measure("CaseStepFunction", template).loads("yaml")
