"""Cases without AWS: triage, the status flow, the configurable words, the checks on a person's
action (per-rule verdicts and reasons), per-rule precision, exceptions, ranking and the exported shape."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from accesswatch.cases.actions import (
    CaseActionError,
    decision_output,
    decision_problem,
    outcome_output,
    outcome_problem,
)
from accesswatch.cases.exceptions import ExceptionError, active, new_exception, suppressing
from accesswatch.cases.precision import rule_precision
from accesswatch.cases.service import CaseFilter, case_record, rank_key
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
def test_triage_carries_the_routed_priority_tier_and_score_ids_and_counts_only() -> None:
    case = {"case_id": "CASE-1", "rules": ["SENSITIVE_LOOKUP", "SELF_RECORD"], "finding_count": 3,
            "priority": "critical", "tier": "immediate", "score": 12.3456, "client_ids": ["001", "002"],
            "trigger": "immediate", "user_id": "u1"}
    assert triage(case) == {"priority": "critical", "route": "integrity", "rules": ["SELF_RECORD", "SENSITIVE_LOOKUP"],
                            "finding_count": 3, "tier": "immediate", "score": 12.35, "clients": 2,
                            "trigger": "immediate", "source": "detection"}
    # a case stored before routing set a priority still triages
    assert triage({"rules": ["SENSITIVE_LOOKUP"], "finding_count": 2})["priority"] == "medium"


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
    assert decision_problem("unfounded", None, VOCAB, reason="legitimate_work") is None
    assert decision_problem("unfounded", "", VOCAB, reason="duplicate") is None
    assert "needs a reason" in str(decision_problem("unfounded", None, VOCAB))
    assert "needs a reason" in str(decision_problem("unfounded", None, VOCAB, reason="because"))
    assert decision_problem("founded", "conflict_of_interest", VOCAB) is None
    assert "needs an ER case type" in str(decision_problem("founded", None, VOCAB))
    assert "takes no ER case type" in str(decision_problem("unfounded", "privacy_breach", VOCAB, reason="duplicate"))
    assert "must be one of founded, unfounded" in str(decision_problem(None, None, VOCAB))
    assert outcome_problem("dismissal", VOCAB) is None
    assert "outcome must be one of" in str(outcome_problem("DISMISSAL", VOCAB))
    custom = CaseVocabulary(case_er_types=("theft",), case_outcomes=("sacked",), case_police_referral_types=())
    assert decision_problem("founded", "theft", custom) is None
    assert decision_problem("founded", "fraud_or_dishonesty", custom) is not None


def test_per_rule_verdicts() -> None:
    rules = ["SELF_RECORD", "SENSITIVE_LOOKUP"]
    mixed = {"SELF_RECORD": {"decision": "founded"},
             "SENSITIVE_LOOKUP": {"decision": "unfounded", "reason": "legitimate_work"}}
    assert decision_problem("founded", "privacy_breach", VOCAB, rule_decisions=mixed, rules=rules) is None
    assert "cannot have founded rules" in str(decision_problem("unfounded", None, VOCAB, reason="duplicate",
                                                               rule_decisions=mixed, rules=rules))
    all_unfounded = {r: {"decision": "unfounded", "reason": "duplicate"} for r in rules}
    assert "at least one founded rule" in str(decision_problem("founded", "privacy_breach", VOCAB,
                                                               rule_decisions=all_unfounded, rules=rules))
    assert "missing SENSITIVE_LOOKUP" in str(decision_problem("founded", "privacy_breach", VOCAB,
                                                              rule_decisions={"SELF_RECORD": {"decision": "founded"}},
                                                              rules=rules))
    no_reason = {**mixed, "SENSITIVE_LOOKUP": {"decision": "unfounded"}}
    assert "needs a reason" in str(decision_problem("founded", "privacy_breach", VOCAB, rule_decisions=no_reason,
                                                    rules=rules))


def test_actions_need_the_case_waiting_on_that_step() -> None:
    case = {"case_id": "CASE-1", "status": "investigating", "task_token": "tok", "rules": ["SELF_RECORD"]}
    token, output = decision_output(case, decision="founded", er_type="privacy_breach", note="n", actor="me",
                                    vocabulary=VOCAB)
    assert token == "tok"
    assert output == {"decision": "founded", "er_type": "privacy_breach", "note": "n", "actor": "me",
                      "rule_decisions": {"SELF_RECORD": {"decision": "founded"}}}
    token, output = decision_output(case, decision="unfounded", er_type=None, note="", actor="me", vocabulary=VOCAB,
                                    reason="rule_too_broad")
    assert output["reason"] == "rule_too_broad"
    assert output["rule_decisions"] == {"SELF_RECORD": {"decision": "unfounded", "reason": "rule_too_broad"}}
    with pytest.raises(CaseActionError, match="is investigating, not waiting for an ER outcome"):
        outcome_output(case, outcome="dismissal", note="", actor="me", vocabulary=VOCAB)
    with pytest.raises(CaseActionError, match="between steps"):
        decision_output({**case, "task_token": ""}, decision="unfounded", er_type=None, note="", actor="me",
                        vocabulary=VOCAB, reason="duplicate")
    with pytest.raises(CaseActionError, match="closed_founded, not waiting for a decision .it is closed"):
        decision_output({**case, "status": "closed_founded"}, decision="unfounded", er_type=None, note="",
                        actor="me", vocabulary=VOCAB, reason="duplicate")
    with pytest.raises(CaseActionError, match="the actor must not be empty"):
        decision_output(case, decision="unfounded", er_type=None, note="", actor=" ", vocabulary=VOCAB,
                        reason="duplicate")
    with pytest.raises(CaseActionError, match="--note is longer"):
        decision_output(case, decision="unfounded", er_type=None, note="x" * 2001, actor="me", vocabulary=VOCAB,
                        reason="duplicate")
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


def test_precision_credits_only_the_rules_that_were_right() -> None:
    """A case founded for SELF_RECORD whose SENSITIVE_LOOKUP findings were legitimate work."""
    case = {"rules": ["SELF_RECORD", "SENSITIVE_LOOKUP"], "decision": "founded",
            "rule_decisions": {"SELF_RECORD": {"decision": "founded"},
                               "SENSITIVE_LOOKUP": {"decision": "unfounded", "reason": "legitimate_work"}}}
    rows = {r.rule: r for r in rule_precision([case])}
    assert rows["SELF_RECORD"].precision == 1.0 and rows["SENSITIVE_LOOKUP"].precision == 0.0


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
def test_filters_ranking_and_the_exported_shape() -> None:
    case = {"case_id": "CASE-1", "user_id": "u1", "client_ids": ["007", "003"], "status": "investigating",
            "priority": "high", "score": 11.123456, "tier": "immediate", "rules": ["SELF_RECORD"],
            "finding_ids": ["f2", "f1"], "opened_at": "2025", "task_token": "secret-ish", "decision_due_at": "2026",
            "pending_history": {"sk": "x"}, "parts": ["f1|SELF_RECORD|007|10.0"]}
    assert CaseFilter()(case) and CaseFilter(status="investigating", user="u1", rule="SELF_RECORD",
                                             priority="high", tier="immediate", client="003")(case)
    assert not CaseFilter(rule="PUBLIC_FIGURE")(case) and not CaseFilter(user="u2")(case)
    assert not CaseFilter(tier="accumulate")(case) and not CaseFilter(client="999")(case)
    record = case_record(case)
    # data contract v2, "Cases": at least these fields
    assert list(record)[:10] == ["case_id", "user_id", "status", "priority", "score", "tier", "rules", "client_ids",
                                 "finding_ids", "opened_at"]
    assert record["finding_ids"] == ["f1", "f2"] and record["client_ids"] == ["003", "007"]
    assert record["score"] == 11.1235
    assert "task_token" not in record and "pending_history" not in record and "parts" not in record
    assert record["decision_due_at"] == "2026"
    ranked = sorted([{"case_id": "a", "status": "closed_founded", "priority": "critical", "score": 99},
                     {"case_id": "b", "status": "investigating", "priority": "medium", "score": 50},
                     {"case_id": "c", "status": "investigating", "priority": "high", "score": 9},
                     {"case_id": "d", "status": "investigating", "priority": "high", "score": 20}], key=rank_key)
    assert [c["case_id"] for c in ranked] == ["d", "c", "b", "a"]


# ---------------------------------------------------------------------------- exceptions
def test_exceptions_are_checked_and_suppress_only_accumulate_tier_findings_in_scope() -> None:
    from datetime import date

    today = date(2025, 3, 4)
    make = dict(expires_on="2025-06-30", reason="contact centre", actor="inv", today=today,
                created_at="2025-03-04T00:00:00Z")
    exc = new_exception(user_id="u1", client_id=None, rule="SENSITIVE_LOOKUP", **make)  # type: ignore[arg-type]
    assert exc["exception_id"].startswith("EXC-") and "client_id" not in exc
    lookup = {"rule": "SENSITIVE_LOOKUP", "user_id": "u1", "client_id": "c1"}
    assert suppressing(lookup, [exc]) == exc["exception_id"]
    assert suppressing({**lookup, "user_id": "u2"}, [exc]) is None
    everyone = new_exception(user_id=None, client_id="c1", rule=None, **make)  # type: ignore[arg-type]
    assert suppressing({"rule": "SELF_RECORD", "user_id": "u1", "client_id": "c1"}, [everyone]) is None
    assert active([exc, {**exc, "revoked_at": "x"}, {**exc, "expires_on": "2025-03-03"}], today) == [exc]
    for kwargs, message in [
        ({"user_id": None, "client_id": None, "rule": None}, "needs a scope"),
        ({"user_id": "u1", "client_id": None, "rule": "SELF_RECORD"}, "immediate-tier rule"),
        ({"user_id": "u1", "client_id": None, "rule": "OUT_OF_HOURS_SENSITIVE"}, "record-tier rule"),
        ({"user_id": "u1", "client_id": None, "rule": "sensitive_lookup"}, "unknown rule"),
        ({"user_id": "u1", "client_id": None, "rule": None, "expires_on": "2025-03-01"}, "in the past"),
        ({"user_id": "u1", "client_id": None, "rule": None, "expires_on": "2027-01-01"}, "more than 366 days"),
        ({"user_id": "u1", "client_id": None, "rule": None, "expires_on": "30/6/2025"}, "not a date"),
        ({"user_id": "u1", "client_id": None, "rule": None, "reason": " "}, "must say why"),
    ]:
        with pytest.raises(ExceptionError, match=message):
            new_exception(**{**make, **kwargs})  # type: ignore[arg-type]
