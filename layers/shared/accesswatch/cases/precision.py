"""Per-rule precision from investigators' decisions: founded / (founded + unfounded).

A decided case counts once for each rule among its findings: founded as a true positive of the
rule, unfounded as a false positive. Undecided cases do not count. Pure: cases in, numbers out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RulePrecision:
    rule: str
    founded: int
    unfounded: int
    undecided: int

    @property
    def decided(self) -> int:
        return self.founded + self.unfounded

    @property
    def precision(self) -> float | None:
        """None until the rule has a decided case."""
        return self.founded / self.decided if self.decided else None

    def as_dict(self) -> dict[str, Any]:
        precision = self.precision
        return {**asdict(self), "decided": self.decided,
                "precision": None if precision is None else round(precision, 4)}


def rule_precision(cases: Iterable[Mapping[str, Any]]) -> list[RulePrecision]:
    """One row per rule seen on any case, by rule id."""
    counts: dict[str, list[int]] = {}
    for case in cases:
        decision = case.get("decision")
        column = 0 if decision == "founded" else 1 if decision == "unfounded" else 2
        for rule in set(case.get("rules") or ()):
            counts.setdefault(str(rule), [0, 0, 0])[column] += 1
    return [RulePrecision(rule, *counts[rule]) for rule in sorted(counts)]
