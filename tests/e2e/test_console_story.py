"""The Azure seed's story entirely in the browser (issue #21): deny public access, make the vnet, create the
private endpoint through the wizard (Basics, Resource, Virtual network, DNS, Tags, Review + create), approve
a second principal's connection, see the DNS records (and download them as a hosts file), see a backup job
run and its recovery point, restore it onto the machine; screenshots saved as artifacts. And bad input in the
wizard (region mismatch, vault with protection history, subnet full) shows the CLI's own message on the tab
where it belongs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from tests.browser import alerts, artifacts, browser, go, shot, sign_in
from tests.conftest import CliResult, Server

__all__ = ["browser"]  # the fixture
VM_IP = "127.88.1.100"


def fill(d: webdriver.Chrome, **fields: str) -> None:
    for name, value in fields.items():
        el = d.find_element(By.NAME, name)
        if el.tag_name == "select":
            Select(el).select_by_value(value)
        else:
            el.clear()
            el.send_keys(value)


def step(d: webdriver.Chrome, label: str) -> None:
    go(d, By.XPATH, f"//div[@class='actions']/button[normalize-space()='{label}']")


def tab(d: webdriver.Chrome) -> str:
    return d.find_element(By.CSS_SELECTOR, "nav.wizard-tabs button[aria-current=step]").text


def agent(s: Server, tmp: Path, *args: str, json_out: bool = True) -> CliResult:
    pw = tmp / "pw"
    pw.write_text("correct horse battery staple")
    return s.cli("agent", *args, "--state-dir", str(tmp / "agent"), "--passphrase-file", str(pw), timeout=60,
                 json_out=json_out)


def test_the_azure_seed_story_in_the_browser(server: Server, browser: webdriver.Chrome, tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    s, d, out = server, browser, artifacts(request)
    sign_in(d, s.url, s.owner_key)
    fill(d, name="prod")
    go(d, By.XPATH, "//button[text()='Create']")
    d.find_element(By.CSS_SELECTOR, "input[name=access][value=Disabled]").click()
    go(d, By.XPATH, "//button[text()='Apply']")
    assert s.ok("vault", "show", "prod")["public_network_access"] == "Disabled"
    shot(d, out, "01-public-access-denied")

    # the virtual network, made in the console
    go(d, By.LINK_TEXT, "Virtual networks")
    fill(d, name="web-net", address_space="127.88.0.0/16", subnet="default=127.88.1.0/24")
    go(d, By.XPATH, "//button[text()='Create']")
    assert "web-net created" in d.find_element(By.CSS_SELECTOR, ".flash").text
    shot(d, out, "02-vnet")

    # Networking > Private access > + Private endpoint: the wizard, tab by tab
    d.get(f"{s.url}/console/vaults/prod?tab=private")
    go(d, By.LINK_TEXT, "+ Private endpoint")
    assert tab(d) == "Basics"
    fill(d, name="web-pe")
    step(d, "Next")
    picked = Select(d.find_element(By.NAME, "vault")).first_selected_option.text
    assert tab(d) == "Resource" and picked.startswith("prod")
    step(d, "Next")
    fill(d, vnet="web-net")
    step(d, "Next")
    assert tab(d) == "DNS"
    step(d, "Next")
    fill(d, tag_key_1="env", tag_value_1="prod")
    step(d, "Review + create")
    assert tab(d) == "Review + create" and "Validation passed" in d.page_source
    assert "privatelink" in d.page_source and "env=prod" in d.page_source
    shot(d, out, "03-review-create")
    step(d, "Create")
    assert "Vault prod" in d.find_element(By.TAG_NAME, "h1").text
    pe = s.ok("endpoint", "show", "web-pe")
    assert pe["status"] == "Approved" and pe["dns_integration"] and pe["tags"] == {"env": "prod"}
    shot(d, out, "04-endpoint-created")

    # a second principal's endpoint waits for the owner's approval
    helper = s.ok("principal", "create", "helper")
    s.ok("role", "assign", "helper", "Network Contributor")
    s.ok("vnet", "create", "app-net", "--region", "local-1", "--address-space", "127.89.0.0/16", "--subnet",
         "default=127.89.1.0/24", api_key=helper["api_key"])
    s.ok("endpoint", "create", "--name", "helper-pe", "--region", "local-1", "--vault", "prod", "--group-id",
         "AzureBackup", "--vnet", "app-net", "--subnet", "default", api_key=helper["api_key"])
    d.refresh()
    row = d.find_element(By.XPATH, "//tr[td[1][text()='helper-pe']]")
    assert "Pending" in row.text
    row.find_element(By.CSS_SELECTOR, "input[aria-label='Description for Approve']").send_keys("for the app tier")
    go(d, By.XPATH, "//tr[td[1][text()='helper-pe']]//button[text()='Approve']")
    assert s.ok("endpoint", "show", "helper-pe")["status"] == "Approved"
    shot(d, out, "05-approved")

    # DNS: the doctor finds the vault's identity lacks a right on the helper's vnet; Fix all grants it
    go(d, By.LINK_TEXT, "DNS")
    assert "identity-role-missing" in d.page_source, d.find_element(By.TAG_NAME, "main").text[:3000]
    shot(d, out, "06-dns-doctor")
    go(d, By.XPATH, "//button[text()='Fix all']")
    assert "Private DNS is complete" in d.page_source, d.find_element(By.TAG_NAME, "main").text[:3000]
    ip = pe["ips"][0]
    assert ip in d.page_source and pe["ip_configs"][0]["fqdn"] in d.page_source
    shot(d, out, "07-dns-records")
    # a record deleted by hand: the doctor shows it, one click puts it back
    zone = pe["ip_configs"][0]["zone"]
    record = pe["ip_configs"][0]["fqdn"].removesuffix("." + zone)
    s.ok("dns", "record", "delete", zone, record, "A")
    d.refresh()
    assert "record-missing" in d.page_source
    go(d, By.XPATH, "//button[text()='Fix']")
    assert "Fixed 1 problem(s). Private DNS is complete." in d.find_element(By.CSS_SELECTOR, ".flash").text
    assert any(r["name"] == record for r in s.ok("dns", "record", "list", zone))
    href = d.find_element(By.LINK_TEXT, "Download hosts file").get_attribute("href")
    cookie = d.get_cookie("vl_session")
    assert cookie is not None and href
    with httpx.Client(verify=s.verify, timeout=10, cookies={"vl_session": cookie["value"]}) as c:
        hosts = c.get(href)
    assert hosts.status_code == 200 and f"{ip} {pe['ip_configs'][0]['fqdn']}" in hosts.text

    # a machine in the vnet registers through the private endpoint and backs up: the job and its point
    creds = tmp_path / "prod.vaultcredentials"
    assert s.cli("vault", "credentials", "prod", "-o", str(creds), json_out=False).exit_code == 0
    dns = f"127.0.0.1:{s.info['dns_port']}"
    reg = agent(s, tmp_path, "register", "--credentials", str(creds), "--source-ip", VM_IP, "--dns", dns,
                "--hostname", "vm1")
    assert reg.exit_code == 0, reg.stderr
    src = tmp_path / "src"
    src.mkdir()
    (src / "report.txt").write_text("quarterly numbers\n" * 1000)
    (src / "draft.tmp").write_text("scratch\n")
    b = agent(s, tmp_path, "backup", str(src))
    assert b.exit_code == 0, b.stderr
    rp = b.json["recovery_point"]["id"]
    go(d, By.LINK_TEXT, "Backup")
    jobs = d.find_element(By.XPATH, "//table[caption[contains(., 'job')]]").text
    assert "Backup" in jobs and "Completed" in jobs and "vm1" in jobs
    points = d.find_element(By.XPATH, "//table[caption[contains(., 'recovery point')]]")
    assert "1 recovery point(s)" in points.text and str(src) in points.text
    shot(d, out, "08-backup-job-and-point")

    # restore it onto the machine: a restore job the agent picks up
    go(d, By.LINK_TEXT, "Restore…")
    assert rp in d.page_source
    fill(d, target=str(tmp_path / "restored"), exclude="*.tmp")  # the point less what the pattern matches
    go(d, By.XPATH, "//button[text()='Restore']")
    assert "Restore" in d.page_source and ("Created" in d.page_source or "InProgress" in d.page_source)
    assert "Leaving out" in d.page_source and "*.tmp" in d.page_source
    shot(d, out, "09-restore-job")
    ran = agent(s, tmp_path, "run", "--once", json_out=False)
    assert ran.exit_code == 0, ran.stderr
    assert (tmp_path / "restored" / "src" / "report.txt").read_text().startswith("quarterly")
    assert not (tmp_path / "restored" / "src" / "draft.tmp").exists()
    d.refresh()
    assert "Completed" in d.page_source
    shot(d, out, "10-restore-completed")


def cli_problem(s: Server, field: str, *args: str) -> str:
    """The CLI's message for the problem with ``field`` (``vaultlink endpoint create --dry-run``)."""
    r = s.cli("endpoint", "create", *args, "--dry-run", json_out=False)
    assert r.exit_code != 0
    for line in r.stderr.splitlines():
        head, _, msg = line.strip().removeprefix("- ").partition(f" ({field}): ")
        if msg:
            return f"{head}: {msg}"
    line = r.stderr.splitlines()[0].removeprefix("error: ")
    return line.rsplit(f" (field: {field})", 1)[0]


