"""The console's digest, exceptions and rule precision pages (issue 16), through the local endpoint's
adapter on an embedded runtime with the small synthetic world run through it (week 2025-W14).

Each page renders for an investigator and is refused (403) to every other role, actions included; an
exception added and revoked in the console is the one the CLI's store holds; the checks of
``accesswatch exceptions add|revoke`` answer 400 with the page and the reason; no CSRF token, no exception;
the digest names no one (ids and counts only), and says whether it was published or computed.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.console import ConsoleBrowser, world_runtime

from accesswatch.cases.digest import Week
from accesswatch.quarters import nz_today, nz_week, previous_nz_week
from accesswatch.rules import TIER_OF

WEEK = "2025-W14"  # the small world's days (31 March to 2 April 2025)
OTHER_ROLES = ("er_adviser", "privacy_officer", "operator")
PAGES = ("/digest?week=" + WEEK, "/exceptions", "/precision")
ACCUMULATE = sorted(rule for rule, tier in TIER_OF.items() if tier == "accumulate")
IMMEDIATE = sorted(rule for rule, tier in TIER_OF.items() if tier == "immediate")


@pytest.fixture(scope="module")
def runtime(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with world_runtime(small_world, tmp_path_factory.mktemp("console-h2")) as aws:
        yield aws


@pytest.fixture(scope="module")
def investigator(runtime: Any) -> ConsoleBrowser:
    return ConsoleBrowser(runtime, "investigator", "u-inv")


def _store(runtime: Any) -> Any:
    from accesswatch_tools.operate.case_exceptions import exception_store

    return exception_store(runtime)


def _ids(runtime: Any) -> set[str]:
    return {e["exception_id"] for e in _store(runtime).all()}


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _staff_user(small_world: Path) -> str:
    with (small_world / "reference" / "staff.csv").open(encoding="utf-8", newline="") as handle:
        return next(row["user_id"] for row in csv.DictReader(handle) if row["user_id"])


def _family_names(small_world: Path) -> set[str]:
    reference = small_world / "reference"
    names: set[str] = set()
    with (reference / "staff.csv").open(encoding="utf-8", newline="") as handle:
        names |= {row["family_name"] for row in csv.DictReader(handle)}
    text = gzip.decompress((reference / "clients.csv.gz").read_bytes()).decode("utf-8")
    names |= {row["family_name"] for row in csv.DictReader(io.StringIO(text))}
    found = {n.strip() for n in names if len(n.strip()) >= 3}
    assert len(found) > 50  # the check below has names to look for
    return found


# ------------------------------------------------------------------------------ roles
def test_every_page_renders_for_an_investigator(investigator: ConsoleBrowser) -> None:
    for path in PAGES:
        response = investigator.get(path)
        assert response.status_code == 200, (path, _text(response))
        assert "text/html" in response.headers["Content-Type"]
        assert "no-store" in response.headers.get("Cache-Control", ""), path
    assert 'id="add-exception"' in _text(investigator.get("/exceptions"))


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_other_roles_are_refused_pages_and_actions(runtime: Any, investigator: ConsoleBrowser, role: str) -> None:
    before = _ids(runtime)
    browser = ConsoleBrowser(runtime, role, f"u-{role.replace('_', '-')}")
    for path in PAGES:
        assert browser.get(path).status_code == 403, (role, path)
    added = browser.post("/exceptions", {"rule": ACCUMULATE[0], "expires_on": (nz_today() + timedelta(days=9)).isoformat(),
                                         "reason": "not allowed"})
    assert added.status_code == 403
    assert _ids(runtime) == before
    target = _add(investigator, rule=ACCUMULATE[0], reason=f"kept against {role}")
    assert browser.post(f"/exceptions/{target}/revoke", {"reason": "not allowed"}).status_code == 403
    assert not _store(runtime).get(target).get("revoked_at")
    for path in PAGES:  # navigation never offers them either
        assert f'href="{path.split("?")[0]}"' not in _text(browser.get("/"))


# ------------------------------------------------------------------------------ digest
def test_digest_of_the_world_week_is_computed_with_the_cli_code(runtime: Any, investigator: ConsoleBrowser) -> None:
    from accesswatch.services.digest import produce
    from accesswatch_tools.operate.digest import digest_sources

    response = investigator.get(f"/digest?week={WEEK}")
    body = _text(response)
    assert response.status_code == 200
    assert f"Weekly digest {WEEK}" in body
    assert 'data-origin="computed"' in body
    expected = produce(digest_sources(runtime), Week.of(WEEK), now=datetime.now(UTC)).as_dict()
    assert expected["totals"]["findings"] > 0
    assert f"{expected['totals']['findings']} findings in the week" in body
    shown = set(re.findall(r'data-user-id="([^"]+)"', body))
    listed = {u["user_id"] for g in expected["groups"] for u in g["users"]}
    assert shown == listed and listed
    for group in expected["groups"]:
        if group["manager_user_id"]:
            assert f"Manager {group['manager_user_id']}" in body
    assert 'href="/digest?week=2025-W13"' in body and 'href="/digest?week=2025-W15"' in body


def test_digest_shows_no_name_or_address(investigator: ConsoleBrowser, small_world: Path) -> None:
    body = _text(investigator.get(f"/digest?week={WEEK}"))
    leaked = sorted(n for n in _family_names(small_world) if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", body))
    assert leaked == []


def test_digest_defaults_to_the_last_complete_week(investigator: ConsoleBrowser) -> None:
    now = datetime.now(UTC)
    week = previous_nz_week(now)
    body = _text(investigator.get("/digest"))
    assert f"Weekly digest {week}" in body
    assert "No findings in week" in body
    assert f'href="/digest?week={nz_week(nz_today())}"' in body  # the next week is this (started) week
    following = _text(investigator.get(f"/digest?week={nz_week(nz_today())}"))
    assert "week in progress, counts so far" in following
    assert 'id="digest-next"' not in following  # next week has not started


@pytest.mark.parametrize("week", ["2025-14", "2025-W99", "W14", "2025-W1x", "<script>"])
def test_a_malformed_week_is_400_with_the_expected_form(investigator: ConsoleBrowser, week: str) -> None:
    response = investigator.get("/digest", query_string={"week": week})
    assert response.status_code == 400
    assert "YYYY-Www" in _text(response)
    assert "<script>" not in _text(response)


def test_a_week_not_started_is_400(investigator: ConsoleBrowser) -> None:
    response = investigator.get("/digest?week=2099-W10")
    assert response.status_code == 400
    assert "has not started yet" in _text(response)


def test_a_published_digest_is_read_from_its_file(runtime: Any, investigator: ConsoleBrowser) -> None:
    from accesswatch_tools.operate.digest import invoke_digest

    week = "2025-W13"  # the week before the world: published with nothing in it, so the other tests' week stays computed
    assert 'data-origin="computed"' in _text(investigator.get(f"/digest?week={week}"))
    result = invoke_digest(runtime, {"week": week, "source": "cli"})
    body = _text(investigator.get(f"/digest?week={week}"))
    assert 'data-origin="published"' in body, result
    assert "From the published digest file" in body


# ------------------------------------------------------------------------------ exceptions
def _add(browser: ConsoleBrowser, **fields: str) -> str:
    data = {"expires_on": (nz_today() + timedelta(days=30)).isoformat(), "reason": "rule too broad for this team",
            **fields}
    response = browser.post("/exceptions", data)
    assert response.status_code == 303, _text(response)
    found = re.fullmatch(r"/exceptions\?made=(EXC-[0-9A-F]{12})#exception-EXC-[0-9A-F]{12}",
                         response.headers["Location"])
    assert found, response.headers["Location"]
    return found.group(1)


def test_add_and_revoke_an_exception_as_the_cli_sees_it(runtime: Any, investigator: ConsoleBrowser,
                                                        small_world: Path) -> None:
    user = _staff_user(small_world)
    made = _add(investigator, user_id=user, rule=ACCUMULATE[0].lower(), case_id="CASE-0123456789ABCDEF")
    stored = _store(runtime).get(made)
    assert stored is not None
    assert (stored["user_id"], stored["rule"], stored["case_id"]) == (user, ACCUMULATE[0], "CASE-0123456789ABCDEF")
    assert stored["created_by"] == "console/u-inv (local)"
    assert stored["reason"] == "rule too broad for this team"
    page = _text(investigator.get(f"/exceptions?made={made}"))
    assert f"Exception {made} made" in page
    assert re.search(rf'id="exception-{made}"[^>]*data-state="active"', page)

    revoked = investigator.post(f"/exceptions/{made}/revoke", {"reason": "the team's work changed"})
    assert revoked.status_code == 303
    assert revoked.headers["Location"].startswith(f"/exceptions?revoked={made}")
    stored = _store(runtime).get(made)
    assert stored["revoked_by"] == "console/u-inv (local)" and stored["revoke_note"] == "the team's work changed"
    page = _text(investigator.get("/exceptions"))
    assert re.search(rf'id="exception-{made}"[^>]*data-state="revoked"', page)
    states = re.findall(r'data-state="(\w+)"', page)
    assert states == sorted(states, key=("active", "expired", "revoked").index)  # active first

    again = investigator.post(f"/exceptions/{made}/revoke", {"reason": "twice"})
    assert again.status_code == 400
    assert "was revoked already" in _text(again)


def test_a_client_scoped_exception(runtime: Any, investigator: ConsoleBrowser, small_world: Path) -> None:
    text = gzip.decompress((small_world / "reference" / "clients.csv.gz").read_bytes()).decode("utf-8")
    client = next(csv.DictReader(io.StringIO(text)))["client_id"]
    made = _add(investigator, client_id=client)
    assert _store(runtime).get(made)["client_id"] == client


@pytest.mark.parametrize(("fields", "message"), [
    ({"rule": "RULE", "expires_on": "2025-13-40"}, "is not a date (YYYY-MM-DD)"),
    ({"rule": "RULE", "expires_on": "yesterday"}, "is in the past"),
    ({"rule": "RULE", "expires_on": "far"}, "more than 366 days away"),
    ({"rule": "", "user_id": "", "client_id": ""}, "needs a scope"),
    ({"rule": "IMMEDIATE"}, "only accumulate-tier findings can be suppressed"),
    ({"rule": "NO_SUCH_RULE"}, "unknown rule"),
    ({"rule": "", "user_id": "u-not-staff"}, "is not in the current staff reference snapshot"),
    ({"rule": "", "client_id": "999999999999"}, "is not in the current clients reference snapshot"),
    ({"rule": "", "user_id": "two words"}, "an id is one word"),
    ({"rule": "RULE", "reason": "  "}, "must say why"),
])
def test_bad_inputs_are_400_with_the_reason_and_make_nothing(runtime: Any, investigator: ConsoleBrowser,
                                                             fields: dict[str, str], message: str) -> None:
    today = nz_today()
    dates = {"yesterday": (today - timedelta(days=1)).isoformat(), "far": (today + timedelta(days=400)).isoformat()}
    data = {"expires_on": (today + timedelta(days=10)).isoformat(), "reason": "a reason", **fields}
    data["expires_on"] = dates.get(data["expires_on"], data["expires_on"])
    data["rule"] = {"RULE": ACCUMULATE[0], "IMMEDIATE": IMMEDIATE[0]}.get(data["rule"], data["rule"])
    before = _ids(runtime)
    response = investigator.post("/exceptions", data)
    body = _text(response)
    assert response.status_code == 400
    assert 'id="add-error"' in body and message in body, body
    assert "--expires" not in body and "--reason" not in body  # the page names its fields, not CLI options
    assert _ids(runtime) == before
    if fields.get("reason") is None:
        assert ">a reason</textarea>" in body  # what was typed is kept


@pytest.mark.parametrize(("target", "reason", "message"), [
    ("EXC-000000000000", "gone", "no exception EXC-000000000000"),
    ("not-an-id", "gone", "no exception not-an-id"),
    (None, "", "say why the exception is revoked"),
])
def test_bad_revokes_are_400(runtime: Any, investigator: ConsoleBrowser, target: str | None, reason: str,
                             message: str) -> None:
    exception_id = target or _add(investigator, rule=ACCUMULATE[0], reason="to revoke badly")
    response = investigator.post(f"/exceptions/{exception_id}/revoke", {"reason": reason})
    assert response.status_code == 400
    assert 'id="revoke-error"' in _text(response) and message in _text(response)
    if target is None:
        assert not _store(runtime).get(exception_id).get("revoked_at")


def test_no_csrf_token_is_403_and_nothing_is_made(runtime: Any, investigator: ConsoleBrowser) -> None:
    data = {"rule": ACCUMULATE[0], "expires_on": (nz_today() + timedelta(days=5)).isoformat(), "reason": "forged"}
    before = _ids(runtime)
    assert investigator.post("/exceptions", data, token="").status_code == 403
    assert investigator.client.post("/exceptions", data=data).status_code == 403  # no field at all
    assert investigator.post("/exceptions", data, token="forged-token").status_code == 403
    assert _ids(runtime) == before
    target = _add(investigator, rule=ACCUMULATE[0], reason="kept against forgery")
    assert investigator.post(f"/exceptions/{target}/revoke", {"reason": "forged"}, token="").status_code == 403
    assert not _store(runtime).get(target).get("revoked_at")


# ------------------------------------------------------------------------------ precision
def test_precision_is_the_cli_computation(runtime: Any, investigator: ConsoleBrowser) -> None:
    from accesswatch.cases.precision import weights_in_force
    from accesswatch_tools.operate.cases import case_service, deployed_scoring

    service = case_service(runtime)
    rows = service.precision()
    weights = weights_in_force(rows, deployed_scoring(runtime), service.rule_counts())
    body = _text(investigator.get("/precision"))
    assert rows
    for row in rows:
        found = re.search(rf'<tr data-rule="{row.rule}"[^>]*>(.*?)</tr>', body, re.S)
        assert found, row.rule
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", found.group(1), re.S)
        assert cells[:5] == [row.rule, str(row.founded), str(row.unfounded), str(row.decided), str(row.undecided)]
        assert cells[7] == f"{weights[row.rule]['weight']:,.2f}"
    assert "under 10 %" in body
