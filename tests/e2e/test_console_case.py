"""The case page and its actions through the console (LocalConsole -> ConsoleFunction on an embedded runtime with
the small world run through it): decide, record the outcome, add a note, each as the CLI does it (the CLI's
view then shows the same history with the console's actor); roles and CSRF refused server-side with nothing
changed; personal details as a recorded access, detected like any system's; unknown cases."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from support.console import ConsoleBrowser, world_runtime

pytestmark = pytest.mark.e2e

INVESTIGATOR = "u-inv-1"
ER_ADVISER = "u-er-1"


@pytest.fixture(scope="module")
def world(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with world_runtime(small_world, tmp_path_factory.mktemp("console-case-out")) as aws:
        yield aws


@pytest.fixture(scope="module")
def cases(world: Any) -> dict[str, list[dict[str, Any]]]:
    """The world's cases (all waiting for a decision), split by how many rules they have."""
    listed = service(world).find()
    assert listed and all(c["status"] == "investigating" for c in listed)
    single = [c for c in listed if len(c.get("rules") or []) == 1]
    several = [c for c in listed if len(c.get("rules") or []) > 1]
    assert len(single) >= 2 and len(several) >= 6, "the small world has cases of one rule and of several"
    return {"single": single, "several": several}


def service(aws: Any) -> Any:
    from accesswatch_tools.operate.cases import case_service

    return case_service(aws)


def settled(aws: Any, case_id: str) -> dict[str, Any]:
    """The case once its workflow has recorded what was sent (the console's request does not wait for it):
    polled on that condition, as the CLI's own settle does, within a bound."""
    from accesswatch.console.pages.case import in_progress

    deadline = time.monotonic() + 60
    while True:
        case = service(aws).get(case_id)
        if not in_progress(case, None):
            return case
        assert time.monotonic() < deadline, f"case {case_id} did not settle: {case.get('status')}"
        time.sleep(0.05)


def actor(user: str) -> str:
    return f"console/{user} (local)"


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def state(aws: Any, case_id: str) -> tuple[Any, ...]:
    """What an action would change: status, decision, outcome, and the history's length."""
    case = service(aws).get(case_id)
    return (case.get("status"), case.get("decision"), case.get("outcome"),
            len(service(aws).show(case_id)["history"]))


def section(html: str, element_id: str) -> str:
    """The element with ``element_id`` (to its closing tag of the same name), or ''."""
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"', html)
    if not found:
        return ""
    tag = found.group(1)
    end = html.find(f"</{tag}>", found.start())
    return html[found.start():end]


def test_the_case_page_shows_the_staff_member_score_findings_and_history(world: Any, cases: Any) -> None:
    from accesswatch.dal.ledger import Ledger
    from accesswatch.dal.objects import ObjectStore
    from accesswatch.services.report import staff_snapshot

    case = cases["several"][0]
    browser = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    page = browser.get(f"/cases/{case['case_id']}")
    assert page.status_code == 200, text(page)
    html = text(page)
    shown = service(world).show(case["case_id"])

    staff = staff_snapshot(Ledger(world.resource_name("LedgerTable"), world.resource("dynamodb")),
                           ObjectStore(world.client("s3")), world.resource_name("CuratedBucket"))
    assert staff is not None
    row = staff.filter(staff["user_id"] == case["user_id"]).to_dicts()[0]
    assert f'id="staff-user-id">{case["user_id"]}<' in html
    assert f'id="staff-role">{row["role"]}<' in html and f'id="staff-team">{row["team"]}<' in html
    assert 'id="case-status">investigating<' in html
    assert f'id="case-score">{float(shown["score"]):,.2f}<' in html
    for rule, points in shown["score_breakdown"]["by_rule"].items():
        assert re.search(rf"<th scope=\"row\">{rule}</th><td class=\"num\">{points:,.2f}</td>", html), rule

    # Findings grouped by client and rule, the strongest group first, each with its explanation and evidence.
    groups = re.findall(r'class="finding-group" data-client-id="([^"]+)" data-rule="([^"]+)"', html)
    ranked = [(g["client_id"], g["rule"]) for g in shown["score_breakdown"]["by_client_and_rule"]]
    assert groups and groups == [g for g in ranked if g in set(groups)]
    shown_ids = re.findall(r'data-finding-id="([0-9a-f]+)"', html)
    assert sorted(shown_ids) == sorted(f["finding_id"] for f in shown["findings"])
    strongest = shown["findings"][0]
    assert str(escape(strongest["explanation"])) in html
    assert all(f"<dt>{escape(key)}</dt>" in html for key in strongest["evidence"])

    history = section(html, "history")
    assert history.count("<tr class=\"history-") == len(shown["history"]) >= 1
    assert "history-opened" in history

    # What an investigator may do on a case waiting for a decision: decide and add a note, not the outcome.
    assert 'id="decide-form"' in html and 'id="note-form"' in html and 'id="outcome-form"' not in html
    assert 'id="rule-verdicts"' in html  # several rules: a verdict on each
    assert all(f'id="verdict-{rule}"' in html for rule in case["rules"])
    assert html.count('name="csrf_token"') == 2

    # Seen by the er_adviser: no action but the note while the case waits for a decision.
    er_page = text(ConsoleBrowser(world, "er_adviser", ER_ADVISER).get(f"/cases/{case['case_id']}"))
    assert 'id="decide-form"' not in er_page and 'id="outcome-form"' not in er_page and 'id="note-form"' in er_page


