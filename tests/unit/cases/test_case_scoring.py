"""Risk scores without AWS: a finding's score, diminishing returns, breadth, the rolling window, the
threshold that one finding alone never crosses, and precision scaling a rule's weight."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accesswatch.cases.scoring import (
    DEFAULT_RULE_WEIGHTS,
    MODIFIERS,
    Scored,
    ScoringSettings,
    combine,
    crosses,
    flagged_for_demotion,
    precision_factor,
    precision_weights,
    priority,
    score_finding,
    strongest_window,
)
from accesswatch.config import ConfigError
from accesswatch.rules import CATALOG, TIER_OF

T0 = datetime(2025, 3, 3, 22, 0, tzinfo=UTC)
SETTINGS = ScoringSettings()


def lookup(i: int, client: str, *, hours: float = 0, modifiers: str = "", rule: str = "SENSITIVE_LOOKUP") -> dict:
    return {"finding_id": f"f{i:04d}", "rule": rule, "client_id": client, "modifiers": modifiers,
            "occurred_at_utc": (T0 + timedelta(hours=hours)).isoformat()}


def scored(*findings: dict) -> list[Scored]:
    return [score_finding(f, SETTINGS) for f in findings]


def test_every_catalog_rule_has_a_tier_and_a_default_weight():
    assert {r.id for r in CATALOG} <= set(DEFAULT_RULE_WEIGHTS)
    assert TIER_OF["SELF_RECORD"] == "immediate" and TIER_OF["SENSITIVE_LOOKUP"] == "accumulate"
    assert {TIER_OF[r.id] for r in CATALOG if r.status == "staging"} == {"record"}
    assert {TIER_OF[r.id] for r in CATALOG if r.status == "live" and r.severity.value == "high"} == {"immediate"}


def test_a_findings_score_is_its_weight_times_its_modifiers_within_the_cap():
    plain = score_finding(lookup(1, "c1"), SETTINGS)
    assert plain.score == 1.0 and plain.modifiers == ()
    ird = score_finding(lookup(2, "c1", modifiers="ird_number_screen,out_of_hours"), SETTINGS)
    assert ird.score == pytest.approx(1.0 * 1.5 * 1.5) and ird.modifiers == ("ird_number_screen", "out_of_hours")
    everything = score_finding(lookup(3, "c1", modifiers=",".join(MODIFIERS)), SETTINGS)
    assert everything.score == SETTINGS.case_modifier_cap  # capped
    assert score_finding(lookup(4, "c1", rule="SELF_RECORD"), SETTINGS).score == DEFAULT_RULE_WEIGHTS["SELF_RECORD"]


def test_repeat_looks_at_one_client_add_less_and_less_and_breadth_counts():
    one_client = combine(scored(*(lookup(i, "c1") for i in range(10)))).total
    ten_clients = combine(scored(*(lookup(i, f"c{i}") for i in range(10)))).total
    assert one_client < 2.62  # sum of 1/k**1.5 converges (zeta(1.5) ~ 2.612)
    assert ten_clients > 2 * one_client  # another client is nearly independent evidence
    # every further finding still adds something, and less than the one before
    totals = [combine(scored(*(lookup(i, f"c{i}") for i in range(n)))).total for n in range(1, 12)]
    steps = [b - a for a, b in zip(totals, totals[1:], strict=False)]
    assert all(s > 0 for s in steps) and all(b < a for a, b in zip(steps, steps[1:], strict=False))


def test_the_breakdown_adds_up_to_the_total_strongest_first():
    findings = scored(lookup(1, "c1", modifiers="ird_number_screen"), lookup(2, "c1"), lookup(3, "c2"),
                      lookup(4, "c3", rule="SELF_RECORD"))
    breakdown = combine(findings)
    assert sum(c.points for c in breakdown.contributions) == pytest.approx(breakdown.total)
    assert [c.finding_id for c in breakdown.contributions][0] == "f0004"
    points = [c.points for c in breakdown.contributions]
    assert points == sorted(points, reverse=True)
    assert set(breakdown.by_rule()) == {"SELF_RECORD", "SENSITIVE_LOOKUP"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["", "ird_number_screen", "out_of_hours,bulk_action"])),
                min_size=1, max_size=25), st.randoms())
def test_the_total_is_the_same_in_any_order(specs: list[tuple[int, str]], rnd: random.Random):
    findings = scored(*(lookup(i, f"c{c}", modifiers=m) for i, (c, m) in enumerate(specs)))
    shuffled = list(findings)
    rnd.shuffle(shuffled)
    assert combine(shuffled).total == pytest.approx(combine(findings).total)
    assert combine(shuffled).contributions == combine(findings).contributions


def test_the_window_slides_with_event_time():
    # 12 clients looked up, 6 in each of two bursts 10 days apart: no 7-day window holds all of them.
    burst = [lookup(i, f"c{i}", hours=i) for i in range(6)] + [lookup(6 + i, f"d{i}", hours=240 + i) for i in range(6)]
    best = strongest_window(scored(*burst), SETTINGS.window)
    assert best is not None and len(best.finding_ids) == 6
    together = [lookup(i, f"c{i}", hours=i) for i in range(12)]
    assert strongest_window(scored(*together), SETTINGS.window).score > best.score
    # the window is (end - 7 days, end]: a finding exactly 7 days older is out
    edge = scored(lookup(1, "a"), lookup(2, "b", hours=7 * 24))
    assert strongest_window(edge, SETTINGS.window).findings == 1


def test_a_lone_accumulate_finding_never_crosses_and_the_settings_forbid_it():
    strongest = lookup(1, "c1", modifiers=",".join(MODIFIERS))
    assert crosses(scored(strongest), SETTINGS) is None
    # even with the largest precision factor, one finding stays below the threshold
    assert SETTINGS.max_accumulate_finding_score < SETTINGS.case_threshold
    with pytest.raises(ConfigError, match="one such finding alone never opens a case"):
        ScoringSettings.from_env({"CASE_THRESHOLD": "5"})
    with pytest.raises(ConfigError, match="one such finding alone"):
        ScoringSettings.from_env({"CASE_RULE_WEIGHTS": "SENSITIVE_LOOKUP=2"})


def test_settings_from_the_environment_and_their_errors():
    custom = ScoringSettings.from_env({"CASE_THRESHOLD": "12", "CASE_RULE_WEIGHTS": "SENSITIVE_LOOKUP=1.5",
                                       "CASE_MODIFIERS": "out_of_hours=2", "CASE_WINDOW_DAYS": "14",
                                       "CASE_DAILY_BUDGET": "5", "CASE_RULE_WEIGHTS_UNUSED": "x"})
    assert custom.rule_weights["SENSITIVE_LOOKUP"] == 1.5 and custom.multipliers["out_of_hours"] == 2
    assert custom.window == timedelta(days=14) and custom.case_daily_budget == 5
    assert ScoringSettings.from_env({"CASE_RULE_WEIGHTS": "", "CASE_MODIFIERS": ""}) == ScoringSettings()
    for env, message in [({"CASE_RULE_WEIGHTS": "NOT_A_RULE=2"}, "catalog does not have"),
                         ({"CASE_MODIFIERS": "moon_phase=2"}, "do not exist"),
                         ({"CASE_MODIFIERS": "out_of_hours=0.5"}, "at least 1"),
                         ({"CASE_RULE_WEIGHTS": "SELF_RECORD"}, "NAME=NUMBER")]:
        with pytest.raises(ConfigError, match=message):
            ScoringSettings.from_env(env)


def test_crossing_needs_several_findings_over_the_threshold():
    few = scored(*(lookup(i, f"c{i}") for i in range(5)))
    assert crosses(few, SETTINGS) is None
    many = scored(*(lookup(i, f"c{i}", modifiers="ird_number_screen") for i in range(14)))
    crossing = crosses(many, SETTINGS)
    assert crossing is not None and crossing.score >= SETTINGS.case_threshold and crossing.findings == 14


def test_precision_scales_a_weight_once_there_are_enough_decisions():
    assert precision_factor(1, 0, 20) == 1.0  # too few decisions: the configured weight
    assert precision_factor(19, 1, 20) == pytest.approx(1.9)
    assert precision_factor(1, 19, 20) == pytest.approx(0.25)  # floor
    assert precision_factor(20, 0, 20) == 2.0  # ceiling
    weights = precision_weights(SETTINGS, {"SENSITIVE_LOOKUP": (2, 18), "SELF_RECORD": (10, 0)})
    assert weights["SENSITIVE_LOOKUP"] == pytest.approx(0.25)
    assert weights["SELF_RECORD"] == DEFAULT_RULE_WEIGHTS["SELF_RECORD"]  # 10 decisions: unchanged
    assert flagged_for_demotion(1, 19, 20) and not flagged_for_demotion(1, 18, 20) and not flagged_for_demotion(2, 18, 20)


def test_priority_from_tier_score_and_rules():
    self_only = combine(scored(lookup(1, "c1", rule="SELF_RECORD")))
    two_rules = combine(scored(lookup(1, "c1", rule="SELF_RECORD"), lookup(2, "c2", rule="RELATIVE_RECORD")))
    assert priority("immediate", self_only, 8) == "high"
    assert priority("immediate", two_rules, 8) == "critical"
    lookups = combine(scored(*(lookup(i, f"c{i}", modifiers="ird_number_screen") for i in range(14))))
    assert priority("accumulate", lookups, 8) == "medium"
    assert priority("accumulate", lookups, 4) == "high"
    assert priority("accumulate", lookups, 8, "random_review") == "low"
