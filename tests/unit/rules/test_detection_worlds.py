"""The contract rules score precision and recall 1.0 on worlds of several seeds and sizes.

This drives the same code the functions run (file reading, validation, index compilation,
the rule catalog) without AWS around it, so many worlds fit in the test budget; the end-to-end
test runs one world through the whole deployed system.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from accesswatch.contract import CONTRACT_RULES, REFERENCE_FIELDS, ReferenceKind
from accesswatch.detection import detect
from accesswatch.ingest.pipeline import ingest_stream, read_table
from accesswatch.reference.index import build_index
from accesswatch.reference.validate import validate_snapshot
from accesswatch.rules import CATALOG
from accesswatch_tools.world import generate


def _chunks(path: Path):
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


def _findings(world: Path) -> set[tuple[str, str, str]]:
    snapshots = {}
    for path in (world / "reference").iterdir():
        kind = ReferenceKind(path.name.split(".")[0])
        table = read_table(_chunks(path), key=f"reference/{path.name}", fields=REFERENCE_FIELDS[kind],
                           max_decompressed_bytes=1 << 30)
        assert not table.rejected
        assert validate_snapshot(kind, table.rows.drop("__line")).usable
        snapshots[kind] = table.rows.drop("__line")
    index = build_index(snapshots, "test", rules=CATALOG)
    found: set[tuple[str, str, str]] = set()
    for path in sorted((world / "logs").iterdir()):
        parts: list[pl.DataFrame] = []
        report = ingest_stream(_chunks(path), key=f"access-logs/cms/{path.name}", system="cms", partition_rows=50_000,
                               max_decompressed_bytes=1 << 30, sink=lambda s, d, f, n, into=parts: into.append(f))
        assert report.conserved and report.rejected_reason is None
        for part in parts:
            rows = detect(part, index).filter(pl.col("rule").is_in(CONTRACT_RULES))
            found.update(zip(rows["system"], rows["event_id"], rows["rule"], strict=True))
    return found


@pytest.mark.parametrize(("seed", "staff", "clients", "days"), [
    (1, 30, 800, 2), (2, 80, 4000, 3), (3, 150, 9000, 2), (4, 40, 20000, 4),
])
def test_contract_rules_are_exact_on_synthesised_worlds(tmp_path: Path, seed: int, staff: int, clients: int, days: int):
    generate(tmp_path, staff=staff, clients=clients, days=days, seed=seed)
    truth = {(t["system"], t["event_id"], t["rule"])
             for t in map(json.loads, (tmp_path / "truth.jsonl").read_text().splitlines())}
    found = _findings(tmp_path)
    for rule in CONTRACT_RULES:
        expected = {t for t in truth if t[2] == rule}
        got = {f for f in found if f[2] == rule}
        assert expected, f"seed {seed}: the world plants no {rule}"
        assert got == expected, (rule, sorted(got - expected)[:5], sorted(expected - got)[:5])
