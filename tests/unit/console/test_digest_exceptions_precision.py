"""The digest, exceptions and rule precision pages, pure: the week asked for, the digest as the page shows
it, the exceptions' order and forms, the precision rows and flags, and the rendering (escaped, accessible)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from accesswatch.cases.digest import Week, build_digest, directory_from_rows
from accesswatch.cases.precision import RulePrecision
from accesswatch.cases.scoring import DEFAULT_RULE_WEIGHTS, ScoringSettings
from accesswatch.console.markup import render
from accesswatch.console.pages.digest import asked_week, digest_view, neighbours
from accesswatch.console.pages.exceptions import _console_words, accumulate_rules, exception_rows
from accesswatch.console.pages.precision import precision_rows
from accesswatch.console.principal import Principal
from accesswatch.console.roles import GRANTS, Permission, Role
from accesswatch.console.web import BadRequest

EVIL = "u<script>alert('x')</script>\""
INVESTIGATOR = Principal(user_id="u-inv", roles=frozenset({Role.INVESTIGATOR}), local=False)
NOW = datetime(2025, 4, 9, 3, 0, tzinfo=UTC)  # Wednesday 9 April 2025, 15:00 NZST: week 2025-W15


def _labelled(html: str) -> None:
    """Every visible input, select and textarea has a label naming it (``for`` its id)."""
    for tag, attrs in re.findall(r"<(input|select|textarea)\b([^>]*)>", html):
        if 'type="hidden"' in attrs:
            continue
        found = re.search(r'\bid="([^"]+)"', attrs)
        assert found, (tag, attrs)
        assert f'for="{found.group(1)}"' in html, found.group(1)


# ------------------------------------------------------------------------------ digest
@pytest.mark.parametrize("text", ["2025-14", "2025-W00", "2025-W54", "W15", "2025-W1", "x" * 40])
def test_a_malformed_week_says_the_form(text: str) -> None:
    with pytest.raises(BadRequest, match="YYYY-Www"):
        asked_week(text, NOW)


def test_the_default_week_is_the_last_complete_one_and_a_future_week_is_refused() -> None:
    assert asked_week("", NOW).id == "2025-W14"
    assert asked_week("2025-w15", NOW).id == "2025-W15"  # the week in progress may be read
    with pytest.raises(BadRequest, match="has not started yet"):
        asked_week("2025-W16", NOW)


def test_neighbours_cross_years_and_stop_at_now() -> None:
    assert neighbours(Week.of("2025-W01"), NOW) == ("2024-W52", "2025-W02")
    assert neighbours(Week.of("2020-W53"), NOW) == ("2020-W52", "2021-W01")
    assert neighbours(Week.of("2025-W14"), NOW) == ("2025-W13", "2025-W15")
    assert neighbours(Week.of("2025-W15"), NOW) == ("2025-W14", None)


def _finding(n: int, user: str, rule: str, tier: str, **extra: Any) -> dict[str, Any]:
    return {"finding_id": f"f{n}", "rule": rule, "tier": tier, "user_id": user, "client_id": f"00{n:04d}",
            "nz_date": "2025-04-01", "occurred_at_utc": "2025-03-31T23:00:00+00:00", **extra}


def _digest(now: datetime = NOW) -> dict[str, Any]:
    directory = directory_from_rows([
        {"user_id": "u1", "team": "Benefits <Wellington>", "manager_user_id": "m1"},
        {"user_id": EVIL, "team": "Fraud", "manager_user_id": "m1"},
        {"user_id": "u5", "team": "Contact", "manager_user_id": ""},
    ], source="reference_index", snapshot_id="snap-1")
    findings = [
        _finding(1, "u1", "SENSITIVE_LOOKUP", "accumulate"),
        _finding(2, "u1", "SENSITIVE_LOOKUP", "accumulate"),
        _finding(3, EVIL, "SENSITIVE_LOOKUP", "accumulate"),
        _finding(4, "u1", "SENSITIVE_LOOKUP", "accumulate", suppressed_by="EXC-1"),
        _finding(5, "u5", "SENSITIVE_LOOKUP", "accumulate"),
        _finding(6, "u7", "OUT_OF_HOURS_SENSITIVE", "record"),
        _finding(7, "u1", "SELF_RECORD", "immediate", case_id="CASE-1"),
        _finding(8, "u1", "SENSITIVE_LOOKUP", "accumulate", case_id="CASE-2"),
    ]
    return build_digest(Week.of("2025-W14"), findings, directory, generated_at=now).as_dict()


def test_the_digest_view_keeps_the_cli_figures() -> None:
    view = digest_view(_digest())
    assert view["complete"] and view["findings"] == 8
    assert view["summary"] == ["4 accumulate-tier below the threshold (3 user(s))", "1 accumulate-tier in cases",
                               "1 immediate-tier", "1 suppressed", "1 staging"]
    manager, unassigned = view["groups"]
    assert manager["manager_user_id"] == "m1" and not manager["unassigned"]
    assert [(u["user_id"], u["findings"], u["by_rule"]) for u in manager["users"]] == [
        ("u1", 2, [("SENSITIVE_LOOKUP", 2)]), (EVIL, 1, [("SENSITIVE_LOOKUP", 1)])]
    assert manager["suppressed_by_rule"] == [("SENSITIVE_LOOKUP", 1)]
    assert unassigned["unassigned"] and unassigned["staging_by_rule"] == [("OUT_OF_HOURS_SENSITIVE", 1)]
    assert [(u["user_id"], u["why"]) for u in unassigned["users"]] == [
        ("u5", "the staff reference data gives no manager")]


def _render_digest(data: dict[str, Any], origin: str) -> str:
    return render("digest.html", principal=INVESTIGATOR, title="Weekly digest 2025-W14", active="/digest",
                  week=Week.of("2025-W14"), origin=origin, digest=digest_view(data), previous="2025-W13",
                  following="2025-W15")


def test_the_digest_renders_escaped_and_accessible() -> None:
    html = _render_digest(_digest(), "computed")
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34;" in html
    assert "Benefits &lt;Wellington&gt;" in html
    assert 'data-origin="computed"' in html and "Not published: computed now" in html
    assert "Manager m1" in html and "Unassigned" in html and "the staff reference data gives no manager" in html
    assert "8 findings in the week: 4 accumulate-tier below the threshold (3 user(s))" in html
    assert '<dd class="suppressed">1 (SENSITIVE_LOOKUP 1)</dd>' in html
    assert 'href="/digest?week=2025-W13"' in html and 'href="/digest?week=2025-W15"' in html
    assert html.count('<th scope="row">') == 3 and "<caption>" in html
    assert "week in progress" not in html
    _labelled(html)


def test_a_published_digest_and_a_week_in_progress_say_so() -> None:
    published = {**_digest(), "published_at": "2025-04-07T20:00:00+00:00", "messages": [{"group": "m1"}]}
    html = _render_digest(published, "published")
    assert 'data-origin="published"' in html and "From the published digest file" in html
    assert "(1 message sent to the managers)" in html
    in_progress = _render_digest(_digest(now=datetime(2025, 4, 2, tzinfo=UTC)), "computed")
    assert "week in progress, counts so far" in in_progress


def test_an_empty_week_says_nothing_to_digest() -> None:
    data = build_digest(Week.of("2025-W14"), [], directory_from_rows([], source="none"), generated_at=NOW).as_dict()
    html = _render_digest(data, "computed")
    assert "No findings in week 2025-W14: nothing to digest." in html
    assert "No reference data with teams has been loaded" in html


# ------------------------------------------------------------------------------ exceptions
def _exception(n: int, expires: str, **extra: Any) -> dict[str, Any]:
    return {"exception_id": f"EXC-{n:012d}", "expires_on": expires, "reason": "why", "created_by": "console/u-inv",
            "created_at": f"2025-04-0{n}T00:00:00+00:00", "suppressed": 0, **extra}


TODAY = date(2025, 4, 9)
EXCEPTIONS = [
    _exception(1, "2025-04-01", rule="SENSITIVE_LOOKUP"),                                       # expired
    _exception(2, "2025-12-01", user_id=EVIL, revoked_at="2025-04-05T00:00:00+00:00",
               revoked_by="console/u-inv", revoke_note="<b>moved</b>"),                         # revoked
    _exception(3, "2025-06-01", client_id="000123", case_id="CASE-<1>"),                         # active
    _exception(4, "2025-04-09", rule="SENSITIVE_LOOKUP", user_id="u1"),                          # active, last day
]


def test_exceptions_are_listed_active_first_with_every_field() -> None:
    rows = exception_rows(EXCEPTIONS, TODAY)
    assert [(r["exception_id"][-1], r["state"]) for r in rows] == [
        ("4", "active"), ("3", "active"), ("1", "expired"), ("2", "revoked")]
    assert rows[1]["user_id"] == "" and rows[1]["rule"] == "" and rows[0]["revoked_at"] == ""
    assert accumulate_rules() == ["SENSITIVE_LOOKUP"]


def _render_exceptions(*, may_manage: bool, **values: Any) -> str:
    principal = INVESTIGATOR if may_manage else Principal("u-x", frozenset(), local=False)
    options: dict[str, Any] = {"error": "", "values": dict.fromkeys(("user_id", "client_id", "rule", "expires_on",
                                                                       "reason", "case_id"), ""),
                               "revoke_error": ("", ""), "made": "", "revoked": "", **values}
    return render("exceptions.html", principal=principal, title="Exceptions", active="/exceptions",
                  csrf_token="tok-123", rows=exception_rows(EXCEPTIONS, TODAY), today=TODAY, may_manage=may_manage,
                  rules=accumulate_rules(), **options)


def test_the_exceptions_page_escapes_and_offers_forms_only_to_managers() -> None:
    html = _render_exceptions(may_manage=True)
    assert "<script>alert" not in html and "<b>moved</b>" not in html and "&lt;b&gt;moved&lt;/b&gt;" in html
    assert 'href="/cases/CASE-%3C1%3E"' in html
    assert html.count('action="/exceptions/EXC-') == 2  # a revoke form for each active exception only
    assert html.count('name="csrf_token" value="tok-123"') == 3
    assert 'id="add-exception"' in html
    assert "2 active on 2025-04-09" in html
    _labelled(html)
    viewer = _render_exceptions(may_manage=False)
    assert "<form" not in viewer and "Add an exception" not in viewer
    assert 'data-exception-id="EXC-000000000003"' in viewer


def test_an_add_error_keeps_what_was_typed_escaped() -> None:
    typed = {"user_id": "", "client_id": '"><script>', "rule": "sensitive_lookup", "expires_on": "2025-13-01",
             "reason": "</textarea><script>", "case_id": ""}
    html = _render_exceptions(may_manage=True, error="Expiry date '2025-13-01' is not a date (YYYY-MM-DD)",
                              values=typed)
    assert '<p class="error" role="alert" id="add-error">Expiry date &#39;2025-13-01&#39; is not a date' in html
    assert 'value="&#34;&gt;&lt;script&gt;"' in html and "&lt;/textarea&gt;&lt;script&gt;</textarea>" in html
    assert '<option value="SENSITIVE_LOOKUP" selected>' in html
    revoke = _render_exceptions(may_manage=True, revoke_error=("EXC-<x>", "no exception EXC-<x>"))
    assert 'id="revoke-error">Cannot revoke EXC-&lt;x&gt;: no exception EXC-&lt;x&gt;' in revoke


def test_layer_messages_name_the_page_fields() -> None:
    assert _console_words("--expires '1' is not a date (YYYY-MM-DD)") == "Expiry date '1' is not a date (YYYY-MM-DD)"
    assert _console_words("--reason must say why") == "Reason must say why"


def test_only_investigators_manage_exceptions() -> None:
    assert [r for r, granted in GRANTS.items() if Permission.EXCEPTIONS_MANAGE in granted] == [Role.INVESTIGATOR]
    assert all(Permission.EXCEPTIONS in granted for granted in GRANTS.values()
               if Permission.EXCEPTIONS_MANAGE in granted)


# ------------------------------------------------------------------------------ precision
def test_precision_rows_flag_rules_under_ten_percent_with_enough_decisions() -> None:
    settings = ScoringSettings(case_precision_min_decisions=20)
    rows = [RulePrecision("SENSITIVE_LOOKUP", 2, 38, 1), RulePrecision("SELF_RECORD", 1, 9, 0),
            RulePrecision("PUBLIC_FIGURE", 0, 0, 4)]
    stats = {"SENSITIVE_LOOKUP": (2, 38), "SELF_RECORD": (1, 9)}
    out = {r["rule"]: r for r in precision_rows(rows, settings, stats)}
    assert out["SENSITIVE_LOOKUP"]["flagged"] and out["SENSITIVE_LOOKUP"]["precision"] == 0.05
    assert out["SENSITIVE_LOOKUP"]["weight"] < out["SENSITIVE_LOOKUP"]["configured_weight"]
    assert out["SENSITIVE_LOOKUP"]["configured_weight"] == DEFAULT_RULE_WEIGHTS["SENSITIVE_LOOKUP"]
    assert not out["SELF_RECORD"]["flagged"]  # 10 % precision but only 10 decisions
    assert out["SELF_RECORD"]["weight"] == DEFAULT_RULE_WEIGHTS["SELF_RECORD"]
    assert out["PUBLIC_FIGURE"]["precision"] is None and not out["PUBLIC_FIGURE"]["flagged"]


def test_the_precision_page_renders_the_flags() -> None:
    settings = ScoringSettings(case_precision_min_decisions=20)
    rows = precision_rows([RulePrecision("SENSITIVE_LOOKUP", 2, 38, 1), RulePrecision("PUBLIC_FIGURE", 0, 0, 4)],
                          settings, {"SENSITIVE_LOOKUP": (2, 38)})
    html = render("precision.html", principal=INVESTIGATOR, title="Rule precision", active="/precision", rows=rows,
                  min_decisions=20, demotion=0.10, flagged=["SENSITIVE_LOOKUP"])
    assert 'id="precision-flagged">Flagged for demotion to staging: SENSITIVE_LOOKUP.' in html
    assert '<tr data-rule="SENSITIVE_LOOKUP" class="flagged">' in html
    assert '<td class="num precision">5.0 %</td>' in html and '<td class="num precision">-</td>' in html
    assert "once a rule has 20 decisions; under 10 %" in html
    assert html.count("demote to staging?") == 1
    empty = render("precision.html", principal=INVESTIGATOR, title="Rule precision", active="/precision", rows=[],
                   min_decisions=20, demotion=0.10, flagged=[])
    assert "No rule is flagged for demotion." in empty and "nothing to measure" in empty
