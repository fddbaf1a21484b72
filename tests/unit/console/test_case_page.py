"""The case page's pure parts: findings grouped by client and rule (strongest first), the history's lines, the
actions each role has at each status, the decide/outcome forms as the service's arguments, and the page
rendered (escaped, with ids the tests and the browser test find)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from accesswatch.cases.vocabulary import CaseVocabulary
from accesswatch.console.markup import render
from accesswatch.console.pages.case import (
    VERDICTS,
    FormProblem,
    available_actions,
    case_view,
    checked_case_id,
    decision_form,
    directory_of,
    evidence_items,
    finding_groups,
    history_rows,
    in_progress,
    outcome_form,
    teams_of,
    verdict_field,
)
from accesswatch.console.principal import Principal
from accesswatch.console.roles import Role
from accesswatch.console.web import NotFound

INVESTIGATOR = Principal(user_id="u-inv", roles=frozenset({Role.INVESTIGATOR}), local=True)
ADVISER = Principal(user_id="u-er", roles=frozenset({Role.ER_ADVISER}), local=False)
BOTH = Principal(user_id="u-both", roles=frozenset({Role.INVESTIGATOR, Role.ER_ADVISER}), local=False)
OFFICER = Principal(user_id="u-po", roles=frozenset({Role.PRIVACY_OFFICER}), local=False)
VOCABULARY = CaseVocabulary()


def finding(fid: str, client: str, rule: str, points: float, **extra: Any) -> dict[str, Any]:
    return {"finding_id": fid, "client_id": client, "rule": rule, "points": points, "score": points,
            "severity": "high", "occurred_at": f"2025-04-01T0{len(fid) % 10}:00:00Z", "event_id": f"e-{fid}",
            "system": "cms", "explanation": f"why {fid}", "evidence": {"row": 3}, "modifiers": [], **extra}


def shown_case(**extra: Any) -> dict[str, Any]:
    """A case as CaseService.show gives it: 2 of 4 findings shown (strongest first), three groups."""
    return {
        "case_id": "CASE-0123456789ABCDEF", "user_id": "u100", "status": "investigating", "priority": "high",
        "score": 20.5, "tier": "immediate", "rules": ["PUBLIC_FIGURE", "SELF_RECORD"],
        "client_ids": ["c1", "c2", "c3"], "finding_ids": ["f1", "f2", "f3", "f4"], "opened_at": "2026-11-30T01:00:00Z",
        "trigger": "immediate", "source": "detection", "decision_due_at": "2026-12-14T01:00:00Z",
        "score_breakdown": {"total": 20.5, "by_rule": {"SELF_RECORD": 15.0, "PUBLIC_FIGURE": 5.5},
                            "by_client_and_rule": [
                                {"client_id": "c1", "rule": "SELF_RECORD", "findings": 2, "points": 15.0},
                                {"client_id": "c2", "rule": "PUBLIC_FIGURE", "findings": 1, "points": 4.0},
                                {"client_id": "c3", "rule": "PUBLIC_FIGURE", "findings": 1, "points": 1.5}]},
        "findings_shown": 2, "findings_total": 4,
        "findings": [finding("f1", "c1", "SELF_RECORD", 10.0), finding("f2", "c2", "PUBLIC_FIGURE", 4.0),
                     finding("f3", "c1", "SELF_RECORD", 5.0)],
        "history": [{"at": "2026-11-30T01:00:00Z", "state": "opened", "actor": "accesswatch", "note": "opened",
                     "finding_ids": ["f1"]},
                    {"at": "2026-11-30T01:05:00Z", "state": "joined", "actor": "accesswatch", "note": "",
                     "finding_ids": ["f2", "f3", "f4"], "client_ids": ["c2", "c3"]}],
        **extra,
    }


# ------------------------------------------------------------------------------------------------ grouping
def test_findings_are_grouped_by_client_and_rule_strongest_group_and_finding_first() -> None:
    groups, hidden = finding_groups(shown_case())
    assert [(g["client_id"], g["rule"]) for g in groups] == [("c1", "SELF_RECORD"), ("c2", "PUBLIC_FIGURE")]
    assert [f["finding_id"] for f in groups[0]["shown"]] == ["f1", "f3"]
    assert groups[0]["not_shown"] == 0 and groups[1]["not_shown"] == 0
    assert [(g["client_id"], g["rule"], g["findings"]) for g in hidden] == [("c3", "PUBLIC_FIGURE", 1)]
    assert groups[0]["shown"][0]["evidence_items"] == [("row", "3")]


def test_a_group_with_some_findings_beyond_the_cap_says_how_many_are_not_shown() -> None:
    case = shown_case()
    case["findings"] = [finding("f1", "c1", "SELF_RECORD", 10.0)]
    groups, hidden = finding_groups(case)
    assert groups[0]["not_shown"] == 1
    assert [g["client_id"] for g in hidden] == ["c2", "c3"]


def test_findings_out_of_order_are_ranked_by_points_within_their_group() -> None:
    case = shown_case()
    case["findings"] = list(reversed(case["findings"]))
    groups, _ = finding_groups(case)
    assert [f["finding_id"] for f in groups[0]["shown"]] == ["f1", "f3"]


def test_a_finding_no_group_counts_still_shows_in_a_group_of_its_own() -> None:
    case = shown_case()
    case["findings"].append(finding("f9", "c9", "SENSITIVE_LOOKUP", 0.5))
    groups, _ = finding_groups(case)
    assert ("c9", "SENSITIVE_LOOKUP") in [(g["client_id"], g["rule"]) for g in groups]


def test_evidence_is_shown_key_by_key_and_nested_values_as_json() -> None:
    assert evidence_items({"b": None, "a": {"y": 1, "x": [2]}, "c": 0}) == [
        ("a", '{"x": [2], "y": 1}'), ("b", "none"), ("c", "0")]
    assert evidence_items(None) == [] and evidence_items({}) == []
    assert evidence_items("plain") == [("evidence", "plain")]


# ------------------------------------------------------------------------------------------------ history
def test_every_history_entry_is_a_line_with_what_it_recorded() -> None:
    rows = history_rows([
        {"at": "t1", "state": "joined", "actor": "accesswatch", "note": "n", "finding_ids": ["a", "b"],
         "client_ids": ["c"], "source": "complaint"},
        {"at": "t2", "state": "decided", "actor": "console/u1", "decision": "founded", "er_type": "privacy_breach"},
        {"at": "t3", "state": "amended", "actor": "x", "field": "outcome", "from": None, "to": "dismissal"},
    ])
    assert [r["detail"] for r in rows] == ["complaint, 2 findings, 1 client", "founded, privacy_breach",
                                           "outcome - -> dismissal"]
    assert [r["state"] for r in rows] == ["joined", "decided", "amended"] and rows[0]["note"] == "n"
    assert rows[2]["note"] == ""


# ------------------------------------------------------------------------------------------------ actions
@pytest.mark.parametrize(("status", "who", "expected"), [
    ("investigating", INVESTIGATOR, {"decide": True, "outcome": False, "note": True}),
    ("investigating", ADVISER, {"decide": False, "outcome": False, "note": True}),
    ("awaiting_outcome", INVESTIGATOR, {"decide": False, "outcome": False, "note": True}),
    ("awaiting_outcome", ADVISER, {"decide": False, "outcome": True, "note": True}),
    ("awaiting_outcome", BOTH, {"decide": False, "outcome": True, "note": True}),
    ("closed_founded", BOTH, {"decide": False, "outcome": False, "note": True}),
    ("investigating", OFFICER, {"decide": False, "outcome": False, "note": False}),
])
def test_the_actions_follow_the_status_and_the_role(status: str, who: Principal, expected: dict[str, bool]) -> None:
    assert available_actions(status, who) == expected


# ------------------------------------------------------------------------------------------------ forms
def form(**values: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in values.items()}


def test_a_founded_decision_on_one_rule_needs_an_er_type_only() -> None:
    got = decision_form(form(decision="founded", er_type="privacy_breach", reason="duplicate", note=" x "),
                        ["SELF_RECORD"], VOCABULARY)
    assert got == {"decision": "founded", "er_type": "privacy_breach", "reason": None, "note": "x",
                   "founded_rules": [], "unfounded_rules": {}}
    with pytest.raises(FormProblem, match="ER case type"):
        decision_form(form(decision="founded"), ["SELF_RECORD"], VOCABULARY)
    with pytest.raises(FormProblem, match="ER case type"):
        decision_form(form(decision="founded", er_type="made_up"), ["SELF_RECORD"], VOCABULARY)


def test_an_unfounded_decision_needs_a_reason_and_ignores_the_er_type_and_rule_verdicts() -> None:
    got = decision_form(form(decision="unfounded", reason="rule_too_broad", er_type="privacy_breach",
                             verdict_A="founded"), ["A", "B"], VOCABULARY)
    assert got == {"decision": "unfounded", "er_type": None, "reason": "rule_too_broad", "note": "",
                   "founded_rules": [], "unfounded_rules": {}}
    with pytest.raises(FormProblem, match="needs a reason"):
        decision_form(form(decision="unfounded"), ["A"], VOCABULARY)
    with pytest.raises(FormProblem, match="founded or unfounded"):
        decision_form(form(), ["A"], VOCABULARY)
    with pytest.raises(FormProblem, match="decision must be one of"):
        decision_form(form(decision="maybe"), ["A"], VOCABULARY)


def test_a_founded_decision_on_several_rules_needs_a_verdict_on_each() -> None:
    rules = ["A", "B", "C"]
    got = decision_form(form(decision="founded", er_type="privacy_breach", verdict_A="founded",
                             verdict_B="unfounded:legitimate_work", verdict_C="founded"), rules, VOCABULARY)
    assert got["founded_rules"] == ["A", "C"] and got["unfounded_rules"] == {"B": "legitimate_work"}
    with pytest.raises(FormProblem, match="not yet said: B, C"):
        decision_form(form(decision="founded", er_type="privacy_breach", verdict_A="founded"), rules, VOCABULARY)
    with pytest.raises(FormProblem, match="rule B: unknown verdict"):
        decision_form(form(decision="founded", er_type="privacy_breach", verdict_A="founded",
                           verdict_B="unfounded:bored", verdict_C="founded"), rules, VOCABULARY)
    with pytest.raises(FormProblem, match="at least one founded rule"):
        decision_form(form(decision="founded", er_type="privacy_breach", **{
            verdict_field(r): "unfounded:duplicate" for r in rules}), rules, VOCABULARY)


def test_the_form_offers_exactly_the_verdicts_it_accepts() -> None:
    for value, _ in VERDICTS:
        got = decision_form(form(decision="founded", er_type="privacy_breach", verdict_A="founded",
                                 verdict_B=value), ["A", "B"], VOCABULARY)
        assert "B" in got["founded_rules"] or "B" in got["unfounded_rules"]


def test_notes_are_bounded_and_outcomes_come_from_the_vocabulary() -> None:
    with pytest.raises(FormProblem, match="at most 2000"):
        decision_form(form(decision="unfounded", reason="duplicate", note="x" * 2001), ["A"], VOCABULARY)
    assert outcome_form(form(outcome="dismissal", note="ER-1"), VOCABULARY) == {"outcome": "dismissal",
                                                                               "note": "ER-1"}
    with pytest.raises(FormProblem, match="outcome must be one of"):
        outcome_form(form(outcome="fired"), VOCABULARY)


def test_only_well_formed_case_ids_are_looked_up() -> None:
    assert checked_case_id("CASE-0123456789ABCDEF") == "CASE-0123456789ABCDEF"
    for bad in ("", "case-0123456789abcdef", "CASE-0123", "CASE-0123456789ABCDEF/../x", "<script>"):
        with pytest.raises(NotFound):
            checked_case_id(bad)


def test_staff_directory_keeps_the_first_row_per_user_and_lists_teams() -> None:
    directory = directory_of([{"user_id": "u1", "role": "Broker", "team": "Housing"},
                              {"user_id": "u1", "role": "Other", "team": "Other"},
                              {"user_id": "u2", "role": None, "team": "benefits"}, {"user_id": None}])
    assert directory == {"u1": {"role": "Broker", "team": "Housing"}, "u2": {"role": "", "team": "benefits"}}
    assert teams_of(directory) == ["benefits", "Housing"]


# ------------------------------------------------------------------------------------------------ rendering
def rendered(case: dict[str, Any], who: Principal, staff: dict[str, dict[str, str]] | None = None,
             **values: Any) -> str:
    view = case_view(case, staff if staff is not None else {"u100": {"role": "Broker", "team": "Housing"}}, who,
                     busy=values.pop("busy", ""))
    defaults: dict[str, Any] = {"error": "", "done": "", "show_all": False, "er_types": VOCABULARY.er_types,
                                "outcomes": VOCABULARY.outcomes, "reasons": ("legitimate_work",),
                                "verdicts": VERDICTS, "submitted": {}, "verdict_field": verdict_field}
    return render("case.html", principal=who, title=f"Case {case['case_id']}", csrf_token="tok",
                  **{**defaults, **values, **view})


def test_the_page_shows_groups_in_order_the_hidden_groups_and_the_link_to_all() -> None:
    html = rendered(shown_case(), INVESTIGATOR)
    assert re.findall(r'data-client-id="([^"]+)" data-rule="([^"]+)"', html) == [
        ("c1", "SELF_RECORD"), ("c2", "PUBLIC_FIGURE")]
    assert re.findall(r'data-finding-id="([^"]+)"', html) == ["f1", "f3", "f2"]
    assert 'id="other-groups"' in html and "<td>c3</td>" in html
    assert 'id="show-all-findings"' in html and "?all=1#findings" in html
    assert 'id="staff-role">Broker<' in html and 'id="staff-team">Housing<' in html
    assert html.count('<tr class="history-') == 2
    assert 'id="decide-form"' in html and 'id="rule-verdicts"' in html and 'id="outcome-form"' not in html
    assert html.count('<input type="hidden" name="csrf_token" value="tok">') == 2
    # Every input has a label; headings in order (h1, then h2, then h3).
    ids = re.findall(r'<(?:select|textarea)[^>]*\bid="([^"]+)"', html)
    assert ids and all(f'for="{i}"' in html for i in ids)
    levels = [int(h) for h in re.findall(r"<h([1-6])", html)]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False))


def test_a_user_missing_from_the_staff_snapshot_is_said_so() -> None:
    html = rendered(shown_case(), ADVISER, staff={})
    assert "not in the current staff snapshot" in html and 'id="staff-role"' not in html
    assert 'id="decide-form"' not in html and 'id="note-form"' in html


def test_a_closed_case_shows_its_decision_outcome_and_verdicts_and_no_decision_due() -> None:
    case = shown_case(status="closed_founded", decision="founded", er_type="privacy_breach", decided_by="console/u1",
                      decided_at="2026-11-30T02:00:00Z", outcome="dismissal", outcome_by="console/u2",
                      outcome_at="2026-11-30T03:00:00Z", closed_at="2026-11-30T03:00:01Z",
                      rule_decisions={"SELF_RECORD": {"decision": "founded"},
                                      "PUBLIC_FIGURE": {"decision": "unfounded", "reason": "duplicate"}})
    html = rendered(case, BOTH)
    assert "privacy_breach" in html and 'id="case-outcome">dismissal' in html
    assert '<th scope="row">PUBLIC_FIGURE</th><td>unfounded</td><td>duplicate</td>' in html
    assert '<th scope="row">SELF_RECORD</th><td>founded</td><td></td>' in html
    assert "Decision due" not in html
    assert 'id="decide-form"' not in html and 'id="outcome-form"' not in html


def test_the_error_of_a_refused_action_and_the_submitted_values_are_shown_escaped() -> None:
    nasty = '<script>alert("x")</script>'
    case = shown_case()
    case["findings"][0]["explanation"] = nasty
    case["findings"][0]["evidence"] = {"k": nasty}
    case["history"][0]["note"] = nasty
    html = rendered(case, INVESTIGATOR, error=f"refused {nasty}",
                    submitted={"decision": "founded", "note": nasty, "verdict_SELF_RECORD": "founded"},
                    staff={"u100": {"role": nasty, "team": "a\"b'c"}})
    assert "<script>alert" not in html
    assert html.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 5
    assert "a&#34;b&#39;c" in html
    assert 'id="action-error"' in html
    assert 'value="founded" id="decision-founded" checked' in html
    assert re.search(r'<option value="founded" selected>founded \(inappropriate\)</option>', html)


# ------------------------------------------------------------------------------------------------ in progress
def test_a_sent_action_or_a_step_under_way_is_said_and_offers_no_other_decision() -> None:
    from accesswatch.cases.actions import token_ref

    waiting = {"case_id": "CASE-0123456789ABCDEF", "status": "investigating", "task_token": "tok-1"}
    assert in_progress(waiting, "RUNNING") == ""
    sent = {**waiting, "claim": {"kind": "decision", "token_ref": token_ref("tok-1"), "actor": "console/u1",
                                 "at": "2026-11-30T01:00:00.000Z", "expires_at": "2026-11-30T01:02:00.000Z",
                                 "sent_at": "2026-11-30T01:00:01.000Z"}}
    assert in_progress(sent, "RUNNING") == ("The decision by console/u1 was sent; the case workflow is recording "
                                            "it.")
    old_claim = {**sent, "task_token": "tok-2"}  # the step was taken: a claim for an old token blocks nothing
    assert in_progress(old_claim, "RUNNING") == ""
    assert "next step" in in_progress({**waiting, "status": "decided"}, "RUNNING")
    assert "next step" in in_progress({**waiting, "task_token": ""}, None)
    assert "next step" in in_progress({**waiting, "pending_history": {"state": "x"}}, "RUNNING")
    assert in_progress({**waiting, "status": "decided"}, "FAILED") == ""  # nothing changes by waiting
    assert in_progress({"status": "closed_founded"}, "SUCCEEDED") == ""
    busy = in_progress(sent, "RUNNING")
    assert available_actions("investigating", INVESTIGATOR, busy=bool(busy)) == {
        "decide": False, "outcome": False, "note": True}
    html = rendered(shown_case(), INVESTIGATOR, busy=busy)
    assert 'id="case-busy"' in html and 'http-equiv="refresh" content="2"' in html
    assert 'id="decide-form"' not in html and 'id="note-form"' in html
    assert 'id="case-busy"' not in rendered(shown_case(), INVESTIGATOR)


# ------------------------------------------------------------------------------------------------ the queue's team
def test_the_queue_shows_each_staff_members_team_and_filters_by_it() -> None:
    from datetime import UTC, datetime

    from accesswatch.console.pages.queue import queue_rows

    cases = [{"case_id": f"CASE-{i}", "user_id": user, "status": "investigating", "priority": "high", "score": i}
             for i, user in enumerate(("u1", "u2", "u3", "u-unknown"))]
    staff = {"u1": {"role": "r", "team": "Housing"}, "u2": {"role": "r", "team": "Benefits"},
             "u3": {"role": "r", "team": "Housing"}}
    now = datetime(2026, 11, 30, tzinfo=UTC)
    every = queue_rows(cases, now=now, age="", due="", staff=staff)
    assert {r["user_id"]: r["team"] for r in every} == {"u1": "Housing", "u2": "Benefits", "u3": "Housing",
                                                         "u-unknown": ""}
    housing = queue_rows(cases, now=now, age="", due="", team="Housing", staff=staff)
    assert sorted(r["user_id"] for r in housing) == ["u1", "u3"]
    assert queue_rows(cases, now=now, age="", due="", team="Nobody", staff=staff) == []
    assert [r["team"] for r in queue_rows(cases, now=now, age="", due="")] == ["", "", "", ""]
