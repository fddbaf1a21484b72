"""A rule is one file: a new module in the rules package is in the catalog, its pair links in the
reference index and its samples run, with nothing else edited (the README's example included)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.rule_samples import run_sample, samples_of, world_index

from accesswatch import rules
from accesswatch.detection import detect
from accesswatch.rules import CATALOG, events_frame
from accesswatch.rules.base import ev

# A throwaway pair rule, written as a new file would be: attributes, a links hook, samples.
PROBE = '''
"""PROBE_DECLARED (staging): a pair rule written by tests/unit/rules/test_rule_discovery.py."""

from __future__ import annotations

import polars as pl

from accesswatch.contract import Severity
from accesswatch.reference.index import LinkContext
from accesswatch.rules._pairs import ConflictPairRule
from accesswatch.rules.base import Sample, ev, json_object
from accesswatch.rules.self_record import SelfRecord  # noqa: F401  (imported, not defined here)


class ProbeDeclared(ConflictPairRule):
    """Every declared (user, client) pair. Rationale: a probe. Severity: low. Known false positives: all."""

    id = "PROBE_DECLARED"
    severity = Severity.LOW
    status = "staging"
    description = "a declared pair (test probe)"

    def links(self, context: LinkContext) -> pl.DataFrame:
        return context.declarations.select(
            "user_id",
            "client_id",
            pl.lit("declared pair (probe)").alias("explanation"),
            json_object(("declarations_row", pl.col("row"))).alias("evidence"),
        )


POSITIVE = (Sample("declared pair", (ev("q1", "u.alice", "000600"),), frozenset({"q1"})),)
NEGATIVE = (Sample("another user", (ev("q2", "u.bob", "000600"),), frozenset()),)
'''


def _add_module(folder: Path, name: str, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Place a module file in a folder that is part of the rules package (as a new file would be)."""
    (folder / f"{name}.py").write_text(text)
    monkeypatch.setattr(rules, "__path__", [*rules.__path__, str(folder)])
    importlib.invalidate_caches()


@pytest.fixture
def probe_folder(tmp_path: Path) -> Iterator[Path]:
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("accesswatch.rules."):
            del sys.modules[name]


def test_a_new_rule_module_is_picked_up(probe_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _add_module(probe_folder, "probe_declared", PROBE, monkeypatch)
    catalog = rules.discover()

    ids = [r.id for r in catalog]
    assert [i for i in ids if i != "PROBE_DECLARED"] == [r.id for r in CATALOG]
    probe = catalog[ids.index("PROBE_DECLARED")]
    assert probe.tier() == "record"
    assert ids.index("PROBE_DECLARED") >= len(rules.LIVE_RULES)  # staging rules follow the live ones

    # its links hook fills the index's conflicts; the other rules' rows are untouched
    with_probe, without = world_index(rules=catalog), world_index()
    assert with_probe.counts["conflicts.PROBE_DECLARED"] == 1
    assert with_probe.conflicts.filter(with_probe.conflicts["rule"] != "PROBE_DECLARED").equals(without.conflicts)

    samples = samples_of(probe)
    assert samples["POSITIVE"] and samples["NEGATIVE"]
    for group in samples.values():
        for sample in group:
            run_sample(probe, sample, rules=catalog)
    found = detect(events_frame([ev("q3", "u.alice", "000600")]), with_probe, catalog)
    assert "PROBE_DECLARED" in set(found["rule"])


def test_a_rule_id_defined_twice_is_refused(probe_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    twin = PROBE.replace('id = "PROBE_DECLARED"', 'id = "SELF_RECORD"')
    _add_module(probe_folder, "probe_twin", twin, monkeypatch)
    with pytest.raises(ValueError, match="SELF_RECORD"):
        rules.discover()


def test_the_readme_example_rule_is_one_file(probe_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Adding a rule", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    _add_module(probe_folder, "late_night_view", code, monkeypatch)
    catalog = rules.discover()
    example = next(r for r in catalog if r.id == "LATE_NIGHT_VIEW")
    assert example.tier() == "record" and len(catalog) == len(CATALOG) + 1
    for group in samples_of(example).values():
        for sample in group:
            run_sample(example, sample, rules=catalog)


def test_the_catalog_is_every_rule_module() -> None:
    """Each rule lives in a module of its own; bases and helpers define no rule."""
    modules = sorted(type(r).__module__ for r in CATALOG)
    assert len(modules) == len(set(modules))
    assert "accesswatch.rules.samples" not in sys.modules
