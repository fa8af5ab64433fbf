"""The breaks that need their own setup: endpoint policies on real resource ARNs (C), an agent whose
server dies (D), a restore whose target is swapped under it (E), anonymous floods and the audit bound
(F), one throttle bucket per machine (G), DNS-over-TCP exhaustion (H), same-account resource policies
(J)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.message
import dns.query
from tests.conftest import VAULTLINK, start_server, stop_server
from tests.e2e.test_private_backup import Vm, make_data, private_vault, tree
from tests.security.conftest import APP_VM, World, vm

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import Repository, backup, restore
from vaultlink.errors import UnsafePath


# --- C: service-endpoint policies are evaluated on the real resource ARN ---------------------------
def test_endpoint_policy_deny_on_one_vault_arn_holds(world: World, tmp_path: Path) -> None:
    s, se = world.s, world.se
    arn = world.vault["arn"]
    other = s.ok("vault", "create", "c-other", "--region", "local-1")
    policy = {"Statement": [
        {"Sid": "NotProd", "Effect": "Deny", "Principal": "*", "Action": "backup:*", "Resource": arn},
        {"Sid": "NoNewProd2", "Effect": "Deny", "Principal": "*", "Action": "backup:CreateBackupVault",
         "Resource": arn.replace(":backup-vault:prod", ":backup-vault:prod2")},
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
    ]}
    pf = tmp_path / "p.json"
    pf.write_text(json.dumps(policy))
    s.ok("endpoint", "policy", "set", se["id"], str(pf))
    try:
        base = f"https://{se['ips'][0]}:{world.port}"
        hdr = {"Host": "backup.local-1.vaultlink.internal", "Authorization": f"Bearer {s.owner_key}"}
        with vm(APP_VM) as c:
            patched = c.patch(f"{base}/v1/vaults/prod", headers=hdr, json={"tags": {"owned": "yes"}})
            creds = c.post(f"{base}/v1/vaults/prod/credentials", headers=hdr, json={})
            by_id = c.get(f"{base}/v1/vaults/{world.vault['id']}", headers=hdr)
            created = c.post(f"{base}/v1/vaults", headers=hdr, json={"name": "prod2", "region": "local-1"})
            fine = c.get(f"{base}/v1/vaults/c-other", headers=hdr)
            not_backup = c.get(f"{base}/v1/vnets", headers=hdr)
        for r in (patched, creds, by_id, created):
            assert r.status_code == 403 and r.json()["error"]["code"] == "EndpointPolicyDenied", r.text
        assert arn in patched.json()["error"]["message"] and "'NotProd'" in patched.json()["error"]["message"]
        assert fine.status_code == 200 and fine.json()["id"] == other["id"]
        assert not_backup.status_code == 404  # a service endpoint serves the backup API only
        assert s.ok("vault", "show", "prod").get("tags") == world.vault.get("tags")
        assert not [v for v in s.ok("vault", "list") if v["name"] == "prod2"]
        events = world.audited("EndpointPolicyDenied", APP_VM, time.time() - 60)
        assert any(e.get("resource") == arn or e.get("target") == arn for e in events)
    finally:
        s.ok("endpoint", "policy", "reset", se["id"])


# --- J: a same-account resource policy naming the account delegates to identity policies -------------
def test_vault_access_policy_naming_the_account_grants_nobody_on_its_own(world: World, tmp_path: Path) -> None:
    s = world.s
    acct = world.vault["account_id"]
    nobody = s.ok("principal", "create", "j-nobody")
    pf = tmp_path / "vp.json"
    for principal in ({"AWS": f"arn:vaultlink:iam::{acct}:root"}, {"AWS": acct}):
        pf.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "backup:*",
                                                 "Resource": "*"}]}))
        s.ok("vault", "policy", "set", "prod", str(pf))
        r = world.send("127.10.1.10", world.backup_host(), {"Authorization": f"Bearer {nobody['api_key']}"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "AccessDenied", r.text
    pf.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": nobody["arn"]},
                                             "Action": "backup:*", "Resource": "*"}]}))
    s.ok("vault", "policy", "set", "prod", str(pf))
    r = world.send("127.10.1.10", world.backup_host(), {"Authorization": f"Bearer {nobody['api_key']}"})
    assert r.status_code == 200, r.text
    s.ok("vault", "policy", "delete", "prod")


# --- D: the agent never hangs --------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return int(sk.getsockname()[1])


def _pack_count(data_dir: Path) -> int:
    return sum(1 for p in (data_dir / "blobs").rglob("*") if p.is_file() and p.parent.name == "packs")


def _wait_for_packs(data_dir: Path, n: int) -> None:
    """Until the server stored ``n`` packs: a backup is really under way (not a fixed sleep, which a fast
    agent outruns)."""
    deadline = time.monotonic() + 60
    while _pack_count(data_dir) < n:
        assert time.monotonic() < deadline, "the backup stored no pack within 60 s"
        time.sleep(0.01)


def test_agent_fails_in_its_window_when_the_server_dies_and_finishes_when_it_returns(tmp_path: Path) -> None:
    port, dns_port = _free_port(), _free_port()
    args = ("--api-port", str(port), "--dns-port", str(dns_port))
    s = start_server(tmp_path / "data", args)
    try:
        _vid, creds = private_vault(s, tmp_path)
        m = Vm(s, tmp_path, "vm", "127.10.1.30")
        assert m.register(creds, f"127.0.0.1:{dns_port}").exit_code == 0
        src = make_data(tmp_path / "src", 192, seed=5)
        # the server dies for good mid-backup: the backup fails within its retry window, naming why
        p = subprocess.Popen([VAULTLINK, "agent", "backup", str(src), "--state-dir", str(m.state), "--passphrase-file",
                              str(m.pw), "--retry-for", "5", "--no-progress", "-o", "json"], env=s.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_packs(s.data_dir, 1)  # the backup is under way (a 192 MiB backup has ~12 packs to go)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
        t0 = time.monotonic()
        out, _err = p.communicate(timeout=120)
        assert p.returncode != 0 and time.monotonic() - t0 < 60, out
        assert json.loads(out)["error"]["code"] == "ServiceUnavailable"
        # the server comes back during a backup: the agent retries and finishes
        s = start_server(tmp_path / "data", args)
        (src / "more.bin").write_bytes(os.urandom(64 << 20))  # new data: this backup uploads packs again
        packs = _pack_count(s.data_dir)
        p = subprocess.Popen([VAULTLINK, "agent", "backup", str(src), "--state-dir", str(m.state), "--passphrase-file",
                              str(m.pw), "--retry-for", "60", "--no-progress", "-o", "json"], env=s.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_packs(s.data_dir, packs + 1)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
        time.sleep(2.0)
        s = start_server(tmp_path / "data", args)
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, (out, err)
        rp = json.loads(out)["recovery_point"]["id"]
        m.ok("restore", rp, "--target", str(tmp_path / "out"))
        assert tree(tmp_path / "out" / "src") == tree(src)
    finally:
        stop_server(s)


# --- E: a directory swapped for a symlink during a restore never lets a byte out ---------------------
def test_restore_never_writes_outside_its_target_when_a_directory_is_swapped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    rnd = random.Random(3)
    for d in range(12):
        (src / f"d{d}").mkdir(parents=True)
        for f in range(150):
            (src / f"d{d}" / f"f{f}").write_bytes(rnd.randbytes(700))
    store = MemoryBlobStore()
    repo = Repository.init(store, "a passphrase of 16+ characters", log_n=10)
    manifest = backup([str(src)], repo).manifest
    outside = tmp_path / "outside"
    outside.mkdir()
    for attempt in range(3):
        target = tmp_path / f"target{attempt}"
        target.mkdir()
        stop = threading.Event()

        def swapper(target: Path = target, stop: threading.Event = stop) -> None:
            while not stop.is_set():  # bounded by the restore's own length
                for d in range(12):
                    p = target / "src" / f"d{d}"
                    if p.is_dir() and not p.is_symlink():
                        p.rename(target / f"moved{d}")
                        p.symlink_to(outside)
                        return

        t = threading.Thread(target=swapper, daemon=True)
        t.start()
        try:
            restore(manifest, repo, str(target))
        except UnsafePath:
            pass  # a clean refusal
        finally:
            stop.set()
            t.join(10)
        assert list(outside.iterdir()) == [], "restore wrote through the swapped-in symlink"
    repo.close()


# --- F + G: floods are throttled per source and per machine, and the audit stays bounded ------------
def test_anonymous_flood_is_throttled_and_audited_in_summaries(world: World) -> None:
    source = "127.10.1.77"
    with world.s.http() as c:
        before = len(c.get("/audit", params={"limit": 10000}).json())
    statuses = []
    t0 = time.monotonic()
    with vm(source) as c:
        for _ in range(600):  # bounded in count and time
            if time.monotonic() - t0 > 30:
                break
            r = c.get(f"https://{world.pe_ip}:{world.port}/", headers={"Host": world.backup_host()})
            statuses.append(r.status_code)
    assert statuses.count(429) > 300, statuses[:20]
    assert all(s in (401, 429) for s in statuses)
    time.sleep(1.5)
    with world.s.http() as c:
        evs = [e for e in c.get("/audit", params={"limit": 10000}).json() if e.get("source_ip") == source]
        after = len(c.get("/audit", params={"limit": 10000}).json())
    seconds = max(1, int(time.monotonic() - t0) + 2)
    assert len(evs) <= 4 * seconds, f"{len(evs)} events for {len(statuses)} requests in {seconds}s"
    assert sum(int(e.get("count", 1)) for e in evs) == len(statuses), "every refusal is counted"
    assert after - before < 50


def test_anonymous_flood_on_the_management_api_is_throttled(world: World) -> None:
    source = "127.0.0.5"
    with vm(source) as c:
        statuses = [c.get(f"https://127.0.0.1:{world.port}/v1/vaults", headers={"Authorization": "Bearer vlk_x_y"})
                    .status_code for _ in range(300)]
        assert statuses.count(429) > 100 and set(statuses) <= {401, 429}, statuses[:10]
    # a valid key from another address is not affected
    with world.s.http() as c:
        assert c.get("/vaults").status_code == 200


def test_each_machine_has_its_own_throttle_bucket(tmp_path: Path) -> None:
    cfg = tmp_path / "vaultlink.toml"
    cfg.write_text("throttle_rate = 2.0\nthrottle_burst = 30\n")
    s = start_server(tmp_path / "data", ("--config", str(cfg)))
    try:
        _vid, creds = private_vault(s, tmp_path)
        dns = f"127.0.0.1:{s.info['dns_port']}"
        a, b = Vm(s, tmp_path, "a", "127.10.1.40"), Vm(s, tmp_path, "b", "127.10.1.41")
        assert a.register(creds, dns).exit_code == 0 and b.register(creds, dns).exit_code == 0
        st_a = json.loads((a.state / "state.json").read_text())
        st_b = json.loads((b.state / "state.json").read_text())
        ip = s.ok("endpoint", "show", "pe1")["ips"][0]
        host = f"{st_a['vault_id']}.l1.backup.vaultlink.internal"
        url = f"https://{ip}:{s.info['api_port']}/containers/self"
        with vm("127.10.1.40") as c:
            codes = [c.get(url, headers={"Host": host, "Authorization": f"Bearer {st_a['credential']}"}).status_code
                     for _ in range(60)]
        assert 429 in codes
        with vm("127.10.1.41") as c:
            r = c.get(url, headers={"Host": host, "Authorization": f"Bearer {st_b['credential']}"})
        assert r.status_code == 200, r.text
    finally:
        stop_server(s)


# --- H: one DNS client cannot lock the others out over TCP ------------------------------------------
def test_dns_tcp_connections_of_one_client_do_not_lock_out_others(world: World) -> None:
    port = int(world.s.info["dns_port"])
    held: list[socket.socket] = []
    try:
        for _ in range(1000):  # one client opens 1,000 connections and holds them
            sk = socket.socket()
            sk.settimeout(5)
            sk.bind(("127.0.0.2", 0))
            try:
                sk.connect(("127.0.0.1", port))
            except OSError:
                sk.close()
                continue
            held.append(sk)
        q = dns.message.make_query(world.backup_host(), "A")
        r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=5, source="127.0.0.3")
        assert r.answer, "another client got no answer over TCP"
        # the flooding client keeps only a bounded number open
        time.sleep(0.5)
        alive = 0
        for sk in held:
            try:
                sk.setblocking(False)
                if sk.recv(1) == b"":
                    continue
            except BlockingIOError:
                alive += 1
            except OSError:
                continue
        assert alive <= 16, f"{alive} connections of one client still open"
    finally:
        for sk in held:
            sk.close()


def test_a_trickling_dns_client_is_cut_off(world: World) -> None:
    port = int(world.s.info["dns_port"])
    q = dns.message.make_query(world.backup_host(), "A").to_wire()
    frame = len(q).to_bytes(2, "big") + q
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.4", 0)) as sk:
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 60:  # a query every 5 s would keep it forever without a lifetime
            try:
                sk.sendall(frame)
                if not sk.recv(4096):
                    closed = True
                    break
            except OSError:
                closed = True
                break
            time.sleep(5)
        assert closed and time.monotonic() - t0 < 45

