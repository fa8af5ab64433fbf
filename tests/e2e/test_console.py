"""The web console in a real browser (issue #21, first part): Debian's chromium driven by Selenium through
Debian's chromedriver (its path given: Selenium Manager never downloads one), headless, with background
networking, updates and metrics off, so it talks to the console's loopback address only. A test signs in
with an API key, creates a vault, denies public network access, approves a second principal's pending
private endpoint connection, and signs out; screenshots are saved beside the test's files. Cookies and
forms are checked from outside the browser too: HttpOnly, SameSite=Strict, Secure over TLS, CSRF."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from tests.conftest import Server

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    for exe in (CHROMIUM, DRIVER):
        assert shutil.which(exe), f"{exe} is missing: scripts/install-system-deps.sh installs it"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--metrics-recording-only", "--disable-breakpad",
                 "--ignore-certificate-errors", f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,900"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def go(d: webdriver.Chrome, by: str, what: str) -> None:
    """Click what navigates (a link, a form's button) and wait for the next page."""
    page = d.find_element(By.TAG_NAME, "html")
    d.find_element(by, what).click()
    WebDriverWait(d, 15).until(EC.staleness_of(page))


def shot(driver: webdriver.Chrome, tmp_path: Path, name: str) -> None:
    out = tmp_path / "screenshots"
    out.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(out / f"{name}.png"))


def test_the_seed_story_in_the_browser(server: Server, browser: webdriver.Chrome, tmp_path: Path) -> None:
    s, d = server, browser
    # a second principal (no right to approve) asks for an endpoint to a vault made in the browser
    d.get(f"{s.url}/")
    assert d.current_url.endswith("/console/login")
    d.find_element(By.NAME, "api_key").send_keys(s.owner_key)
    go(d, By.CSS_SELECTOR, "button[type=submit]")
    assert d.current_url.endswith("/console/vaults"), d.page_source[:500]
    shot(d, tmp_path, "01-vaults")
    d.find_element(By.NAME, "name").send_keys("web-vault")
    go(d, By.XPATH, "//button[text()='Create']")
    assert "Vault web-vault" in d.find_element(By.TAG_NAME, "h1").text
    # Networking > Public access: Deny, Apply
    d.find_element(By.CSS_SELECTOR, "input[name=access][value=Disabled]").click()
    go(d, By.XPATH, "//button[text()='Apply']")
    assert "saved" in d.find_element(By.CSS_SELECTOR, ".flash").text
    assert s.ok("vault", "show", "web-vault")["public_network_access"] == "Disabled"
    shot(d, tmp_path, "02-public-access-denied")

    s.ok("vnet", "create", "web-net", "--region", "local-1", "--address-space", "127.88.0.0/16",
         "--subnet", "default=127.88.1.0/24")
    helper = s.ok("principal", "create", "helper")
    s.ok("role", "assign", "helper", "Network Contributor")
    pe = s.ok("endpoint", "create", "--name", "helper-pe", "--region", "local-1", "--vault", "web-vault",
              "--group-id", "AzureBackup", "--vnet", "web-net", "--subnet", "default", api_key=helper["api_key"])
    assert pe["connection"]["status"] == "Pending"
    # Networking > Private access: the pending connection, approved with a description
    go(d, By.LINK_TEXT, "Private access")
    assert "Pending" in d.find_element(By.TAG_NAME, "table").text + d.page_source
    shot(d, tmp_path, "03-pending")
    d.find_element(By.CSS_SELECTOR, "input[aria-label='Description for Approve']").send_keys("ok for the web tier")
    go(d, By.XPATH, "//button[text()='Approve']")
    assert "approve done" in d.find_element(By.CSS_SELECTOR, ".flash").text
    assert s.ok("endpoint", "show", "helper-pe")["status"] == "Approved"
    assert "ok for the web tier" in d.page_source
    shot(d, tmp_path, "04-approved")
    # a refusal shows the CLI's message on the page: a vault name that is taken
    go(d, By.LINK_TEXT, "Vaults")
    d.find_element(By.NAME, "name").send_keys("web-vault")
    go(d, By.XPATH, "//button[text()='Create']")
    assert "already exists" in d.find_element(By.CSS_SELECTOR, ".flash.error").text
    audit = s.ok("audit", "list", "--action", "connection.approve", "--decision", "allowed")
    assert audit and audit[0]["principal"].endswith("user/owner")
    go(d, By.XPATH, "//button[text()='Sign out']")
    assert d.current_url.endswith("/console/login")
    d.get(f"{s.url}/console/vaults")
    assert d.current_url.endswith("/console/login"), "signed out: the session is gone"


def test_session_cookie_and_forms_are_safe(server: Server) -> None:
    s = server
    with httpx.Client(verify=s.verify, timeout=10, follow_redirects=False) as c:
        bad = c.post(f"{s.url}/console/login", data={"api_key": "vlk_nope"})
        assert bad.status_code == 401 and "vl_session" not in bad.headers.get("set-cookie", "")
        r = c.post(f"{s.url}/console/login", data={"api_key": s.owner_key})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert ("Secure" in cookie) == s.url.startswith("https")
        assert s.owner_key not in cookie
        page = c.get(f"{s.url}/console/vaults")
        assert page.status_code == 200 and "script-src 'none'" in page.headers["content-security-policy"]
        # a form without the session's CSRF token, or posted from another site, changes nothing
        r = c.post(f"{s.url}/console/vaults", data={"name": "forged", "region": "local-1"})
        assert r.status_code == 200 and "CSRF" in r.text
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        r = c.post(f"{s.url}/console/vaults", data={"name": "forged", "region": "local-1", "csrf": csrf},
                   headers={"origin": "https://evil.example"})
        assert "another site" in r.text
        assert "forged" not in [v["name"] for v in s.ok("vault", "list")]
        r = c.post(f"{s.url}/console/vaults", data={"name": "real", "region": "local-1", "csrf": csrf})
        assert r.status_code == 303 and "real" in [v["name"] for v in s.ok("vault", "list")]
    with httpx.Client(verify=s.verify, timeout=10, follow_redirects=False) as anon:
        assert anon.get(f"{s.url}/console/vaults").status_code == 303  # to the sign-in page
        css = anon.get(f"{s.url}/console/assets/console.css")
        assert css.status_code == 200 and "http" not in css.text.lower(), "no asset from elsewhere"