def test_a_case_with_many_findings_shows_the_strongest_then_all_on_request(world: Any, cases: Any) -> None:
    from accesswatch.cases.service import SHOWN_FINDINGS

    case = max(cases["several"], key=lambda c: len(c.get("finding_ids") or []))
    total = len(case["finding_ids"])
    browser = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    html = text(browser.get(f"/cases/{case['case_id']}"))
    shown = len(re.findall(r"data-finding-id=", html))
    assert shown == min(total, SHOWN_FINDINGS)
    if total > SHOWN_FINDINGS:
        assert 'id="show-all-findings"' in html and "?all=1" in html
    every = text(browser.get(f"/cases/{case['case_id']}?all=1"))
    assert len(re.findall(r"data-finding-id=", every)) == total
    assert 'id="show-all-findings"' not in every and 'id="other-groups"' not in every


def test_decide_founded_then_record_the_outcome_closes_the_case_and_the_cli_shows_the_same_history(
        world: Any, cases: Any) -> None:
    case_id = cases["single"][0]["case_id"]
    investigator = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    adviser = ConsoleBrowser(world, "er_adviser", ER_ADVISER)

    decided = investigator.post(f"/cases/{case_id}/decide", {"decision": "founded", "er_type": "privacy_breach",
                                                            "reason": "duplicate", "note": "ref IR-1"})
    assert decided.status_code == 303, text(decided)
    assert decided.headers["Location"] == f"/cases/{case_id}?done=decide"
    right_after = text(investigator.get(decided.headers["Location"]))
    assert 'id="action-done"' in right_after
    assert 'id="case-busy"' in right_after or 'id="case-status">awaiting_outcome<' in right_after
    assert 'id="decide-form"' not in right_after  # sent: no second decision offered
    settled(world, case_id)
    after = text(investigator.get(decided.headers["Location"]))
    assert 'id="case-busy"' not in after
    assert 'id="case-status">awaiting_outcome<' in after and 'id="action-done"' in after
    assert 'id="decide-form"' not in after and 'id="outcome-form"' not in after  # the investigator's part is done
    case = service(world).get(case_id)
    assert (case["decision"], case["er_type"], case.get("decision_reason")) == ("founded", "privacy_breach", None)

    # The investigator cannot record the outcome: 403, nothing changes.
    before = state(world, case_id)
    refused = investigator.post(f"/cases/{case_id}/outcome", {"outcome": "written_warning"})
    assert refused.status_code == 403 and state(world, case_id) == before

    adviser_page = text(adviser.get(f"/cases/{case_id}"))
    assert 'id="outcome-form"' in adviser_page and 'id="decide-form"' not in adviser_page
    closed = adviser.post(f"/cases/{case_id}/outcome", {"outcome": "written_warning", "note": "ER-77"})
    assert closed.status_code == 303, text(closed)
    settled(world, case_id)
    final = text(adviser.get(closed.headers["Location"]))
    assert 'id="case-status">closed_founded<' in final and 'id="outcome-form"' not in final
    assert "written_warning" in section(final, "case-outcome")

    # The CLI's view: the same history, with the console's actors.
    shown = service(world).show(case_id)
    assert shown["status"] == "closed_founded" and shown["outcome"] == "written_warning"
    entries = {h["state"]: h for h in shown["history"]}
    assert entries["decided"]["actor"] == actor(INVESTIGATOR) and entries["decided"]["note"] == "ref IR-1"
    assert entries["decided"]["er_type"] == "privacy_breach"
    assert entries["outcome_recorded"]["actor"] == actor(ER_ADVISER)
    assert entries["outcome_recorded"]["outcome"] == "written_warning"
    page_history = section(final, "history")
    assert page_history.count('<tr class="history-') == len(shown["history"])
    for entry in shown["history"]:
        assert f'<tr class="history-{entry["state"]}">' in page_history
    assert page_history.count(actor(INVESTIGATOR)) == 1 and page_history.count(actor(ER_ADVISER)) == 1

    # Acting again on a step that was taken: the case again, with why (409), never a 500.
    again = investigator.post(f"/cases/{case_id}/decide", {"decision": "unfounded", "reason": "duplicate"})
    assert again.status_code == 409
    assert "already decided by" in section(text(again), "action-error")
    assert 'id="case-status">closed_founded<' in text(again)


