"""Prune against a backup running at the same moment, and across a crash: the real service on a real SQLite
file and a real blob directory, driven in-process the way the data-plane routes drive it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import blake3
import pytest

from vaultlink.bootstrap import build_service
from vaultlink.config import load_config
from vaultlink.domain.records import ContainerRecord, read_container
from vaultlink.errors import PackMissing, PruneInProgress
from vaultlink.service import retention, vaults
from vaultlink.service.core import Caller, Service
from vaultlink.service.dataplane import blobs, containers, jobs
from vaultlink.service.dataplane.context import DataContext
from vaultlink.service.identity import authenticate, bootstrap
from vaultlink.service.prune import LEASE, prune_vault


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def now(self) -> float:
        return self.t


class World:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.svc = self.open()
        created = bootstrap(self.svc)
        assert created is not None
        self.owner: Caller = authenticate(self.svc, created[1])
        self.vault = vaults.create_vault(self.svc, self.owner, "prod", "local-1")
        vaults.update_vault(self.svc, self.owner, "prod", {"soft_delete": "Disabled"})
        ctx = DataContext(service="backup", host="h", vault_id=self.vault["id"], storage_account=None,
                          region="local-1", endpoint_id=None, vnet_id=None, source_ip="127.0.0.1",
                          caller=self.owner, action="backup:RegisterContainer", resource="")
        out = containers.register(self.svc, ctx, "vm-a")
        self.cid = out["container"]["id"]
        self.account = out["names"]["write_account"]

    def open(self) -> Service:
        svc = build_service(load_config(None, data_dir=str(self.data_dir), prune_grace_seconds=0))
        svc.clock = Clock()
        return svc

    @property
    def container(self) -> ContainerRecord:
        with self.svc.store.transaction() as txn:
            rec = read_container(txn, self.cid)
        assert rec is not None
        return rec

    def pack(self, seed: int) -> str:
        data = seed.to_bytes(4, "big") * 4096
        name = "packs/" + blake3.blake3(data).hexdigest()
        blobs.put_blob(self.svc, self.vault["id"], self.account, self.container, name, data)
        entries = blobs.encode_entries([(blake3.blake3(data[:8]).digest(), 0, len(data))])
        blobs.add_chunks(self.svc, self.container, self.account, name, entries)
        return name

    def start(self) -> str:
        return str(jobs.start_job(self.svc, self.container, "Backup", paths=["/data"])["job"]["id"])

    def commit(self, job_id: str, packs: list[str] | None, seed: int) -> dict[str, Any]:
        manifest = f"manifest {seed}".encode()
        name = "snapshots/" + blake3.blake3(manifest).hexdigest()
        blobs.put_blob(self.svc, self.vault["id"], self.account, self.container, name, manifest)
        refs = None if packs is None else [f"{self.account}/{p}" for p in packs]
        rp: dict[str, Any] = jobs.complete_backup(self.svc, self.container, job_id, name, self.account, {}, None,
                                                  refs)["recovery_point"]
        return rp

    def exists(self, pack: str) -> bool:
        return (self.data_dir / "blobs" / "vaults" / self.vault["id"] / self.account / self.cid / pack).exists()

    def prune(self) -> dict[str, int]:
        return prune_vault(self.svc, self.vault["id"], self.svc.clock.now(), 0.0)


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path / "data")


def test_a_running_backup_fences_the_sweep_and_its_commit_forgives_what_it_reuses(w: World) -> None:
    p1, p2 = w.pack(1), w.pack(2)
    rp1 = w.commit(w.start(), [p1, p2], 1)
    job = w.start()  # a backup starts: it deduplicates against p1 and uploads p3
    p3 = w.pack(3)
    retention.delete_recovery_point(w.svc, w.owner, rp1["id"])  # p1 and p2 now unreferenced
    stats = w.prune()
    assert stats["swept"] == 0 and stats["condemned"] == 3  # marked, but a backup is running: nothing swept
    w.commit(job, [p1, p3], 2)  # its commit forgives p1 and p3
    stats = w.prune()
    assert stats["swept"] == 1 and not w.exists(p2) and w.exists(p1) and w.exists(p3)
    assert w.svc.chunks.have(w.vault["id"], w.cid, [blake3.blake3((2).to_bytes(4, "big") * 2).digest()]) == set()


def test_a_commit_that_references_a_swept_pack_is_refused(w: World) -> None:
    p1 = w.pack(1)
    rp1 = w.commit(w.start(), [p1], 1)
    job = w.start()  # its agent dies (or hangs) for more than a day: it no longer fences the sweep
    retention.delete_recovery_point(w.svc, w.owner, rp1["id"])
    w.svc.clock.t += 2 * 86400  # type: ignore[attr-defined]
    assert w.prune()["swept"] == 1 and not w.exists(p1)
    with pytest.raises(PackMissing):
        w.commit(job, [p1], 2)
    with w.svc.store.transaction() as txn:
        assert [r for r in txn.find("recovery_point", parent_id=w.vault["id"])] == []


def test_a_sweep_cut_short_by_a_crash_resumes_after_restart(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    packs = [w.pack(i) for i in range(4)]
    keep = w.pack(9)
    rp1 = w.commit(w.start(), packs, 1)
    w.commit(w.start(), [keep], 2)
    retention.delete_recovery_point(w.svc, w.owner, rp1["id"])
    deleted: list[str] = []
    real_delete = w.svc.blobs.delete  # type: ignore[union-attr]

    def crash_after_two(key: str) -> None:
        if len(deleted) == 2:
            raise KeyboardInterrupt("the process is killed")
        deleted.append(key)
        real_delete(key)

    monkeypatch.setattr(w.svc.blobs, "delete", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        w.prune()
    assert w.container.get(LEASE)  # type: ignore[misc]
    with pytest.raises(PruneInProgress):  # no backup starts while a sweep is unfinished
        w.start()
    w.svc.store.close()
    w.svc = w.open()  # restart on the same files
    stats = w.prune()
    assert stats["resumed"] == 4 and not any(w.exists(p) for p in packs) and w.exists(keep)
    assert not w.container.get(LEASE)  # type: ignore[misc]
    w.commit(w.start(), [keep], 3)  # backups run again


def test_points_of_an_older_agent_keep_every_pack(w: World) -> None:
    p1 = w.pack(1)
    w.commit(w.start(), None, 1)  # no pack list: the service cannot know what it needs
    stray = w.pack(2)
    stats = w.prune()
    assert stats["swept"] == 0 and stats["unknown"] == 1 and w.exists(p1) and w.exists(stray)


def test_a_prune_pass_asks_no_size_of_each_pack(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prune runs over every pack of every machine every few minutes: the sizes come with the listing
    (``ports.SizedList``), where it asked the store the size of each pack (an S3 HEAD each) before."""
    p1, p2, p3 = w.pack(1), w.pack(2), w.pack(3)
    w.commit(w.start(), [p1, p2], 1)
    store = w.svc.blobs
    assert store is not None
    asked: list[str] = []
    monkeypatch.setattr(store, "size", lambda name: asked.append(name) or 0)
    stats = w.prune()
    assert stats["swept"] == 1 and stats["swept_bytes"] == 4 * 4096 and not w.exists(p3), stats
    assert asked == [], f"asked the size of {len(asked)} blobs"
