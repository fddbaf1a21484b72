"""A real browser in tests: headless Chromium driven by Selenium through Debian's chromedriver
(``scripts/install-browser`` installs both; ``make test`` runs it).

Without Chromium, chromedriver or the selenium package, the ``chromium`` fixture skips the test with the
reason, except under ``make test`` (ACCESSWATCH_REQUIRE_BROWSER=1), where it fails. ACCESSWATCH_CHROMIUM and
ACCESSWATCH_CHROMEDRIVER name other binaries.

The flags keep Chromium from its own network traffic (sync, component updates, QUIC, first-run pings): test
machines may have no network, and those connections would fail or stall; a throw-away profile each time."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("ACCESSWATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("ACCESSWATCH_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")
WAIT_S = 60.0  # an upper bound for a page on a loaded CI machine, not a measured time


def missing_browser() -> str | None:
    """Why there is no browser to test with (None: there is one)."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not os.access(binary, os.X_OK):
            return f"no {binary}: scripts/install-browser installs Debian's chromium and chromium-driver (make test runs it)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "no selenium package: pip install -e '.[dev]' (make setup) installs it"
    return None


def require_browser() -> None:
    """Skip the test when there is no browser, or fail under ``make test`` (ACCESSWATCH_REQUIRE_BROWSER=1)."""
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get("ACCESSWATCH_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


def start_chromium(profile: Path) -> Any:
    """A headless Chromium (a selenium WebDriver) with its profile in ``profile``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    return driver


@pytest.fixture(scope="module", name="chromium")
def chromium_fixture() -> Iterator[Any]:
    """``chromium``: one headless Chromium for the test module (its cookies are the module's: sign in again
    to switch). A test module imports ``chromium_fixture`` and asks for ``chromium``."""
    require_browser()
    with tempfile.TemporaryDirectory(prefix="accesswatch-chromium-") as profile:
        driver = start_chromium(Path(profile))
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(driver: Any, css: str, timeout_s: float = WAIT_S) -> Any:
    """The element ``css`` once the page has it (a failure names the page it was looking at)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout_s).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))
    except TimeoutException:
        raise AssertionError(f"no {css!r} on {driver.current_url}: {driver.page_source[:2000]}") from None


def wait_until(driver: Any, condition: Any, what: str, timeout_s: float = WAIT_S) -> Any:
    """``condition(driver)``'s first true value (a failure says ``what`` and names the page it was looking at).

    The console's script replaces ``<main>`` when a page arrives through fetch, so an element the condition
    found can be gone before it reads its text: such a read (StaleElementReferenceException) counts as "not
    yet", as a missing element does, and the condition is asked again."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    waiting = WebDriverWait(driver, timeout_s,
                            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
    try:
        return waiting.until(condition)
    except TimeoutException:
        raise AssertionError(f"{what}: at {driver.current_url}: {driver.page_source[:1500]}") from None
