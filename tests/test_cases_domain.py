"""Cases without AWS: triage, the status flow, the configurable words, the checks on a person's
action, per-rule precision, and case grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accesswatch.cases.actions import (
    CaseActionError,
    decision_output,
    decision_problem,
    outcome_output,
    outcome_problem,
)
from accesswatch.cases.grouping import FindingRef, OpenCase, case_id_for, plan_cases
from accesswatch.cases.precision import rule_precision
from accesswatch.cases.service import CaseFilter, case_record
from accesswatch.cases.vocabulary import (
    DEFAULT_ER_TYPES,
    DEFAULT_OUTCOMES,
    DEFAULT_POLICE_REFERRAL_TYPES,
    CaseVocabulary,
)
from accesswatch.cases.workflow import STATUSES, reached, triage
from accesswatch.config import ConfigError

VOCAB = CaseVocabulary()


# ---------------------------------------------------------------------------- triage
@pytest.mark.parametrize(("rules", "count", "priority", "route"), [
    (["SELF_RECORD"], 1, "high", "integrity"),
    (["SELF_RECORD"], 5, "critical", "integrity"),
    (["SELF_RECORD", "RELATIVE_RECORD"], 2, "critical", "integrity"),
    (["SENSITIVE_LOOKUP"], 1, "low", "manager_review"),  # a lone medium finding: a manager reviews it
    (["SENSITIVE_LOOKUP"], 3, "medium", "integrity"),
    (["SENSITIVE_LOOKUP", "PUBLIC_FIGURE"], 2, "critical", "integrity"),
])
def test_triage_priority_and_route(rules: list[str], count: int, priority: str, route: str) -> None:
    assert triage({"rules": rules, "finding_count": count}) == {
        "priority": priority, "route": route, "rules": rules, "finding_count": count}


def test_the_status_flow_is_a_tree_with_two_closed_leaves() -> None:
    assert reached("closed_founded", "investigating") and reached("closed_founded", "er_case")
    assert reached("closed_unfounded", "decided") and not reached("closed_unfounded", "er_case")
    assert not reached("er_case", "closed_unfounded") and not reached("opened", "triaged")
    assert all(reached(s, s) and reached(s, "opened") for s in STATUSES)


# ---------------------------------------------------------------------------- vocabulary
def test_the_defaults_are_the_template_defaults(root: Path) -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    params = yaml.load((root / "template.yaml").read_text(encoding="utf-8"), Loader=Loader)["Parameters"]  # noqa: S506
    assert tuple(params["CaseErTypes"]["Default"].split(",")) == DEFAULT_ER_TYPES
    assert tuple(params["CaseOutcomes"]["Default"].split(",")) == DEFAULT_OUTCOMES
    assert tuple(params["CasePoliceReferralTypes"]["Default"].split(",")) == DEFAULT_POLICE_REFERRAL_TYPES
    function = yaml.load((root / "template.yaml").read_text(encoding="utf-8"), Loader=Loader)["Resources"][  # noqa: S506
        "CaseStepFunction"]["Properties"]["Environment"]["Variables"]
    assert {"CASE_ER_TYPES", "CASE_OUTCOMES", "CASE_POLICE_REFERRAL_TYPES"} <= set(function)


def test_the_reports_count_the_default_words() -> None:
    from accesswatch.reports import build

    assert build.ER_TYPES == DEFAULT_ER_TYPES and build.OUTCOMES == DEFAULT_OUTCOMES


def test_vocabulary_from_the_environment() -> None:
    vocab = CaseVocabulary.from_env({"CASE_ER_TYPES": " misconduct , Fraud ", "CASE_OUTCOMES": "warning,dismissal",
                                     "CASE_POLICE_REFERRAL_TYPES": "fraud"})
    assert vocab.er_types == ("misconduct", "fraud") and vocab.outcomes == ("warning", "dismissal")
    assert vocab.police_referral_types == frozenset({"fraud"})
    assert CaseVocabulary.from_env({}) == VOCAB
    assert CaseVocabulary.from_env({"CASE_POLICE_REFERRAL_TYPES": ""}).police_referral_types == frozenset()


@pytest.mark.parametrize(("environ", "message"), [
    ({"CASE_ER_TYPES": "a,b", "CASE_POLICE_REFERRAL_TYPES": "c"}, "not ER types: c"),
    ({"CASE_OUTCOMES": ""}, "must name at least one"),
    ({"CASE_OUTCOMES": "warning,warning"}, "names a word twice"),
    ({"CASE_ER_TYPES": "fraud or dishonesty"}, "not lower_snake_case"),
])
def test_a_bad_vocabulary_fails_loudly(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CaseVocabulary.from_env(environ)


# ---------------------------------------------------------------------------- a person's action
def test_decision_and_outcome_checks() -> None:
    assert decision_problem("unfounded", None, VOCAB) is None
    assert decision_problem("unfounded", "", VOCAB) is None
    assert decision_problem("founded", "conflict_of_interest", VOCAB) is None
    assert "needs an ER case type" in str(decision_problem("founded", None, VOCAB))
    assert "takes no ER case type" in str(decision_problem("unfounded", "privacy_breach", VOCAB))
    assert "must be one of founded, unfounded" in str(decision_problem(None, None, VOCAB))
    assert outcome_problem("dismissal", VOCAB) is None
    assert "outcome must be one of" in str(outcome_problem("DISMISSAL", VOCAB))
    custom = CaseVocabulary(case_er_types=("theft",), case_outcomes=("sacked",), case_police_referral_types=())
    assert decision_problem("founded", "theft", custom) is None
    assert decision_problem("founded", "fraud_or_dishonesty", custom) is not None


def test_actions_need_the_case_waiting_on_that_step() -> None:
    case = {"case_id": "CASE-1", "status": "investigating", "task_token": "tok"}
    token, output = decision_output(case, decision="founded", er_type="privacy_breach", note="n", actor="me",
                                    vocabulary=VOCAB)
    assert token == "tok"
    assert output == {"decision": "founded", "er_type": "privacy_breach", "note": "n", "actor": "me"}
    with pytest.raises(CaseActionError, match="is investigating, not waiting for an ER outcome"):
        outcome_output(case, outcome="dismissal", note="", actor="me", vocabulary=VOCAB)
    with pytest.raises(CaseActionError, match="between steps"):
        decision_output({**case, "task_token": ""}, decision="unfounded", er_type=None, note="", actor="me",
                        vocabulary=VOCAB)
    with pytest.raises(CaseActionError, match="closed_founded, not waiting for a decision .it is closed"):
        decision_output({**case, "status": "closed_founded"}, decision="unfounded", er_type=None, note="",
                        actor="me", vocabulary=VOCAB)
    with pytest.raises(CaseActionError, match="--actor must not be empty"):
        decision_output(case, decision="unfounded", er_type=None, note="", actor=" ", vocabulary=VOCAB)
    with pytest.raises(CaseActionError, match="--note is longer"):
        decision_output(case, decision="unfounded", er_type=None, note="x" * 2001, actor="me", vocabulary=VOCAB)
    waiting = {"case_id": "CASE-2", "status": "awaiting_outcome", "task_token": "t2"}
    assert outcome_output(waiting, outcome="written_warning", note="", actor="er", vocabulary=VOCAB) == (
        "t2", {"outcome": "written_warning", "note": "", "actor": "er"})


# ---------------------------------------------------------------------------- precision
def test_rule_precision_from_decisions() -> None:
    cases = [
        {"rules": ["SELF_RECORD"], "decision": "founded"},
        {"rules": ["SELF_RECORD", "SENSITIVE_LOOKUP"], "decision": "unfounded"},
        {"rules": ["SELF_RECORD"], "decision": "founded"},
        {"rules": ["SENSITIVE_LOOKUP"]},  # undecided: not counted in precision
        {"rules": ["PUBLIC_FIGURE", "PUBLIC_FIGURE"], "decision": "unfounded"},
    ]
    rows = {r.rule: r for r in rule_precision(cases)}
    assert list(rows) == ["PUBLIC_FIGURE", "SELF_RECORD", "SENSITIVE_LOOKUP"]
    assert (rows["SELF_RECORD"].founded, rows["SELF_RECORD"].unfounded) == (2, 1)
    assert rows["SELF_RECORD"].precision == pytest.approx(2 / 3)
    assert rows["SENSITIVE_LOOKUP"].as_dict() == {"rule": "SENSITIVE_LOOKUP", "founded": 0, "unfounded": 1,
                                                  "undecided": 1, "decided": 1, "precision": 0.0}
    assert rows["PUBLIC_FIGURE"].unfounded == 1  # a rule counts once per case
    assert rule_precision([{"rules": ["X"]}])[0].precision is None
    assert rule_precision([]) == []


@given(st.lists(st.tuples(st.sets(st.sampled_from(["A", "B", "C"]), min_size=1),
                          st.sampled_from(["founded", "unfounded", None]))))
def test_precision_is_a_share_of_the_decided_cases(spec: list[tuple[set[str], str | None]]) -> None:
    cases = [{"rules": sorted(rules), "decision": decision} for rules, decision in spec]
    for row in rule_precision(cases):
        having = [c for c in cases if row.rule in c["rules"]]
        assert row.founded + row.unfounded + row.undecided == len(having)
        if row.precision is not None:
            assert 0.0 <= row.precision <= 1.0
            assert row.precision == row.founded / (row.founded + row.unfounded)


# ---------------------------------------------------------------------------- listing
def test_filters_and_the_exported_shape() -> None:
    case = {"case_id": "CASE-1", "user_id": "u1", "client_id": "007", "status": "investigating",
            "priority": "high", "rules": ["SELF_RECORD"], "finding_ids": ["f2", "f1"], "opened_at": "2025",
            "task_token": "secret-ish", "decision_due_at": "2026", "pending_history": {"sk": "x"}}
    assert CaseFilter()(case) and CaseFilter(status="investigating", user="u1", rule="SELF_RECORD",
                                             priority="high")(case)
    assert not CaseFilter(rule="PUBLIC_FIGURE")(case) and not CaseFilter(user="u2")(case)
    record = case_record(case)
    assert list(record)[:8] == ["case_id", "user_id", "client_id", "status", "priority", "rules", "finding_ids",
                                "opened_at"]
    assert record["finding_ids"] == ["f1", "f2"] and record["client_id"] == "007"
    assert "task_token" not in record and "pending_history" not in record and record["decision_due_at"] == "2026"


# ---------------------------------------------------------------------------- grouping
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def ref(n: int, days: float = 0, rule: str = "SELF_RECORD") -> FindingRef:
    return FindingRef(f"f{n:03d}", rule, "high", T0 + timedelta(days=days))


def test_findings_within_the_window_join_one_case_and_a_cap_opens_the_next() -> None:
    plans = plan_cases("u1", "c1", [ref(1), ref(2, 3), ref(3, 29.9), ref(4, 31)], None,
                       window=timedelta(days=30), cap=200)
    assert [(p.opens, [f.finding_id for f in p.findings]) for p in plans] == [
        (True, ["f001", "f002", "f003"]), (True, ["f004"])]
    assert plans[0].case_id == case_id_for("u1", "c1", "f001")
    capped = plan_cases("u1", "c1", [ref(n, n / 10) for n in range(5)], None, window=timedelta(days=30), cap=2)
    assert [len(p.findings) for p in capped] == [2, 2, 1]
    joined = plan_cases("u1", "c1", [ref(9, 2)], OpenCase("CASE-OPEN", T0, 1), window=timedelta(days=30), cap=200)
    assert [(p.case_id, p.opens) for p in joined] == [("CASE-OPEN", False)]


@settings(max_examples=50)
@given(st.lists(st.floats(min_value=0, max_value=120), min_size=1, max_size=12, unique=True), st.randoms())
def test_planning_is_the_same_in_any_order(days: list[float], rnd: object) -> None:
    refs = [ref(n, d) for n, d in enumerate(days)]
    shuffled = list(refs)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first = plan_cases("u", "c", refs, None, window=timedelta(days=30), cap=3)
    again = plan_cases("u", "c", shuffled, None, window=timedelta(days=30), cap=3)
    assert [(p.case_id, p.findings) for p in first] == [(p.case_id, p.findings) for p in again]
    assert sum(len(p.findings) for p in first) == len(refs)
