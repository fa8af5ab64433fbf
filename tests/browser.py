"""A real browser for the console's tests: Debian's chromium driven by Selenium through Debian's
chromedriver (its path given, so Selenium Manager never downloads one), headless, with background
networking, updates, sync and metrics off: it talks to the console's loopback address only.

Screenshots are test artifacts: ``test-artifacts/console/<test>/<step>.png`` under the directory the tests
run from (``VAULTLINK_TEST_ARTIFACTS`` moves it)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--metrics-recording-only", "--disable-breakpad", "--disable-domain-reliability",
         "--ignore-certificate-errors", "--window-size=1280,900")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    for exe in (CHROMIUM, DRIVER):
        assert shutil.which(exe), f"{exe} is missing: scripts/install-system-deps.sh installs it"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def gone(page: WebElement) -> Callable[[webdriver.Chrome], bool]:
    """Has ``page`` (an element of the old document) left? Mid-navigation chromedriver may answer that its
    node "does not belong to the document" instead of "stale": that is gone too."""

    def check(_d: webdriver.Chrome) -> bool:
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc) or "No node with given id" in str(exc):
                return True
            raise
        return False

    return check


def loaded(d: webdriver.Chrome, page: WebElement) -> None:
    """Wait until ``page`` (the old document's root) is gone and the next document has loaded."""
    WebDriverWait(d, 15).until(gone(page))
    WebDriverWait(d, 15).until(lambda drv: drv.execute_script("return document.readyState") == "complete")


def go(d: webdriver.Chrome, by: str, what: str) -> None:
    """Click what navigates (a link, a form's button) and wait for the next page."""
    page = d.find_element(By.TAG_NAME, "html")
    d.find_element(by, what).click()
    loaded(d, page)


def press(d: webdriver.Chrome, element: WebElement) -> None:
    """Click ``element`` (found already) and wait for the next page."""
    page = d.find_element(By.TAG_NAME, "html")
    element.click()
    loaded(d, page)


def sign_in(d: webdriver.Chrome, url: str, key: str) -> None:
    d.get(f"{url}/console/login")
    d.find_element(By.NAME, "api_key").send_keys(key)
    go(d, By.CSS_SELECTOR, "button[type=submit]")
    assert d.current_url.endswith("/console/vaults"), d.page_source[:500]


def artifacts(request: pytest.FixtureRequest) -> Path:
    root = Path(os.environ.get("VAULTLINK_TEST_ARTIFACTS", "test-artifacts"))
    out = root / "console" / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    out.mkdir(parents=True, exist_ok=True)
    return out


def shot(driver: webdriver.Chrome, where: Path, name: str) -> None:
    assert driver.save_screenshot(str(where / f"{name}.png"))


def alerts(d: webdriver.Chrome) -> str:
    return " ".join(el.text for el in d.find_elements(By.CSS_SELECTOR, ".flash.error"))
