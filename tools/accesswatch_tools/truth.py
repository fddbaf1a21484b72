"""Scoring findings against a synthetic world's truth labels (precision and recall per rule)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from accesswatch.contract import CONTRACT_RULES


@dataclass(frozen=True)
class RuleScore:
    rule: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return 1.0 if found == 0 else self.true_positives / found

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return 1.0 if expected == 0 else self.true_positives / expected


def _keys(path: Path) -> set[tuple[str, str, str]]:
    keys = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                keys.add((row.get("system") or "cms", row["event_id"], row["rule"]))
    return keys


def score(findings_path: Path, truth_path: Path, rules: tuple[str, ...] = CONTRACT_RULES) -> dict[str, RuleScore]:
    found = _keys(findings_path)
    truth = _keys(truth_path)
    scores = {}
    for rule in rules:
        f = {k for k in found if k[2] == rule}
        t = {k for k in truth if k[2] == rule}
        scores[rule] = RuleScore(rule, len(f & t), len(f - t), len(t - f))
    return scores


def mismatches(findings_path: Path, truth_path: Path, rule: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(false positives, false negatives) of one rule, for debugging a score."""
    found = {k for k in _keys(findings_path) if k[2] == rule}
    truth = {k for k in _keys(truth_path) if k[2] == rule}
    return sorted(found - truth), sorted(truth - found)