def test_an_unfounded_decision_with_a_reason_covers_every_rule(world: Any, cases: Any) -> None:
    case = cases["several"][-1]
    browser = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    # No reason: refused with why (400), nothing sent.
    before = state(world, case["case_id"])
    missing = browser.post(f"/cases/{case['case_id']}/decide", {"decision": "unfounded"})
    assert missing.status_code == 400 and "needs a reason" in section(text(missing), "action-error")
    assert state(world, case["case_id"]) == before
    done = browser.post(f"/cases/{case['case_id']}/decide", {"decision": "unfounded", "reason": "legitimate_work",
                                                             "er_type": "privacy_breach"})
    assert done.status_code == 303, text(done)
    settled(world, case["case_id"])
    shown = service(world).show(case["case_id"])
    assert shown["status"] == "closed_unfounded" and shown["decision_reason"] == "legitimate_work"
    assert shown.get("er_type") in (None, "")
    assert shown["rule_decisions"] == {r: {"decision": "unfounded", "reason": "legitimate_work"}
                                       for r in case["rules"]}
    assert [h for h in shown["history"] if h["state"] == "decided"][0]["actor"] == actor(INVESTIGATOR)
    page = text(browser.get(f"/cases/{case['case_id']}"))
    assert 'id="case-status">closed_unfounded<' in page and 'id="rule-decisions"' in page


