"""The console in a real browser (issue 16, item 5): headless Chromium (Debian's package, scripts/install-browser)
on the real local endpoint, the way a person uses it after `make demo`.

A small world runs through a local endpoint of its own (`accesswatch run`, its own state directory); then in
the browser: the local sign-in page (investigator), the queue, the top case awaiting a decision, decided
founded with an ER type and a note; signed in again as an ER adviser, the same case's outcome recorded, and
the case is closed. `accesswatch cases show CASE --json` against the same endpoint then shows that history,
with the console's actors. The queue's first case is reachable with the keyboard alone.

No browser: skipped with the reason, except under `make test` (ACCESSWATCH_REQUIRE_BROWSER=1), where it fails.
ACCESSWATCH_SCREENSHOTS=1 also saves the queue and the case page as docs/img/console-*.png (a directory
instead of 1: there)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from support.browser import chromium_fixture, require_browser, wait_for  # noqa: F401  (the chromium fixture)
from support.endpoint import cli_runner

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "img"
INVESTIGATOR = "inv-browser"
ADVISER = "er-browser"
TABS = 40  # more than the links and fields before the queue's table (a bound, to fail rather than loop)


class Endpoint:
    """The local endpoint a world ran through: ``cli(*args)`` runs `accesswatch` against it."""

    def __init__(self, cli: Any, console_url: str) -> None:
        self.cli = cli
        self.console_url = console_url

    def url(self, path: str) -> str:
        return urljoin(self.console_url, path)

    def show(self, case_id: str) -> dict[str, Any]:
        return dict(json.loads(self.cli("cases", "show", case_id, "--json", "--all").stdout))


@pytest.fixture(scope="module")
def endpoint(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    require_browser()  # before the world's run: without a browser there is nothing to test it with
    tmp = tmp_path_factory.mktemp("console-browser")
    with cli_runner(tmp) as cli:
        cli("run", "--reference", str(small_world / "reference"), "--logs", str(small_world / "logs"),
            "--out", str(tmp / "out"))
        status = json.loads(cli("local", "status", "--json").stdout)
        console_url = status.get("console_url")
        assert console_url, f"`accesswatch local status --json` gave no console_url: {status}"
        yield Endpoint(cli, str(console_url))


def sign_in(driver: Any, endpoint: Endpoint, role: str, user_id: str) -> None:
    """The local sign-in page, as a person fills it in (no Cognito locally, and the page says so)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(endpoint.url("/local-sign-in"))
    assert "no Cognito" in wait_for(driver, ".notice").text
    Select(driver.find_element(By.ID, "role")).select_by_value(role)
    user = driver.find_element(By.ID, "user_id")
    user.clear()
    user.send_keys(user_id)
    driver.find_element(By.ID, "sign-in").click()
    assert wait_for(driver, "#signed-in-user").text == user_id


def open_queue(driver: Any, endpoint: Endpoint) -> list[Any]:
    """The queue's rows (ranked), after following the navigation's Queue link."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, 'nav a[href="/queue"]').click()
    wait_for(driver, "#queue-summary")
    return list(driver.find_elements(By.CSS_SELECTOR, "#queue tbody tr"))


def screenshot(driver: Any, name: str, height: int) -> None:
    """console-NAME.png, 1280 pixels wide, in docs/img when ACCESSWATCH_SCREENSHOTS=1 (or in the directory it
    names); the README's pictures were taken so from the `make demo` world. The window's size is put back."""
    wanted = os.environ.get("ACCESSWATCH_SCREENSHOTS", "")
    if not wanted:
        return
    directory = SCREENSHOTS if wanted == "1" else Path(wanted)
    size = driver.get_window_size()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        driver.set_window_size(1280, height)
        driver.save_screenshot(str(directory / f"console-{name}.png"))
    finally:
        driver.set_window_size(size["width"], size["height"])


def test_the_queue_first_case_link_is_reached_with_the_tab_key(chromium: Any, endpoint: Endpoint) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    sign_in(chromium, endpoint, "investigator", INVESTIGATOR)
    rows = open_queue(chromium, endpoint)
    assert rows, "the small world's run left no open case in the queue"
    chromium.get(chromium.current_url)  # a fresh load: focus starts at the top of the page
    wait_for(chromium, "#queue")
    first = chromium.find_element(By.CSS_SELECTOR, "#queue tbody tr a")
    href = first.get_attribute("href")
    presses = 0
    while chromium.switch_to.active_element != first:
        assert presses < TABS, f"{TABS} presses of Tab never reached the queue's first case link"
        ActionChains(chromium).send_keys(Keys.TAB).perform()
        presses += 1
    assert presses > 1, "the first Tab should reach the skip link, not the table"
    ActionChains(chromium).send_keys(Keys.ENTER).perform()
    assert href and "/cases/" in href
    wait_for(chromium, "h1")
    assert chromium.current_url == href, "Enter on the focused link should open its case"


def submit_confirmed(driver: Any, button_id: str) -> None:
    """Press a form's submit button and accept the page's confirmation (console.js asks before a decision)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, button_id).click()
    WebDriverWait(driver, 10).until(expected_conditions.alert_is_present()).accept()


