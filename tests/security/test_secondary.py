"""The paired region's names, attacked: a machine there writes, backs up, registers with a backup credentials
file, reads a point not replicated yet (under a grant for it) or another point than its grant's. Each is
refused with its stable code, audited as a refusal, and leaves stored data (primary and replica) untouched."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import start_server, stop_server
from tests.e2e.test_private_backup import Vm, make_data
from tests.security.conftest import D, World, build_world

DR_VM = "127.12.1.10"


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The hostile world, with replication only on request (so a point stays unreplicated)."""
    tmp = tmp_path_factory.mktemp("hostile-dr")
    cfg = tmp / "serve.toml"
    cfg.write_text("replication_interval = 0.0\n")
    s = start_server(tmp / "data", extra_args=("--config", str(cfg)))
    try:
        yield build_world(s, tmp)
    finally:
        stop_server(s)


@pytest.fixture(scope="module")
def dr(world: World) -> dict[str, Any]:
    """Cross-region restore on: A's point replicated, a newer one not; dr-net with a secondary endpoint; a
    restore-only machine there; a restore job onto it of the replicated point."""
    s, tmp = world.s, world.tmp
    s.ok("vault", "update", "prod", "--cross-region-restore", "Enabled")
    old = s.ok("recovery-point", "list", "prod")
    s.ok("vault", "replicate", "prod")
    vm_a = Vm(s, tmp, "vm-a", "127.10.1.10")
    newer = vm_a.ok("backup", str(make_data(tmp / "src-newer", 4, seed=9)))["recovery_point"]["id"]
    s.ok("vnet", "create", "dr-net", "--region", "local-2", "--address-space", "127.12.0.0/16",
         "--subnet", "default=127.12.1.0/24")
    ep = s.ok("endpoint", "create", "--name", "pe-dr", "--region", "local-2", "--vault", "prod", "--group-id",
              "AzureBackup_secondary", "--vnet", "dr-net", "--subnet", "default", "--dns-integration")
    creds = tmp / "dr.creds"
    assert s.cli("vault", "credentials", "prod", "--secondary", "-o", str(creds), json_out=False).exit_code == 0
    m = Vm(s, tmp, "vm-dr", DR_VM)
    r = m.register(creds, f"127.0.0.1:{s.info['dns_port']}")
    assert r.exit_code == 0, r.stdout + r.stderr
    replicated = next(p for p in old if p["container_id"] == world.a["container_id"])
    job = s.ok("recovery-point", "restore", replicated["id"], "--container", "vm-dr", "--target", "/tmp/never")
    return {"ip": ep["ips"][0], "state": json.loads((m.state / "state.json").read_text()), "job": job["id"],
            "replicated": replicated, "newer": newer,
            "backup_host": f"{world.vault['id']}.l2.backup.{D}",
            "blob_host": f"{world.a['write_account']}-secondary.blob.{D}"}


Attack = Callable[[World, dict[str, Any]], httpx.Response]


def _as_dr(w: World, dr: dict[str, Any], host: str, method: str = "GET", path: str = "/",
           content: bytes | None = None, job: bool = False, credential: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {credential or dr['state']['credential']}",
               "Content-Type": "application/json"}
    if job:
        headers["X-Vaultlink-Restore-Job"] = dr["job"]
    return w.send(DR_VM, host, headers, method, path, content, ip=dr["ip"])


ROWS: list[tuple[str, Attack, int, str]] = [
    ("a blob written through the paired region", lambda w, dr: _as_dr(
        w, dr, dr["blob_host"], "PUT", "/keys/key.5", b"garbage"), 403, "SecondaryReadOnly"),
    ("a backup job started through the paired region", lambda w, dr: _as_dr(
        w, dr, dr["backup_host"], "POST", "/jobs", b'{"paths": ["/etc"]}'), 403, "SecondaryReadOnly"),
    ("chunks indexed through the paired region", lambda w, dr: _as_dr(
        w, dr, dr["backup_host"], "POST", "/chunks", b'{"storage_account": "x", "pack": "packs/x", "entries": ""}'),
     403, "SecondaryReadOnly"),
    ("a registration with a backup-restore credentials file through the paired region", lambda w, dr: _as_dr(
        w, dr, dr["backup_host"], "POST", "/containers/register", b'{"hostname": "intruder"}',
        credential=w.creds["registration_secret"]), 403, "SecondaryReadOnly"),
    ("another point than its grant's (one not replicated), described through the paired region", lambda w, dr: _as_dr(
        w, dr, dr["backup_host"], "GET", f"/recovery-points/{dr['newer']}", job=True), 404,
     "RecoveryPointNotFound"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_paired_region_attack_is_refused_audited_and_changes_nothing(
        world: World, dr: dict[str, Any], row: tuple[str, Attack, int, str]) -> None:
    _name, attack, status, code = row
    replica = world.s.data_dir / "replica-blobs"
    before = (world.blobs_digest(), _digest(replica))
    points = world.s.ok("recovery-point", "list", "prod")
    since = time.time()
    r = attack(world, dr)
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["error"]["code"] == code, r.text
    events = world.audited(code, DR_VM, since)
    assert events and all(e["decision"] == "denied" for e in events), events
    assert (world.blobs_digest(), _digest(replica)) == before, "stored data changed"
    assert world.s.ok("recovery-point", "list", "prod") == points


def test_a_point_not_replicated_is_not_offered(world: World, dr: dict[str, Any]) -> None:
    s = world.s
    r = s.cli("recovery-point", "restore", dr["newer"], "--container", "vm-dr", "--target", "/x")
    assert r.error_code == "NotReplicated", r.stdout
    described = _as_dr(world, dr, dr["backup_host"], "GET", f"/recovery-points/{dr['replicated']['id']}", job=True)
    assert described.status_code == 200 and described.json()["replicated_at"], described.text
    # the grant reads the replicated point's manifest from the replica, nothing else
    manifest = dr["replicated"]["manifest"]
    assert _as_dr(world, dr, dr["blob_host"], "GET", "/" + manifest, job=True).status_code == 200
    assert _as_dr(world, dr, dr["blob_host"], "GET", "/" + manifest).status_code == 404  # its own: empty