def test_a_case_of_several_rules_is_decided_rule_by_rule(world: Any, cases: Any) -> None:
    case = cases["several"][-2]
    rules = list(case["rules"])
    case_id = case["case_id"]
    browser = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    before = state(world, case_id)
    # Founded without a verdict on each rule: refused (400), the form keeps what was chosen.
    partial = browser.post(f"/cases/{case_id}/decide", {"decision": "founded", "er_type": "conflict_of_interest",
                                                        f"verdict_{rules[0]}": "founded", "note": "kept"})
    assert partial.status_code == 400
    error = section(text(partial), "action-error")
    assert "not yet said" in error and all(r in error for r in rules[1:])
    assert 'value="founded" id="decision-founded" checked' in text(partial)
    assert ">kept</textarea>" in text(partial)
    assert state(world, case_id) == before
    # An unknown ER type: 400, nothing sent.
    wrong = browser.post(f"/cases/{case_id}/decide", {"decision": "founded", "er_type": "made_up",
                                                      **{f"verdict_{r}": "founded" for r in rules}})
    assert wrong.status_code == 400 and "ER case type" in section(text(wrong), "action-error")
    assert state(world, case_id) == before

    verdicts = {f"verdict_{rules[0]}": "founded", f"verdict_{rules[1]}": "unfounded:rule_too_broad",
                **{f"verdict_{r}": "founded" for r in rules[2:]}}
    done = browser.post(f"/cases/{case_id}/decide", {"decision": "founded", "er_type": "conflict_of_interest",
                                                     **verdicts})
    assert done.status_code == 303, text(done)
    settled(world, case_id)
    shown = service(world).show(case_id)
    assert shown["status"] == "awaiting_outcome" and shown["er_type"] == "conflict_of_interest"
    expected = {r: {"decision": "founded"} for r in rules}
    expected[rules[1]] = {"decision": "unfounded", "reason": "rule_too_broad"}
    assert shown["rule_decisions"] == expected
    page = section(text(browser.get(f"/cases/{case_id}")), "rule-decisions")
    assert f"<th scope=\"row\">{rules[1]}</th><td>unfounded</td><td>rule_too_broad</td>" in page


def test_notes_from_both_roles_join_the_history(world: Any, cases: Any) -> None:
    case_id = cases["several"][1]["case_id"]
    for role, user in (("investigator", INVESTIGATOR), ("er_adviser", ER_ADVISER)):
        browser = ConsoleBrowser(world, role, user)
        added = browser.post(f"/cases/{case_id}/note", {"note": f"checked by {role}"})
        assert added.status_code == 303, text(added)
        assert added.headers["Location"] == f"/cases/{case_id}?done=note"
    empty = ConsoleBrowser(world, "investigator", INVESTIGATOR).post(f"/cases/{case_id}/note", {"note": "  "})
    assert empty.status_code == 400 and "write the note" in section(text(empty), "action-error")
    notes = [h for h in service(world).show(case_id)["history"] if h["state"] == "note"]
    assert [(h["actor"], h["note"]) for h in notes] == [(actor(INVESTIGATOR), "checked by investigator"),
                                                        (actor(ER_ADVISER), "checked by er_adviser")]
    assert service(world).get(case_id)["status"] == "investigating"


def test_forbidden_roles_are_refused_and_nothing_changes(world: Any, cases: Any) -> None:
    case_id = cases["several"][0]["case_id"]
    before = state(world, case_id)
    adviser = ConsoleBrowser(world, "er_adviser", ER_ADVISER)
    decided = adviser.post(f"/cases/{case_id}/decide", {"decision": "unfounded", "reason": "duplicate"})
    assert decided.status_code == 403 and "case_decide" in text(decided)
    investigator = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    assert investigator.post(f"/cases/{case_id}/outcome", {"outcome": "dismissal"}).status_code == 403
    for role in ("privacy_officer", "operator"):
        browser = ConsoleBrowser(world, role, f"u-{role}")
        opened = browser.get(f"/cases/{case_id}")
        assert opened.status_code == 403 and 'id="case-status"' not in text(opened)
        assert case_id not in text(opened)
        for action, data in (("decide", {"decision": "unfounded", "reason": "duplicate"}),
                             ("outcome", {"outcome": "dismissal"}), ("note", {"note": "hello"})):
            assert browser.post(f"/cases/{case_id}/{action}", data).status_code == 403, (role, action)
    assert state(world, case_id) == before


def test_a_post_without_the_right_csrf_token_is_refused_and_nothing_changes(world: Any, cases: Any) -> None:
    case_id = cases["several"][0]["case_id"]
    before = state(world, case_id)
    browser = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    browser.get("/queue")  # the CSRF cookie is set
    form = {"decision": "unfounded", "reason": "duplicate"}
    without = browser.client.post(f"/cases/{case_id}/decide", data=form)
    assert without.status_code == 403 and "form token" in text(without)
    wrong = browser.post(f"/cases/{case_id}/decide", form, token="not-the-token")
    assert wrong.status_code == 403
    note = browser.post(f"/cases/{case_id}/note", {"note": "x"}, token="")
    assert note.status_code == 403
    assert state(world, case_id) == before


