"""The web console in a real browser (issue #21; ``tests/browser.py`` starts Debian's chromium): a test signs
in with an API key, creates a vault, denies public network access, approves a second principal's pending
private endpoint connection, and signs out; the OpenAPI explorer runs from local assets. Cookies and forms
are checked from outside the browser too: HttpOnly, SameSite=Strict, Secure over TLS, CSRF on every form.
The whole seed story is ``test_console_story.py``; keyboard, zoom and speed are ``test_console_a11y.py``."""

from __future__ import annotations

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from tests.browser import artifacts, browser, go, shot
from tests.conftest import Server

__all__ = ["browser"]  # the fixture

def test_sign_in_deny_approve_sign_out(server: Server, browser: webdriver.Chrome,
                                       request: pytest.FixtureRequest) -> None:
    s, d, tmp_path = server, browser, artifacts(request)
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
        assert r.status_code == 303 and "CSRF" in c.get(f"{s.url}{r.headers['location']}").text
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        r = c.post(f"{s.url}/console/vaults", data={"name": "forged", "region": "local-1", "csrf": csrf},
                   headers={"origin": "https://evil.example"})
        assert "another site" in c.get(f"{s.url}{r.headers['location']}").text
        assert "forged" not in [v["name"] for v in s.ok("vault", "list")]
        r = c.post(f"{s.url}/console/vaults", data={"name": "real", "region": "local-1", "csrf": csrf})
        assert r.status_code == 303 and "real" in [v["name"] for v in s.ok("vault", "list")]
    with httpx.Client(verify=s.verify, timeout=10, follow_redirects=False) as anon:
        assert anon.get(f"{s.url}/console/vaults").status_code == 303  # to the sign-in page
        css = anon.get(f"{s.url}/console/assets/console.css")
        assert css.status_code == 200 and "http" not in css.text.lower(), "no asset from elsewhere"


def test_the_api_explorer_runs_from_local_assets(server: Server, browser: webdriver.Chrome,
                                                 request: pytest.FixtureRequest) -> None:
    """Swagger UI from the package's own files: its operations render, and every file the page loaded came
    from this server (a machine without internet sees the same page)."""
    s, d = server, browser
    d.get(f"{s.url}/v1/docs")
    WebDriverWait(d, 20).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, ".opblock"))
    assert len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 50
    loaded: list[str] = d.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert loaded and all(u.startswith(s.url) for u in loaded), [u for u in loaded if not u.startswith(s.url)]
    shot(d, artifacts(request), "api-explorer")
    with httpx.Client(verify=s.verify, timeout=10) as c:
        page = c.get(f"{s.url}/v1/docs")
        assert "cdn" not in page.text.lower() and "default-src 'self'" in page.headers["content-security-policy"]
        assert c.get(f"{s.url}/v1/docs/assets/..%2f__init__.py").status_code == 404
        assert c.get(f"{s.url}/v1/docs/assets/index.html").status_code == 404, "only the explorer's files"


def test_forms_without_the_sessions_token_change_nothing(server: Server) -> None:
    """Every new form of the console checks the session's CSRF token the same way: the DNS doctor's Fix,
    a vnet, a zone record, a restore."""
    s = server
    s.ok("vault", "create", "prod", "--region", "local-1")
    with httpx.Client(verify=s.verify, timeout=10, follow_redirects=False) as c:
        assert c.post(f"{s.url}/console/login", data={"api_key": s.owner_key}).status_code == 303
        for path, form in (("/console/vnets", {"name": "forged", "region": "local-1",
                                                "address_space": "127.90.0.0/16"}),
                           ("/console/dns/zones", {"name": "forged.internal"}),
                           ("/console/vaults/prod/dns/fix", {"key": "*"}),
                           ("/console/endpoints/new", {"tab": "review", "go": "create", "name": "forged"})):
            r = c.post(f"{s.url}{path}", data=form)
            assert r.status_code in (200, 303, 403), (path, r.status_code)
            follow = c.get(f"{s.url}{r.headers['location']}") if r.status_code == 303 else r
            assert "CSRF" in follow.text, (path, follow.text[:300])
    assert s.ok("vnet", "list") == [] and s.ok("dns", "zone", "list") == [] and s.ok("endpoint", "list") == []