def case_status(driver: Any, url: str, status: str) -> str:
    """The case page's status once it says ``status`` (the page is loaded again until then, within a bound)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(driver: Any) -> str | None:
        text = str(driver.find_element(By.ID, "case-status").text)
        if text == status:
            return text
        driver.get(url)
        return None

    try:
        return str(WebDriverWait(driver, 60, poll_frequency=1).until(shown))
    except TimeoutException:
        return str(driver.find_element(By.ID, "case-status").text)


def history_in_page(driver: Any) -> list[tuple[str, str, str]]:
    """The case page's history table as (what, by, note) rows, oldest first."""
    from selenium.webdriver.common.by import By

    rows = []
    for row in driver.find_elements(By.CSS_SELECTOR, "#history tbody tr"):
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        rows.append((cells[1], cells[3], cells[4]))
    return rows


def test_a_case_goes_from_the_queue_to_closed_in_the_browser_and_the_cli_shows_the_same_history(
        chromium: Any, endpoint: Endpoint) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # The investigator: the queue, then its top case awaiting a decision.
    sign_in(chromium, endpoint, "investigator", INVESTIGATOR)
    rows = open_queue(chromium, endpoint)
    headings = [h.text for h in chromium.find_elements(By.CSS_SELECTOR, "#queue thead th")]
    status_column = headings.index("Status")
    waiting = [r for r in rows if r.find_elements(By.TAG_NAME, "td")[status_column].text == "investigating"]
    assert waiting, f"no case awaiting a decision among the queue's {len(rows)} rows"
    screenshot(chromium, "queue", 900)
    case_id = str(waiting[0].get_attribute("data-case-id"))
    waiting[0].find_element(By.LINK_TEXT, case_id).click()
    wait_for(chromium, "#decide-form")
    case_url = chromium.current_url
    assert case_url == endpoint.url(f"/cases/{case_id}")
    assert chromium.find_element(By.ID, "case-status").text == "investigating"
    screenshot(chromium, "case", 1500)

    # Decide it founded: the ER type, each rule's verdict (a case of several rules needs one), a note.
    chromium.find_element(By.ID, "decision-founded").click()
    Select(chromium.find_element(By.ID, "er-type")).select_by_value("inappropriate_access")
    for verdict in chromium.find_elements(By.CSS_SELECTOR, "#rule-verdicts select"):
        Select(verdict).select_by_value("founded")
    chromium.find_element(By.ID, "decide-note").send_keys("browser test: founded, ref BT-1")
    submit_confirmed(chromium, "decide-submit")
    assert wait_for(chromium, "#action-done").text.startswith("Decision sent")
    assert case_status(chromium, case_url, "awaiting_outcome") == "awaiting_outcome"
    decision = chromium.find_element(By.ID, "case-decision").text
    assert "founded" in decision and "inappropriate_access" in decision and INVESTIGATOR in decision
    assert not chromium.find_elements(By.ID, "outcome-form"), "an investigator may not record the ER outcome"

    # The ER adviser: the same case, the outcome recorded; the case is closed.
    sign_in(chromium, endpoint, "er_adviser", ADVISER)
    chromium.get(case_url)
    wait_for(chromium, "#outcome-form")
    assert not chromium.find_elements(By.ID, "decide-form")
    Select(chromium.find_element(By.ID, "outcome")).select_by_value("written_warning")
    chromium.find_element(By.ID, "outcome-note").send_keys("browser test: outcome, ref BT-2")
    submit_confirmed(chromium, "outcome-submit")
    assert wait_for(chromium, "#action-done").text.startswith("Outcome sent")
    assert case_status(chromium, case_url, "closed_founded") == "closed_founded"
    assert "written_warning" in chromium.find_element(By.ID, "case-outcome").text
    assert not chromium.find_elements(By.ID, "outcome-form"), "a closed case offers no outcome to record"
    in_page = history_in_page(chromium)

    # The CLI, against the same endpoint: the same case, closed, with the same history and the console's actors.
    shown = endpoint.show(case_id)
    assert shown["status"] == "closed_founded"
    assert shown["decision"] == "founded" and shown["er_type"] == "inappropriate_access"
    assert shown["outcome"] == "written_warning"
    history = shown["history"]
    assert [(h["state"], h["actor"], h["note"]) for h in history] == in_page
    decided = [h for h in history if h.get("decision") == "founded"]
    assert len(decided) == 1 and decided[0]["actor"] == f"console/{INVESTIGATOR} (local)"
    assert decided[0]["note"] == "browser test: founded, ref BT-1" and decided[0]["er_type"] == "inappropriate_access"
    outcomes = [h for h in history if h.get("outcome") == "written_warning"]
    assert len(outcomes) == 1 and outcomes[0]["actor"] == f"console/{ADVISER} (local)"
    assert outcomes[0]["note"] == "browser test: outcome, ref BT-2"
    assert history[-1]["state"] == "closed_founded"