def test_unknown_or_malformed_case_ids_are_not_found(world: Any) -> None:
    browser = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    for path in ("/cases/CASE-0000000000000000", "/cases/nonsense", "/cases/case-78139d3ecde6d40f",
                 "/cases/CASE-0000000000000000/decide"):
        response = browser.get(path)
        assert response.status_code == 404, path
    posted = browser.post("/cases/CASE-0000000000000000/decide", {"decision": "unfounded", "reason": "duplicate"})
    assert posted.status_code == 404
    assert browser.post("/cases/nonsense/note", {"note": "x"}).status_code == 404


def console_events(world: Any, user: str) -> list[dict[str, Any]]:
    """The access events the console wrote for ``user`` (system accesswatch, in the raw bucket)."""
    s3 = world.client("s3")
    bucket = world.resource_name("RawBucket")
    events: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="access-logs/accesswatch/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            events += [json.loads(line) for line in body.splitlines() if line.strip()]
    return [e for e in events if e["user_id"] == user]


def audited(world: Any, user: str, action: str) -> list[dict[str, Any]]:
    from accesswatch.dal.audit import AuditStore
    from accesswatch.quarters import nz_date

    audits = AuditStore(world.resource_name("AuditTable"), world.resource("dynamodb"))
    today = nz_date(datetime.now(UTC))
    return list(audits.between(today - timedelta(days=1), today, actor=actor(user), action=action))


def test_opening_a_case_is_audited_and_shows_clients_by_id_only(world: Any, cases: Any) -> None:
    case = cases["several"][2]
    user = "u-watcher-9"
    browser = ConsoleBrowser(world, "investigator", user)
    html = text(browser.get(f"/cases/{case['case_id']}"))
    assert set(re.findall(r'data-client-id="([^"]+)"', html))
    # Ids only: not an access to any client's record, so no access event; the read itself is audited.
    assert console_events(world, user) == []
    records = [r for r in audited(world, user, "case_show") if (r.get("subject") or {}).get("case_id") == case["case_id"]]
    assert len(records) == 1 and records[0]["source"] == "console"
    assert records[0]["result"]["findings_shown"] == len(re.findall(r"data-finding-id=", html))


def test_a_clients_personal_details_are_a_recorded_access(world: Any, cases: Any, small_world: Path) -> None:
    import csv
    import gzip

    case = cases["several"][3]
    client_id = sorted(case["client_ids"])[0]
    user = "u-watcher-10"
    browser = ConsoleBrowser(world, "investigator", user)
    assert f"/cases/{case['case_id']}/clients/{client_id}" in text(browser.get(f"/cases/{case['case_id']}"))
    shown = browser.get(f"/cases/{case['case_id']}/clients/{client_id}")
    assert shown.status_code == 200
    with gzip.open(small_world / "reference" / "clients.csv.gz", "rt", encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["client_id"] == client_id)
    assert str(escape(row["family_name"].strip())) in text(shown)  # from the raw snapshot: the curated copy has ids only
    events = console_events(world, user)
    assert [(e["client_id"], e["screen"], e["action"]) for e in events] == [(client_id, "console_client_details", "view")]
    assert [r["subject"]["client_id"] for r in audited(world, user, "client_details")] == [client_id]
    # Only investigators see personal details, only of a case's own clients.
    adviser = ConsoleBrowser(world, "er_adviser", "u-er-10")
    assert adviser.get(f"/cases/{case['case_id']}/clients/{client_id}").status_code == 403
    assert f"/clients/{client_id}" not in text(adviser.get(f"/cases/{case['case_id']}"))
    other = next(c for c in cases["single"] if client_id not in (c.get("client_ids") or []))
    assert browser.get(f"/cases/{other['case_id']}/clients/{client_id}").status_code == 404
    assert len(console_events(world, user)) == 1


