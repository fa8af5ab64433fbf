"""Registration scopes and the lock, attacked: a backup-only machine reads data back, a restore-only one
writes, an agent credential undeletes or unlocks, an owner deletes a locked point. Each is refused with
its stable code, audited as a refusal, and leaves stored data and recovery points untouched."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.e2e.test_private_backup import Vm, make_data
from tests.security.conftest import World

VM_C, VM_D = "127.10.1.12", "127.10.1.13"


@pytest.fixture(scope="module")
def scoped(world: World) -> dict[str, Any]:
    """Machine C registered backup-only (with a backup), machine D restore-only."""
    s, tmp = world.s, world.tmp
    dns = f"127.0.0.1:{s.info['dns_port']}"
    out: dict[str, Any] = {}
    for name, ip, scope in (("vm-c", VM_C, "backup"), ("vm-d", VM_D, "restore")):
        creds = tmp / f"{name}.creds"
        r = s.cli("vault", "credentials", "prod", "--scope", scope, "-o", str(creds), json_out=False)
        assert r.exit_code == 0, r.stderr
        m = Vm(s, tmp, name, ip)
        r = m.register(creds, dns)
        assert r.exit_code == 0, r.stderr
        if scope == "backup":
            m.ok("backup", str(make_data(tmp / f"src-{name}", 4)))
        out[name] = json.loads((m.state / "state.json").read_text())
    return out


def pack_of(w: World, state: dict[str, Any], source: str) -> str:
    names = w.send(source, w.blob_host(state), {"Authorization": f"Bearer {state['credential']}"},
                   path="/?prefix=packs/").json()["names"]
    return str(names[0])


Run = Callable[[World, dict[str, Any]], httpx.Response]
ROWS: list[tuple[str, str, Run, int, str]] = [
    ("a backup-only machine reading its pack back", VM_C, lambda w, sc: w.send(
        VM_C, w.blob_host(sc["vm-c"]), {"Authorization": f"Bearer {sc['vm-c']['credential']}"},
        path="/" + pack_of(w, sc["vm-c"], VM_C)), 403, "RegistrationScopeDenied"),
    ("a backup-only machine reading a range of its pack", VM_C, lambda w, sc: w.send(
        VM_C, w.blob_host(sc["vm-c"]), {"Authorization": f"Bearer {sc['vm-c']['credential']}",
                                        "Range": "bytes=0-99"},
        path="/" + pack_of(w, sc["vm-c"], VM_C)), 403, "RegistrationScopeDenied"),
    ("a backup-only machine starting a restore", VM_C, lambda w, sc: w.send(
        VM_C, w.backup_host(), {"Authorization": f"Bearer {sc['vm-c']['credential']}"}, "POST",
        "/recovery-points/rp-0/restore-jobs"), 403, "RegistrationScopeDenied"),
    ("a restore-only machine writing a blob", VM_D, lambda w, sc: w.send(
        VM_D, w.blob_host(sc["vm-d"]), {"Authorization": f"Bearer {sc['vm-d']['credential']}"}, "PUT",
        "/keys/key", b"garbage"), 403, "RegistrationScopeDenied"),
    ("a restore-only machine starting a backup", VM_D, lambda w, sc: w.send(
        VM_D, w.backup_host(), {"Authorization": f"Bearer {sc['vm-d']['credential']}",
                                "Content-Type": "application/json"}, "POST", "/jobs", b'{"paths": ["/etc"]}'),
     403, "RegistrationScopeDenied"),
    ("a restore-only machine indexing chunks", VM_D, lambda w, sc: w.send(
        VM_D, w.backup_host(), {"Authorization": f"Bearer {sc['vm-d']['credential']}",
                                "Content-Type": "application/json"}, "POST", "/chunks",
        b'{"storage_account": "x", "pack": "packs/x", "entries": ""}'), 403, "RegistrationScopeDenied"),
    ("a container credential undeleting on the management API", "127.0.0.1", lambda w, sc: w.send(
        "127.0.0.1", "127.0.0.1", {"Authorization": f"Bearer {sc['vm-c']['credential']}"}, "POST",
        "/v1/recovery-points/rp-0/undelete", ip="127.0.0.1"), 403, "AccessDenied"),
    ("a container credential removing the vault lock", "127.0.0.1", lambda w, sc: w.send(
        "127.0.0.1", "127.0.0.1", {"Authorization": f"Bearer {sc['vm-c']['credential']}"}, "DELETE",
        "/v1/vaults/prod/lock", ip="127.0.0.1"), 403, "AccessDenied"),
    ("a Reader undeleting a point", "127.0.0.1", lambda w, sc: w.send(
        "127.0.0.1", "127.0.0.1", {"Authorization": f"Bearer {w.reader_key}"}, "POST",
        "/v1/recovery-points/rp-0/undelete", ip="127.0.0.1"), 404, "RecoveryPointNotFound"),
]


def refused_audited_unchanged(world: World, source: str, attack: Callable[[], httpx.Response], status: int,
                              code: str) -> None:
    """The attack is refused with ``status`` and ``code``, audited as a refusal, and changes nothing stored."""
    before = world.blobs_digest()
    rps = world.s.ok("recovery-point", "list", "prod")
    since = time.time()
    r = attack()
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["error"]["code"] == code, r.text
    events = world.audited(code, source, since)
    assert events and all(e["decision"] == "denied" for e in events), events
    assert world.blobs_digest() == before, "stored data changed"
    assert world.s.ok("recovery-point", "list", "prod") == rps


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_scope_attack_is_refused_audited_and_changes_nothing(
        world: World, scoped: dict[str, Any], row: tuple[str, str, Run, int, str]) -> None:
    _name, source, run, status, code = row
    refused_audited_unchanged(world, source, lambda: run(world, scoped), status, code)


def test_a_locked_point_resists_its_owner(world: World, scoped: dict[str, Any]) -> None:
    s = world.s
    rp = next(p for p in s.ok("recovery-point", "list", "prod") if p["status"] == "Completed")
    s.ok("vault", "lock", "put", "prod", "--min-retention-days", "7")
    try:
        before = world.blobs_digest()
        since = time.time()
        r = s.cli("recovery-point", "delete", rp["id"])
        assert r.exit_code == 4 and r.error_code == "RecoveryPointLocked", r.stdout
        with s.http() as c:
            deadline = time.monotonic() + 10
            while True:
                evs = [e for e in c.get("/audit", params={"code": "RecoveryPointLocked"}).json()
                       if float(e["time"]) >= since - 1]
                if evs or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        assert evs and evs[0]["decision"] == "denied" and evs[0]["principal"].endswith(":user/owner")
        assert world.blobs_digest() == before
        assert s.ok("recovery-point", "show", rp["id"])["status"] == "Completed"
    finally:
        s.ok("vault", "lock", "delete", "prod")  # governance: the owner may; the world is shared


@pytest.fixture(scope="module")
def grant(world: World) -> dict[str, Any]:
    """An open restore job: machine A's point onto machine B (no agent takes it: it stays open)."""
    rp = next(p for p in world.s.ok("recovery-point", "list", "prod") if p["container_id"] == world.a["container_id"])
    job = world.s.ok("recovery-point", "restore", rp["id"], "--container", world.b["container_id"], "--target",
                     "/tmp/never")
    return {"job": job["id"], "rp": rp}