def test_bad_input_in_the_wizard_shows_the_clis_message_on_its_tab(
        server: Server, browser: webdriver.Chrome, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    s, d, out = server, browser, artifacts(request)
    s.ok("vault", "create", "prod", "--region", "local-1")
    s.ok("vault", "create", "used", "--region", "local-1")
    s.ok("vnet", "create", "web-net", "--region", "local-1", "--address-space", "127.88.0.0/16",
         "--subnet", "default=127.88.1.0/24", "--subnet", "tiny=127.88.2.0/29")
    # "used" has protection history: a machine registered before it ever had a private endpoint
    creds = tmp_path / "used.vaultcredentials"
    assert s.cli("vault", "credentials", "used", "-o", str(creds), json_out=False).exit_code == 0
    reg = agent(s, tmp_path, "register", "--credentials", str(creds), "--source-ip", "127.0.0.1", "--dns",
                f"127.0.0.1:{s.info['dns_port']}", "--hostname", "old-vm")
    assert reg.exit_code == 0, reg.stderr
    # the tiny subnet (a /29: three usable addresses) filled with endpoints
    made = []
    for i in range(8):
        r = s.cli("endpoint", "create", "--name", f"fill-{i}", "--region", "local-1", "--vault", "prod",
                  "--group-id", "AzureBackup", "--vnet", "web-net", "--subnet", "tiny", "--no-dns-integration")
        if r.exit_code != 0:
            assert r.error_code == "SubnetFull", r.stderr
            break
        made.append(f"fill-{i}")
    assert made, "the tiny subnet took no endpoint at all"
    sign_in(d, s.url, s.owner_key)
    cases = (
        ("region mismatch", {"region": "local-2"}, "Basics", "region"),
        ("protection history", {"vault": "used"}, "Resource", "vault"),
        ("subnet full", {"subnet": "tiny"}, "Virtual network", "subnet"),
    )
    for i, (what, change, where, field) in enumerate(cases):
        good = {"name": f"pe-{i}", "region": "local-1", "vault": "prod", "vnet": "web-net", "subnet": "default"}
        wanted = {**good, **change}
        expected = cli_problem(s, field, "--name", wanted["name"], "--region", wanted["region"], "--vault",
                               wanted["vault"], "--group-id", "AzureBackup", "--vnet", wanted["vnet"], "--subnet",
                               wanted["subnet"])
        d.get(f"{s.url}/console/endpoints/new?vault=prod&region=local-1")
        for fields in (("name", "region"), ("vault",), ("vnet", "subnet")):  # fill each tab, Next, until refused
            fill(d, **{k: wanted[k] for k in fields})
            step(d, "Next")
            if alerts(d):
                break
        assert tab(d) == where, (what, tab(d), alerts(d))
        assert expected in alerts(d), (what, expected, alerts(d))
        shot(d, out, f"{i + 1}-{what.replace(' ', '-')}")
    assert sorted(e["name"] for e in s.ok("endpoint", "list")) == made, "nothing was created"
    # each refusal that stopped the wizard is audited with its code, as the CLI's own dry run of the same
    # input is: two of each; the fields of tabs not reached yet cost no audited refusal
    refused = s.ok("audit", "list", "--action", "endpoint.validate", "--decision", "denied")
    codes = sorted(ev["code"] for ev in refused)
    assert codes == sorted(["RegionMismatch", "SubnetFull", "VaultHasProtectionHistory"] * 2), codes