def test_the_console_is_monitored_like_any_system(world: Any, cases: Any) -> None:
    """A colleague's-record case names a client who is another staff member's own record; that staff member,
    signed in to the console, opens the client's personal details: their own record. Ingestion and detection of
    the console's access log raise SELF_RECORD against them, from the system accesswatch."""
    from accesswatch.dal.findings import FindingStore

    findings = FindingStore(world.resource_name("FindingsTable"), world.resource("dynamodb"))
    case, client_id, owner = None, None, None
    for candidate in [*cases["single"], *cases["several"]]:
        if "COLLEAGUE_RECORD" not in (candidate.get("rules") or []):
            continue
        for finding in service(world).show(candidate["case_id"], limit=None)["findings"]:
            evidence = finding.get("evidence") or {}
            if finding["rule"] == "COLLEAGUE_RECORD" and evidence.get("colleague_user_id"):
                case, client_id, owner = candidate, finding.get("client_id"), evidence["colleague_user_id"]
                break
        if case:
            break
    assert case and client_id and owner, "the small world has a colleague's-record case"
    browser = ConsoleBrowser(world, "investigator", owner)
    assert browser.get(f"/cases/{case['case_id']}/clients/{client_id}").status_code == 200
    deadline = time.monotonic() + 120
    while True:
        raised = [f for f in findings.find(user_id=owner) if f.get("system") == "accesswatch"]
        if raised:
            break
        assert time.monotonic() < deadline, "the console's access was not detected"
        time.sleep(0.2)
    assert {(f["rule"], f["client_id"]) for f in raised} >= {("SELF_RECORD", client_id)}


def test_the_queue_has_a_team_column_and_filter_from_the_staff_snapshot(world: Any, cases: Any) -> None:
    from accesswatch.cases.service import CaseFilter
    from accesswatch.console.pages.case import directory_of
    from accesswatch.dal.ledger import Ledger
    from accesswatch.dal.objects import ObjectStore
    from accesswatch.services.report import staff_snapshot

    staff = staff_snapshot(Ledger(world.resource_name("LedgerTable"), world.resource("dynamodb")),
                           ObjectStore(world.client("s3")), world.resource_name("CuratedBucket"))
    assert staff is not None
    directory = directory_of(staff.to_dicts())
    browser = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    html = text(browser.get("/queue"))
    rows = re.findall(r'data-case-id="([^"]+)">\s*<td><a[^>]*>[^<]*</a></td>\s*<td>([^<]*)</td>\s*'
                      r'<td class="team">([^<]*)</td>', html)
    # The open cases (the console's own users may have some by now: their page views are accesses too).
    every = service(world).find(CaseFilter(status="open"))
    assert len(rows) == len(every) and rows
    assert all(str(escape(directory.get(user, {}).get("team", ""))) == team for _, user, team in rows)
    options = section(html, "filter-team")
    team = directory[cases["several"][0]["user_id"]]["team"]
    assert f'<option value="{escape(team)}">' in options

    filtered = text(browser.get("/queue", query_string={"team": team}))
    ids = set(re.findall(r'<tr class="[^"]*" data-case-id="([^"]+)"', filtered))
    assert ids == {c["case_id"] for c in every if directory.get(c["user_id"], {}).get("team") == team} and ids
    assert f'<option value="{escape(team)}" selected>' in section(filtered, "filter-team")
    unknown = browser.get("/queue", query_string={"team": "No such team"})
    assert unknown.status_code == 400


def test_the_queue_lists_closed_cases_under_any_status(world: Any, cases: Any) -> None:
    from accesswatch.cases.service import CaseFilter

    closed = service(world).find(CaseFilter(status="closed"))
    assert closed, "the decide-then-outcome test above closed a case in this module's runtime"
    browser = ConsoleBrowser(world, "investigator", INVESTIGATOR)
    default = text(browser.get("/queue"))
    every = text(browser.get("/queue?status=any"))
    assert len(re.findall(r"data-case-id=", every)) == len(service(world).find())
    assert len(re.findall(r"data-case-id=", default)) == len(service(world).find(CaseFilter(status="open")))
    assert all(f'data-case-id="{c["case_id"]}"' in every for c in closed)
