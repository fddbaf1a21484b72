"""Per-rule precision from investigators' decisions: founded / (founded + unfounded).

A decided case counts once for each rule among its findings, with that rule's own verdict
(``rule_decisions``: a case founded for SELF_RECORD may be unfounded for its SENSITIVE_LOOKUP findings);
a case decided before per-rule verdicts existed counts its decision for every rule. Undecided cases do
not count. Pure: cases in, numbers out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accesswatch.cases.scoring import ScoringSettings


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
        for rule, verdict in rule_verdicts(case).items():
            column = 0 if verdict == "founded" else 1 if verdict == "unfounded" else 2
            counts.setdefault(rule, [0, 0, 0])[column] += 1
    return [RulePrecision(rule, *counts[rule]) for rule in sorted(counts)]


def rule_verdicts(case: Mapping[str, Any]) -> dict[str, str]:
    """rule -> founded / unfounded / undecided for one case."""
    decision = case.get("decision")
    per_rule = case.get("rule_decisions") if isinstance(case.get("rule_decisions"), Mapping) else {}
    out = {}
    for rule in set(case.get("rules") or ()):
        verdict = per_rule.get(rule) if per_rule else None
        value = verdict.get("decision") if isinstance(verdict, Mapping) else None
        if value not in ("founded", "unfounded"):
            value = decision if decision in ("founded", "unfounded") else "undecided"
        out[str(rule)] = str(value)
    return out


def weights_in_force(rows: Iterable[RulePrecision], settings: ScoringSettings,
                     stats: Mapping[str, tuple[int, int]]) -> dict[str, dict[str, Any]]:
    """rule -> {"weight": the weight in force (as detection reads it), "flagged": flagged for demotion to
    staging}, for each row; ``settings``: the detect function's scoring settings, ``stats``: rule ->
    (founded, unfounded) as detection reads them (``CaseService.rule_counts``)."""
    from accesswatch.cases.scoring import flagged_for_demotion, precision_weights

    in_force = precision_weights(settings, stats)
    return {r.rule: {"weight": in_force.get(r.rule, 0.0),
                     "flagged": flagged_for_demotion(r.founded, r.unfounded, settings.case_precision_min_decisions)}
            for r in rows}
