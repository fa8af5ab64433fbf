"""Every route is in the attack table, and every route's action is the right one.

A route added without a row here fails ``test_every_route_is_in_the_table``: add it, with a sample path,
so the unauthenticated probe below covers it (and think about which credential kinds may call it).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.security.conftest import VM_A, World

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.api.app import create_app
from vaultlink.api.data_apps import build_data_apps
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.fabric.actions import _MANAGEMENT_ACTIONS, is_read
from vaultlink.fabric.routes import RouteTable
from vaultlink.policy.actions import lookup

PUBLIC = {"/v1/openapi.json", "/v1/docs", "/docs/oauth2-redirect", "/v1/healthz", "/healthz"}
# the web console (api/console.py) signs in with a form and a session cookie, and redirects an anonymous
# browser to its sign-in page: tests/e2e/test_console.py checks its cookie, CSRF and same-site rules
CONSOLE = {"/", "/console", "/console/", "/console/login", "/console/logout", "/console/assets/console.css",
           "/console/vaults", "/console/vaults/{name}", "/console/vaults/{name}/public-access",
           "/console/vaults/{name}/connections/{endpoint}/{action}", "/console/endpoints/new",
           "/console/vnets", "/console/vnets/{name}", "/console/vnets/{name}/subnets",
           "/console/vnets/{name}/subnets/{subnet}/delete", "/console/vnets/{name}/peerings",
           "/console/vnets/{name}/peerings/{other}/delete", "/console/dns", "/console/dns/zones",
           "/console/dns/zones/{zone}", "/console/dns/zones/{zone}/records",
           "/console/dns/zones/{zone}/records/{name}/{rtype}/delete", "/console/dns/zones/{zone}/links",
           "/console/dns/zones/{zone}/links/{link}/delete", "/console/vaults/{name}/dns",
           "/console/vaults/{name}/dns/fix", "/console/endpoints/{endpoint}/dns-config.{fmt}",
           "/console/vaults/{name}/backup", "/console/recovery-points/{rp_id}",
           "/console/recovery-points/{rp_id}/restore", "/console/jobs/{job_id}", "/console/audit",
           "/console/vaults/{name}/monitoring", "/v1/docs/assets/{name}"}
# console pages anyone may fetch: the rest need a signed-in session (test_console_routes_need_a_session)
CONSOLE_OPEN = {"/", "/console", "/console/", "/console/login", "/console/logout", "/console/assets/console.css",
                "/v1/docs/assets/{name}"}

# (app, method, path template) -> a sample path for the unauthenticated probe
TABLE: dict[tuple[str, str, str], str] = {
    ("mgmt", "GET", "/v1/whoami"): "/v1/whoami",
    ("mgmt", "POST", "/v1/accounts"): "/v1/accounts",
    ("mgmt", "GET", "/v1/accounts"): "/v1/accounts",
    ("mgmt", "GET", "/v1/accounts/{account_id}"): "/v1/accounts/111122223333",
    ("mgmt", "POST", "/v1/principals"): "/v1/principals",
    ("mgmt", "GET", "/v1/principals"): "/v1/principals",
    ("mgmt", "DELETE", "/v1/principals/{ref}"): "/v1/principals/x",
    ("mgmt", "POST", "/v1/keys"): "/v1/keys",
    ("mgmt", "GET", "/v1/keys"): "/v1/keys",
    ("mgmt", "POST", "/v1/keys/{key_id}/revoke"): "/v1/keys/AK0/revoke",
    ("mgmt", "POST", "/v1/role-assignments"): "/v1/role-assignments",
    ("mgmt", "GET", "/v1/role-assignments"): "/v1/role-assignments",
    ("mgmt", "DELETE", "/v1/role-assignments/{assignment_id}"): "/v1/role-assignments/ra-x",
    ("mgmt", "GET", "/v1/regions"): "/v1/regions",
    ("mgmt", "POST", "/v1/vaults"): "/v1/vaults",
    ("mgmt", "GET", "/v1/vaults"): "/v1/vaults",
    ("mgmt", "GET", "/v1/vaults/{ref}"): "/v1/vaults/prod",
    ("mgmt", "PATCH", "/v1/vaults/{ref}"): "/v1/vaults/prod",
    ("mgmt", "DELETE", "/v1/vaults/{ref}"): "/v1/vaults/prod",
    ("mgmt", "GET", "/v1/audit"): "/v1/audit",
    ("mgmt", "GET", "/v1/audit/stream"): "/v1/audit/stream",
    ("mgmt", "PUT", "/v1/vaults/{ref}/access-policy"): "/v1/vaults/prod/access-policy",
    ("mgmt", "GET", "/v1/vaults/{ref}/access-policy"): "/v1/vaults/prod/access-policy",
    ("mgmt", "DELETE", "/v1/vaults/{ref}/access-policy"): "/v1/vaults/prod/access-policy",
    ("mgmt", "PUT", "/v1/principals/{ref}/policies"): "/v1/principals/owner/policies",
    ("mgmt", "GET", "/v1/principals/{ref}/policies"): "/v1/principals/owner/policies",
    ("mgmt", "POST", "/v1/vnets"): "/v1/vnets",
    ("mgmt", "GET", "/v1/vnets"): "/v1/vnets",
    ("mgmt", "GET", "/v1/vnets/{ref}"): "/v1/vnets/vm-net",
    ("mgmt", "PATCH", "/v1/vnets/{ref}"): "/v1/vnets/vm-net",
    ("mgmt", "DELETE", "/v1/vnets/{ref}"): "/v1/vnets/vm-net",
    ("mgmt", "POST", "/v1/vnets/{ref}/subnets"): "/v1/vnets/vm-net/subnets",
    ("mgmt", "GET", "/v1/vnets/{ref}/subnets"): "/v1/vnets/vm-net/subnets",
    ("mgmt", "DELETE", "/v1/vnets/{ref}/subnets/{name}"): "/v1/vnets/vm-net/subnets/default",
    ("mgmt", "POST", "/v1/vnets/{ref}/peerings"): "/v1/vnets/vm-net/peerings",
    ("mgmt", "DELETE", "/v1/vnets/{ref}/peerings/{other}"): "/v1/vnets/vm-net/peerings/app-net",
    ("mgmt", "POST", "/v1/endpoints"): "/v1/endpoints",
    ("mgmt", "GET", "/v1/endpoints"): "/v1/endpoints",
    ("mgmt", "GET", "/v1/endpoints/{ref}"): "/v1/endpoints/pe1",
    ("mgmt", "DELETE", "/v1/endpoints/{ref}"): "/v1/endpoints/pe1",
    ("mgmt", "GET", "/v1/endpoints/{ref}/policy"): "/v1/endpoints/pe1/policy",
    ("mgmt", "PUT", "/v1/endpoints/{ref}/policy"): "/v1/endpoints/pe1/policy",
    ("mgmt", "DELETE", "/v1/endpoints/{ref}/policy"): "/v1/endpoints/pe1/policy",
    ("mgmt", "GET", "/v1/endpoints/{ref}/security-group"): "/v1/endpoints/pe1/security-group",
    ("mgmt", "POST", "/v1/endpoints/{ref}/security-group/rules"): "/v1/endpoints/pe1/security-group/rules",
    ("mgmt", "DELETE", "/v1/endpoints/{ref}/security-group/rules/{rule_id}"):
        "/v1/endpoints/pe1/security-group/rules/r1",
    ("mgmt", "POST", "/v1/endpoints/{ref}/sync"): "/v1/endpoints/pe1/sync",
    ("mgmt", "GET", "/v1/vaults/{vault}/connections"): "/v1/vaults/prod/connections",
    ("mgmt", "POST", "/v1/connections/{ref}/{action}"): "/v1/connections/pe1/approve",
    ("mgmt", "POST", "/v1/dns/zones"): "/v1/dns/zones",
    ("mgmt", "GET", "/v1/dns/zones"): "/v1/dns/zones",
    ("mgmt", "GET", "/v1/dns/zones/{zone}"): "/v1/dns/zones/z",
    ("mgmt", "DELETE", "/v1/dns/zones/{zone}"): "/v1/dns/zones/z",
    ("mgmt", "PUT", "/v1/dns/zones/{zone}/records"): "/v1/dns/zones/z/records",
    ("mgmt", "GET", "/v1/dns/zones/{zone}/records"): "/v1/dns/zones/z/records",
    ("mgmt", "DELETE", "/v1/dns/zones/{zone}/records/{name}/{rtype}"): "/v1/dns/zones/z/records/a/A",
    ("mgmt", "POST", "/v1/dns/zones/{zone}/links"): "/v1/dns/zones/z/links",
    ("mgmt", "GET", "/v1/dns/zones/{zone}/links"): "/v1/dns/zones/z/links",
    ("mgmt", "DELETE", "/v1/dns/zones/{zone}/links/{link}"): "/v1/dns/zones/z/links/l",
    ("mgmt", "GET", "/v1/dns/check"): "/v1/dns/check?name=x&source=127.0.0.1",
    ("mgmt", "GET", "/v1/dns/doctor/{vault}"): "/v1/dns/doctor/prod",
    ("mgmt", "GET", "/v1/dns/forwarders/{vault}"): "/v1/dns/forwarders/prod?target=10.0.0.4",
    ("mgmt", "GET", "/v1/endpoints/{endpoint}/dns-config"): "/v1/endpoints/pe1/dns-config",
    ("mgmt", "POST", "/v1/vaults/{ref}/credentials"): "/v1/vaults/prod/credentials",
    ("mgmt", "GET", "/v1/vaults/{ref}/recovery-points"): "/v1/vaults/prod/recovery-points",
    ("mgmt", "GET", "/v1/recovery-points/{rp_id}"): "/v1/recovery-points/rp1",
    ("mgmt", "DELETE", "/v1/recovery-points/{rp_id}"): "/v1/recovery-points/rp1",
    ("mgmt", "GET", "/v1/vaults/{ref}/jobs"): "/v1/vaults/prod/jobs",
    ("mgmt", "GET", "/v1/jobs/{job_id}"): "/v1/jobs/j1",
    ("mgmt", "GET", "/v1/vaults/{ref}/containers"): "/v1/vaults/prod/containers",
    ("mgmt", "GET", "/v1/vaults/{ref}/lock"): "/v1/vaults/prod/lock",
    ("mgmt", "PUT", "/v1/vaults/{ref}/lock"): "/v1/vaults/prod/lock",
    ("mgmt", "DELETE", "/v1/vaults/{ref}/lock"): "/v1/vaults/prod/lock",
    ("mgmt", "POST", "/v1/recovery-points/{rp_id}/undelete"): "/v1/recovery-points/rp1/undelete",
    ("mgmt", "PATCH", "/v1/recovery-points/{rp_id}"): "/v1/recovery-points/rp1",
    ("mgmt", "POST", "/v1/recovery-points/{rp_id}/restore"): "/v1/recovery-points/rp1/restore",
    ("mgmt", "POST", "/v1/recovery-points/{rp_id}/copy"): "/v1/recovery-points/rp1/copy",
    ("mgmt", "POST", "/v1/vaults/{ref}/prune"): "/v1/vaults/prod/prune",
    ("mgmt", "POST", "/v1/vaults/{ref}/replicate"): "/v1/vaults/prod/replicate",
    ("mgmt", "GET", "/v1/vaults/{ref}/usage"): "/v1/vaults/prod/usage",
    ("mgmt", "POST", "/v1/plans"): "/v1/plans",
    ("mgmt", "GET", "/v1/vaults/{ref}/items"): "/v1/vaults/prod/items",
    ("mgmt", "DELETE", "/v1/protected-items/{item_id}"): "/v1/protected-items/i1",
    ("mgmt", "POST", "/v1/protected-items/{item_id}/undelete"): "/v1/protected-items/i1/undelete",
    ("mgmt", "DELETE", "/v1/vaults/{ref}/containers/{container}"): "/v1/vaults/prod/containers/c1",
    ("mgmt", "PATCH", "/v1/vaults/{ref}/containers/{container}"): "/v1/vaults/prod/containers/c1",
    ("mgmt", "POST", "/v1/vaults/{ref}/containers/{container}/undelete"): "/v1/vaults/prod/containers/c1/undelete",
    ("mgmt", "POST", "/v1/jobs/{job_id}/stop"): "/v1/jobs/j1/stop",
    ("mgmt", "GET", "/v1/vaults/{ref}/containers/{container}/keys"): "/v1/vaults/prod/containers/c1/keys",
    ("mgmt", "POST", "/v1/vaults/{ref}/containers/{container}/keys/restore"):
        "/v1/vaults/prod/containers/c1/keys/restore",
    ("mgmt", "GET", "/v1/plans"): "/v1/plans",
    ("mgmt", "GET", "/v1/plans/{ref}"): "/v1/plans/p1",
    ("mgmt", "DELETE", "/v1/plans/{ref}"): "/v1/plans/p1",
    ("mgmt", "POST", "/v1/gateway/activations"): "/v1/gateway/activations",
    ("mgmt", "POST", "/v1/gateway/activations/{key}/claim"):
        "/v1/gateway/activations/ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2/claim",
    ("mgmt", "POST", "/v1/gateway/heartbeat"): "/v1/gateway/heartbeat",
    ("mgmt", "POST", "/v1/gateways"): "/v1/gateways",
    ("mgmt", "GET", "/v1/gateways"): "/v1/gateways",
    ("mgmt", "GET", "/v1/gateways/{ref}"): "/v1/gateways/bgw-1",
    ("mgmt", "PATCH", "/v1/gateways/{ref}"): "/v1/gateways/bgw-1",
    ("mgmt", "DELETE", "/v1/gateways/{ref}"): "/v1/gateways/bgw-1",
    ("mgmt", "POST", "/v1/gateways/{ref}/associate"): "/v1/gateways/bgw-1/associate",
    ("mgmt", "POST", "/v1/gateways/{ref}/disassociate"): "/v1/gateways/bgw-1/disassociate",
    ("mgmt", "POST", "/v1/hypervisors"): "/v1/hypervisors",
    ("mgmt", "GET", "/v1/hypervisors"): "/v1/hypervisors",
    ("mgmt", "GET", "/v1/hypervisors/{ref}"): "/v1/hypervisors/hype-1",
    ("mgmt", "DELETE", "/v1/hypervisors/{ref}"): "/v1/hypervisors/hype-1",
    ("mgmt", "GET", "/v1/virtual-machines"): "/v1/virtual-machines",
    ("mgmt", "GET", "/v1/virtual-machines/{ref}"): "/v1/virtual-machines/vm-1",
    ("backup", "POST", "/containers/register"): "/containers/register",
    ("backup", "GET", "/containers/self"): "/containers/self",
    ("backup", "GET", "/chunks"): "/chunks",
    ("backup", "POST", "/chunks/query"): "/chunks/query",
    ("backup", "POST", "/chunks"): "/chunks",
    ("backup", "POST", "/jobs"): "/jobs",
    ("backup", "POST", "/jobs/{job_id}/complete"): "/jobs/j1/complete",
    ("backup", "POST", "/jobs/{job_id}/finish"): "/jobs/j1/finish",
    ("backup", "POST", "/jobs/{job_id}/progress"): "/jobs/j1/progress",
    ("backup", "GET", "/recovery-points"): "/recovery-points",
    ("backup", "POST", "/keys/retire"): "/keys/retire",
    ("backup", "GET", "/recovery-points/{rp_id}"): "/recovery-points/rp1",
    ("backup", "POST", "/recovery-points/{rp_id}/restore-jobs"): "/recovery-points/rp1/restore-jobs",
    ("backup", "GET", "/"): "/",
    ("blob", "GET", "/"): "/",
    ("blob", "PUT", "/{name:path}"): "/keys/key",
    ("blob", "GET", "/{name:path}"): "/keys/key",
    ("blob", "HEAD", "/{name:path}"): "/keys/key",
    ("queue", "POST", "/messages"): "/messages",
    ("queue", "GET", "/messages"): "/messages",
    ("queue", "DELETE", "/messages/{item_id}"): "/messages/q1",
}
# data-plane writes that only read (a query with a body)
READ_POSTS = {("backup", "/chunks/query")}


def routes() -> list[tuple[str, str, str, str]]:
    """(app, method, path template, route name) of every route the product serves."""
    svc = build_service(Config(data_dir=Path("/nonexistent")), store=MemoryStore(), blobs=None)
    apps = {"mgmt": create_app(svc), **build_data_apps(svc)}
    out = []
    for app_name, app in apps.items():
        for e in RouteTable(app).entries:
            if e.path in PUBLIC or (app_name == "mgmt" and e.path in CONSOLE):
                continue
            for m in sorted(e.methods or {"GET"}):
                if m == "HEAD" and "GET" in (e.methods or ()):
                    continue
                out.append((app_name, m, e.path, e.name))
    return out


def test_every_route_is_in_the_table() -> None:
    served = {(a, m, p) for a, m, p, _ in routes()}
    missing = served - set(TABLE)
    assert not missing, f"routes missing from the attack table (tests/security/test_routes.py): {sorted(missing)}"
    assert not set(TABLE) - served, f"rows for routes that no longer exist: {sorted(set(TABLE) - served)}"


def test_every_data_route_is_a_catalog_action_of_the_right_kind() -> None:
    for app, method, path, name in routes():
        if app == "mgmt":
            continue
        info = lookup(name)
        assert info is not None, f"{app} {method} {path}: {name} is not in the policy action catalog"
        if method in ("GET", "HEAD") and name != "backup:ReceiveWorkItems":
            assert is_read(name), f"{app} {method} {path} reads but {name} is a {info.access} action"
        elif (app, path) not in READ_POSTS:
            assert not is_read(name), f"{app} {method} {path} changes data but {name} is a {info.access} action"
        if method == "DELETE":
            assert info.access == "Write", f"{app} DELETE {path}: {name} must be a Write action"


def test_every_backup_api_route_through_a_service_endpoint_is_a_catalog_action() -> None:
    names = {n for a, _m, _p, n in routes() if a == "mgmt"}
    for route_name, action in _MANAGEMENT_ACTIONS.items():
        assert route_name in names, f"{route_name} is mapped but not served"
        info = lookup(action)
        assert info is not None, f"{route_name} -> {action} is not in the catalog"
    for a, m, _p, n in routes():
        if a == "mgmt" and n in _MANAGEMENT_ACTIONS:
            assert (m == "GET") == is_read(_MANAGEMENT_ACTIONS[n]), (m, n)


@pytest.mark.parametrize("row", sorted(TABLE), ids=[f"{a} {m} {p}" for a, m, p in sorted(TABLE)])
def test_no_route_answers_without_a_credential(world: World, row: tuple[str, str, str]) -> None:
    app, method, _template = row
    path = TABLE[row]
    before = world.blobs_digest()
    since = time.time()
    if app == "mgmt":
        r = world.send("127.0.0.1", "127.0.0.1", {}, method, path, b"{}" if method in ("POST", "PUT", "PATCH")
                       else None, ip="127.0.0.1")
        source = "127.0.0.1"
    else:
        host = {"backup": world.backup_host(), "blob": world.blob_host(world.a),
                "queue": f"{world.a['write_account']}.queue.vaultlink.internal"}[app]
        r = world.send(VM_A, host, {}, method, path, b"{}" if method in ("POST", "PUT") else None)
        source = VM_A
    assert r.status_code in (401, 422) or (r.status_code == 400 and method != "GET"), (r.status_code, r.text)
    if r.status_code == 401:
        code = r.headers.get("x-error-code") if method == "HEAD" else r.json()["error"]["code"]
        assert code == "Unauthenticated"
        assert world.audited("Unauthenticated", source, since)
    assert world.blobs_digest() == before


def console_rows() -> list[tuple[str, str]]:
    """(method, path template) of every console route that needs a signed-in session."""
    svc = build_service(Config(data_dir=Path("/nonexistent")), store=MemoryStore(), blobs=None)
    out = []
    for e in RouteTable(create_app(svc)).entries:
        if e.path in CONSOLE and e.path not in CONSOLE_OPEN:
            out += [(m, e.path) for m in sorted(e.methods or {"GET"}) if m != "HEAD"]
    return sorted(set(out))


def test_every_console_route_is_listed() -> None:
    svc = build_service(Config(data_dir=Path("/nonexistent")), store=MemoryStore(), blobs=None)
    served = {e.path for e in RouteTable(create_app(svc)).entries if e.path == "/" or e.path.startswith(
        ("/console", "/v1/docs"))}
    assert served - {"/v1/docs"} == CONSOLE, f"console routes not listed: {sorted(served ^ CONSOLE)}"


@pytest.mark.parametrize("row", console_rows(), ids=[f"{m} {p}" for m, p in console_rows()])
def test_console_routes_need_a_session(world: World, row: tuple[str, str]) -> None:
    """Anonymous, or with a made-up session cookie: the sign-in page (a redirect), nothing served, nothing
    changed, even with a form that would act."""
    method, template = row
    path = template
    for name, sample in (("{name}", "prod"), ("{endpoint}", "pe-x"), ("{action}", "approve"), ("{subnet}", "a"),
                         ("{other}", "app-net"), ("{zone}", "privatelink.loc1.backup.vaultlink.internal"),
                         ("{rtype}", "A"), ("{link}", "l1"), ("{fmt}", "hosts"), ("{rp_id}", "rp1"),
                         ("{job_id}", "j1")):
        path = path.replace(name, sample)
    before = world.blobs_digest()
    vaults_before = world.s.ok("vault", "list")
    form = b"name=evil&region=local-1&access=Enabled&key=*&go=create&vnet=app-net&subnet=a&vault=prod"
    for cookie in ({}, {"cookie": "vl_session=forged-session-id"}):
        headers = {**cookie, "content-type": "application/x-www-form-urlencoded"}
        r = world.send("127.0.0.1", "127.0.0.1", headers, method, path, form if method == "POST" else None,
                       ip="127.0.0.1")
        assert r.status_code == 303 and r.headers["location"] == "/console/login", (path, r.status_code, r.text)
    assert world.blobs_digest() == before
    assert world.s.ok("vault", "list") == vaults_before
