"""The console is safe by construction: values from logs, reference data and people are escaped wherever
they land, and nothing from the request is reflected unescaped.

The world is planted through the real pipeline: one staff member's user id becomes markup
(``u<script>alert('x')</script>&``) in every reference and log file, and their team becomes markup too; a note
with double quotes and a script tag is added through the console's own note action. Every page is then read
as each role and checked: the planted markup appears only escaped."""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.console import ConsoleBrowser, world_runtime

EVIL_USER = "u<script>alert('x')</script>&"
EVIL_TEAM = "<b onmouseover=alert('t')>Team</b>"
EVIL_NOTE = '"><script>alert("n")</script><img src=x onerror=alert(1)>'
REFLECTED = '"><script>alert("q")</script>'
IMMEDIATE = {"SELF_RECORD", "RELATIVE_RECORD", "HOUSEHOLD_RECORD", "COLLEAGUE_RECORD", "DECLARED_ASSOCIATE",
             "PUBLIC_FIGURE"}
RAW = re.compile(r"<script>alert|<img src=x|<b onmouseover", re.IGNORECASE)


def _replace_in(path: Path, old: str, new: str) -> None:
    if path.suffix == ".gz":
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
        path.write_bytes(gzip.compress(text.replace(old, new).encode("utf-8")))
    else:
        path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def _planted_world(small_world: Path, out: Path) -> tuple[Path, str]:
    """A copy of ``small_world`` whose busiest user with an immediate-tier finding has the evil id and team."""
    world = out / "world"
    shutil.copytree(small_world, world)
    counts: dict[str, int] = {}
    immediate: set[str] = set()
    for line in (world / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        counts[row["user_id"]] = counts.get(row["user_id"], 0) + 1
        if row["rule"] in IMMEDIATE:
            immediate.add(row["user_id"])
    user = max(sorted(immediate), key=lambda u: counts[u])
    staff = world / "reference" / "staff.csv"
    with staff.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    planted = [row for row in rows if row["user_id"] == user]
    assert planted, "the chosen user has a staff row"
    for row in planted:
        row["team"] = EVIL_TEAM
    with staff.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for path in [*(world / "reference").iterdir(), *(world / "logs").iterdir()]:
        _replace_in(path, user, EVIL_USER)
    return world, user


@pytest.fixture(scope="module")
def planted(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    out = tmp_path_factory.mktemp("console-safety")
    world, _ = _planted_world(small_world, out)
    with world_runtime(world, out / "run") as aws:
        yield aws


def _evil_case(browser: ConsoleBrowser) -> str:
    queue = browser.get("/queue?status=").get_data(as_text=True)
    row = next(r for r in queue.split("<tr") if "&lt;script&gt;alert(&#39;x&#39;)" in r)
    found = re.search(r'data-case-id="([^"]+)"', row)
    assert found, "the planted user's case is not in the queue"
    return found.group(1)


def _assert_escaped(html: str, where: str) -> None:
    assert not RAW.search(html), f"{where}: planted markup reached the page unescaped"


def test_planted_ids_names_and_notes_are_escaped_on_the_queue(planted: Any) -> None:
    investigator = ConsoleBrowser(planted, "investigator", "u-inv")
    page = investigator.get("/queue?status=")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;" in html  # shown, as text
    _assert_escaped(html, "queue")


def test_reflected_query_values_are_escaped_on_every_page(planted: Any) -> None:
    for role, paths in {
        "investigator": ["/queue", "/digest", "/exceptions", "/precision"],
        "er_adviser": ["/queue"],
        "privacy_officer": ["/footprint", "/reports"],
        "operator": ["/operations"],
    }.items():
        browser = ConsoleBrowser(planted, role, f"u-{role}")
        for path in paths:
            for name in ("status", "rule", "tier", "team", "week", "client_id", "from", "to", "quarter", "all"):
                page = browser.get(f"{path}?{name}={REFLECTED}")
                html = page.get_data(as_text=True)
                assert page.status_code < 500, f"{path}?{name}: {page.status_code}"
                assert '<script>alert("q")' not in html, f"{path}?{name} reflected the value unescaped"


def test_pages_are_not_cached_and_carry_the_security_headers(planted: Any) -> None:
    browser = ConsoleBrowser(planted, "investigator", "u-inv")
    page = browser.get("/queue")
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"


def test_planted_markup_on_the_case_page_and_in_a_note_is_escaped(planted: Any) -> None:
    investigator = ConsoleBrowser(planted, "investigator", "u-inv")
    case_id = _evil_case(investigator)
    noted = investigator.post(f"/cases/{case_id}/note", {"note": EVIL_NOTE})
    assert noted.status_code == 303
    page = investigator.get(f"/cases/{case_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;" in html  # the user id, as text
    assert "&lt;b onmouseover=alert(&#39;t&#39;)&gt;Team&lt;/b&gt;" in html  # the team, as text
    assert "&#34;&gt;&lt;script&gt;alert(&#34;n&#34;)&lt;/script&gt;" in html  # the note, as text
    _assert_escaped(html, "case page")
    for role in ("investigator", "er_adviser"):
        queue = ConsoleBrowser(planted, role, f"u-{role}").get("/queue?status=any").get_data(as_text=True)
        _assert_escaped(queue, f"queue as {role}")


def test_the_local_console_answers_loopback_names_only_and_signs_in_from_its_own_page(planted: Any) -> None:
    from werkzeug.test import Client

    from accesswatch_tools.embedded.console import LocalConsole

    client = Client(LocalConsole(planted))
    # A page on another site whose name was rebound to 127.0.0.1 sends its own Host: refused.
    assert client.get("/queue", headers={"Host": "attacker.example:8000"}).status_code == 421
    assert client.post("/local-sign-in", data={"role": "investigator", "user_id": "u1"},
                       headers={"Host": "attacker.example"}).status_code == 421
    # A cross-site form posting to the sign-in page (login CSRF): refused.
    crossed = client.post("/local-sign-in", data={"role": "investigator", "user_id": "u1"},
                          headers={"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"})
    assert crossed.status_code == 403 and client.get_cookie("aw_local_identity") is None
    assert client.get("/queue", headers={"Host": "127.0.0.1:5000"}).status_code == 303  # to the sign-in page