def _under(w: World, who: dict[str, Any], source: str, job: str, method: str = "GET", path: str = "/?prefix=",
           content: bytes | None = None, token: str | None = None, host: str | None = None) -> httpx.Response:
    return w.send(source, host or w.blob_host(who), {"Authorization": f"Bearer {token or who['credential']}",
                                                     "X-Vaultlink-Restore-Job": job}, method, path, content)


GRANT_ROWS: list[tuple[str, str, Callable[[World, dict[str, Any]], httpx.Response], int, str]] = [
    ("the granted machine writing into the source's namespace", "127.10.1.11", lambda w, g: _under(
        w, w.b, "127.10.1.11", g["job"], "PUT", "/keys/key.7", b"garbage"), 403, "AccessDenied"),
    ("the granted machine listing the source's recovery points", "127.10.1.11", lambda w, g: _under(
        w, w.b, "127.10.1.11", g["job"], path="/recovery-points", host=w.backup_host()), 403, "AccessDenied"),
    ("another machine using the job's grant", "127.10.1.10", lambda w, g: _under(
        w, w.a, "127.10.1.10", g["job"]), 403, "AccessDenied"),
    ("an API key with a restore job's header", "127.10.1.11", lambda w, g: _under(
        w, w.b, "127.10.1.11", g["job"], token=w.s.owner_key), 403, "AccessDenied"),
    ("a made-up restore job", "127.10.1.11", lambda w, g: _under(
        w, w.b, "127.10.1.11", "j000000000000"), 403, "AccessDenied"),
    ("another tenant copying the vault's point into its own vault", "127.0.0.1", lambda w, g: w.send(
        "127.0.0.1", "127.0.0.1", {"Authorization": f"Bearer {w.tenant_key}", "Content-Type": "application/json"},
        "POST", f"/v1/recovery-points/{g['rp']['id']}/copy", b'{"destination_vault": "prod"}', ip="127.0.0.1"),
     403, "AccessDenied"),
]


@pytest.mark.parametrize("row", GRANT_ROWS, ids=[r[0] for r in GRANT_ROWS])
def test_grant_attack_is_refused_audited_and_changes_nothing(
        world: World, grant: dict[str, Any], row: tuple[str, str, Any, int, str]) -> None:
    _name, source, run, status, code = row
    refused_audited_unchanged(world, source, lambda: run(world, grant), status, code)


def test_the_grant_reads_exactly_its_point(world: World, grant: dict[str, Any]) -> None:
    names = _under(world, world.b, "127.10.1.11", grant["job"]).json()["names"]
    manifest = grant["rp"]["manifest"]
    assert manifest in names and all(n.startswith(("keys/", "packs/")) or n == manifest for n in names)
    assert _under(world, world.b, "127.10.1.11", grant["job"], path="/" + manifest).status_code == 200
