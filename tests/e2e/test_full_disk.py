"""The server's disks fill up in the middle of a backup, for real: its metadata (SQLite) and its blob directory live
on two small tmpfs mounted in the server's own mount namespace (the machine's mounts are never touched). Each refusal
is ``StorageFull`` (HTTP 507, exit code 5) saying what is full and how to make room, in the CLI and in the AWS and
Azure SDKs' own words; nothing stored is lost, the refusals of the full time are audited once there is room, and a
backup run again goes through, sending only what it had not uploaded before. The same for PostgreSQL, whose
database lives in a tablespace on a small tmpfs in the PostgreSQL server's mount namespace."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient
from botocore.exceptions import ClientError
from tests.awsclients import client
from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_azure_arm import Token
from tests.e2e.test_private_backup import VM, Vm, make_data, private_vault, tree
from tests.pgserver import PgServer

MIB = 1 << 20


def need_mount_namespaces() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.fail("this test mounts a tmpfs in a mount namespace of its own: it needs root, unshare and nsenter")


def in_ns(pid: int | str, *cmd: str) -> subprocess.CompletedProcess[str]:
    """``cmd`` run in the mount namespace of process ``pid`` (where its small disks are)."""
    return subprocess.run(["nsenter", "-t", str(pid), "-m", "--", *cmd], capture_output=True, text=True, timeout=60)


def audited_refusals(s: Server, actions: int) -> list[dict[str, Any]]:
    """The ``StorageFull`` refusals in the audit once they name ``actions`` different actions (the audit holds them
    while the store is full and writes them once there is room), within 30 s."""
    deadline = time.monotonic() + 30
    refused: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len({str(e.get("action")) for e in refused}) < actions:
        refused = s.ok("audit", "list", "--code", "StorageFull")
        time.sleep(0.2)
    return refused


class FullDisks:
    """Two small tmpfs in the server's mount namespace, each with a filler file taken at once: ``meta`` (the SQLite
    file, 24 MiB of which 8 taken) and ``blobs`` (64 MiB of which 32 taken)."""

    SIZES = {"meta": (24, 8), "blobs": (64, 32)}

    def __init__(self, where: Path) -> None:
        self.where = where
        mounts = []
        for name, (size, filler) in self.SIZES.items():
            (where / name).mkdir(parents=True)
            mounts.append(f'mount -t tmpfs -o size={size}m tmpfs "$0/{name}" && '
                          f'fallocate -l {filler}m "$0/{name}/filler"')
        self.prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       " && ".join(mounts) + ' && exec "$@"', str(where)]
        self.pid = 0

    def run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return in_ns(self.pid, *cmd)

    def fill(self, name: str) -> None:
        self.run("sh", "-c", f'cat /dev/zero > "{self.where / name}/filler2"')  # ends at ENOSPC
        out = self.run("df", "-B1", "--output=avail", str(self.where / name)).stdout.split()
        assert int(out[-1]) < MIB, out

    def make_room(self) -> None:
        for name in self.SIZES:
            assert self.run("rm", "-f", f"{self.where / name}/filler", f"{self.where / name}/filler2").returncode == 0


@pytest.fixture
def full_server(tmp_path: Path) -> Iterator[tuple[Server, FullDisks]]:
    need_mount_namespaces()
    disks = FullDisks(tmp_path / "small-disks")
    catalog: dict[str, Any] = {"name": "all", "partitions": {}, "regions": []}
    for preset in ("default", "aws", "azure"):  # local-1 for the CLI, us-east-1 for boto3, eastus for ARM
        part = json.loads((files("vaultlink.domain") / "presets" / f"{preset}.json").read_text(encoding="utf-8"))
        catalog["partitions"].update(part["partitions"])
        catalog["regions"] += part["regions"]
    (tmp_path / "regions.json").write_text(json.dumps(catalog))
    config = tmp_path / "vaultlink.toml"
    config.write_text(f'metadata_url = "sqlite:///{disks.where}/meta/vaultlink.db"\n'
                      f'blob_url = "file://{disks.where}/blobs/store"\n')
    srv = start_server(tmp_path / "data", ("--config", str(config), "--regions", str(tmp_path / "regions.json")),
                       prefix=disks.prefix, timeout=30)
    srv.prefix = []  # the CLI runs outside: it reaches the server by its address, as a user's does
    disks.pid = srv.proc.pid  # sh exec'd the server in the namespace it mounted
    try:
        yield srv, disks
    finally:
        stop_server(srv)


def test_a_full_disk_refuses_with_storage_full_loses_nothing_and_the_backup_resumes(
        full_server: tuple[Server, FullDisks], tmp_path: Path) -> None:
    s, disk = full_server
    _vid, creds = private_vault(s, tmp_path)
    vm = Vm(s, tmp_path, "vm-a", VM)
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    first = make_data(tmp_path / "first", 8, seed=1)
    p1 = vm.ok("backup", str(first), "--no-progress")["recovery_point"]["id"]

    src = make_data(tmp_path / "src", 40, seed=2)  # more than the blob store's disk has left (24 MiB)
    r = vm.run("backup", str(src), "--no-progress")
    assert r.exit_code == 5 and r.error_code == "StorageFull", (r.stdout, r.stderr)
    said = r.stdout + r.stderr  # -o json: the error's body on stdout
    assert "blob store" in said and "Free space" in said and "keeps what it uploaded" in said
    assert "Traceback" not in said
    jobs = s.ok("job", "list", "prod")
    assert sorted(j["status"] for j in jobs) == ["Completed", "Failed"]

    key = s.ok("key", "create", "--aws")
    token = s.ok("key", "create", "--arm-token")
    disk.fill("meta")  # now the metadata cannot grow either
    r = s.cli("vault", "create", "more", "--region", "local-1")
    assert r.exit_code == 5 and r.error_code == "StorageFull" and "metadata store" in r.stdout + r.stderr, r.stdout
    assert [v["name"] for v in s.ok("vault", "list")] == ["prod"]  # reads still answer
    sdks_say_storage_full(s, key, token)

    disk.make_room()
    s.ok("vault", "create", "more", "--region", "local-1")
    refused = audited_refusals(s, 2)
    assert len({str(e["action"]) for e in refused}) >= 2 and all(e["decision"] != "allowed" for e in refused), refused

    out = vm.ok("backup", str(src), "--no-progress")
    stats = out["stats"]
    assert stats["bytes_total"] >= 40 * MIB
    assert stats["bytes_new"] <= stats["bytes_total"] - 16 * MIB  # the packs uploaded before the refusal stayed
    check = vm.ok("check", "--read-data")
    assert check["ok"] is True and check["snapshots"] == 2, json.dumps(check)
    vm.ok("restore", p1, "--no-progress", "--target", str(tmp_path / "back"))
    assert tree(tmp_path / "back" / "first") == tree(first)  # a point restores under its directory's name


def sdks_say_storage_full(s: Server, key: dict[str, Any], token: dict[str, Any]) -> None:
    """The unmodified SDKs get the full store in their own words: botocore a ``DependencyFailureException`` it
    does not retry, azure-core an ``HttpResponseError`` whose ARM code is ``StorageFull``; both say what is
    full and how to make room, with HTTP 507."""
    backup = client(key, "backup", s.url, ca=s.ca)
    with pytest.raises(ClientError) as aws:
        backup.create_backup_vault(BackupVaultName="sdk-vault")
    err = aws.value.response
    assert err["Error"]["Code"] == "DependencyFailureException", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 507 and "metadata store" in err["Error"]["Message"], err
    assert err["ResponseMetadata"]["RetryAttempts"] == 0, err
    assert backup.list_backup_vaults()["BackupVaultList"] == []  # reads answer; nothing was made in us-east-1

    rm = ResourceManagementClient(credential=Token(token), subscription_id=token["account_id"], base_url=s.url,
                                  connection_verify=str(s.data_dir / "ca.pem"), retry_total=0)
    with pytest.raises(HttpResponseError) as arm:
        rm.resource_groups.create_or_update("Full-RG", {"location": "eastus"})
    assert arm.value.status_code == 507 and arm.value.error is not None, arm.value
    assert arm.value.error.code == "StorageFull" and "metadata store" in str(arm.value.error.message), arm.value


@pytest.fixture
def small_pg(tmp_path: Path) -> Iterator[tuple[PgServer, Path, str]]:
    """A PostgreSQL server whose database ``small`` lives in a tablespace on a 16 MiB tmpfs, mounted in the mount
    namespace the server runs in (its WAL and the rest stay on the machine's disk): (server, tablespace, url)."""
    need_mount_namespaces()
    pg = PgServer()
    try:
        pg.stop()
        space = pg.dir / "small"
        space.mkdir()
        ids = f"uid={os.stat(pg.data).st_uid},gid={os.stat(pg.data).st_gid}"
        mount = f'mount -t tmpfs -o size=16m,mode=0700,{ids} tmpfs "$0" && exec "$@"'
        pg.start(prefix=("unshare", "--mount", "--propagation", "private", "sh", "-c", mount, str(space)))
        pg.psql(f"CREATE TABLESPACE small LOCATION '{space}'")
        pg.psql("CREATE DATABASE small TABLESPACE small")
        yield pg, space, pg.url.rsplit("/", 1)[0] + "/small"
    finally:
        pg.close()


def test_a_full_postgresql_tablespace_is_storage_full_and_heals(small_pg: tuple[PgServer, Path, str],
                                                                tmp_path: Path) -> None:
    pg, space, url = small_pg
    config = tmp_path / "vaultlink.toml"
    config.write_text(f'metadata_url = "{url}"\nblob_url = "file://{tmp_path / "blobs"}"\n')
    s = start_server(tmp_path / "data", ("--config", str(config)), timeout=60)
    try:
        postmaster = (pg.data / "postmaster.pid").read_text().split()[0]
        s.ok("vault", "create", "kept", "--region", "local-1")
        in_ns(postmaster, "sh", "-c", f'cat /dev/zero > "{space}/filler"')  # ends at ENOSPC: the tablespace cannot grow
        refused = None
        for i in range(200):  # rows go into free room of pages already there until a table must grow
            r = s.cli("vault", "create", f"v{i}", "--region", "local-1", "--tag", "note=" + "x" * 200)
            if r.exit_code != 0:
                refused = r, f"v{i}"
                break
        assert refused is not None, "the full tablespace never refused a write"
        r, name = refused
        said = r.stdout + r.stderr
        assert r.exit_code == 5 and r.error_code == "StorageFull", said
        assert "metadata store" in said and "PostgreSQL" in said and "Traceback" not in said, said
        names = [v["name"] for v in s.ok("vault", "list")]  # reads answer; the refused write left nothing
        assert "kept" in names and name not in names

        assert in_ns(postmaster, "rm", "-f", f"{space}/filler").returncode == 0
        s.ok("vault", "create", name, "--region", "local-1")
        events = audited_refusals(s, 1)
        assert events and all(e["decision"] != "allowed" for e in events), events
    finally:
        stop_server(s)


def test_the_machine_s_disk_filling_during_a_restore_is_local_io_error(server: Server, tmp_path: Path) -> None:
    """The restore target (a 4 MiB tmpfs in a mount namespace of the test's own, where the agent runs) passes the
    check of free space, then fills: 3,000 files of 200 bytes are 0.6 MB of data and 12 MB of tmpfs pages."""
    need_mount_namespaces()
    s = server
    _vid, creds = private_vault(s, tmp_path)
    vm = Vm(s, tmp_path, "vm-a", VM)
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    src = tmp_path / "small-files"
    src.mkdir()
    for i in range(3000):
        (src / f"f{i:04}.txt").write_bytes(os.urandom(100).hex().encode())
    point = vm.ok("backup", str(src), "--no-progress")["recovery_point"]["id"]

    disk = tmp_path / "machine-disk"
    disk.mkdir()
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               'mount -t tmpfs -o size=4m tmpfs "$0" && touch "$0/mounted" && exec sleep 600',
                               str(disk)])
    try:
        deadline = time.monotonic() + 10
        while in_ns(holder.pid, "test", "-e", str(disk / "mounted")).returncode != 0:
            assert time.monotonic() < deadline, "the tmpfs was not mounted"
            time.sleep(0.05)
        s.prefix = ["nsenter", "-t", str(holder.pid), "-m", "--"]  # the agent runs where the small disk is
        target = disk / "back"
        r = vm.run("restore", point, "--no-progress", "--target", str(target))
        said = r.stdout + r.stderr
        assert r.exit_code == 7 and r.error_code == "LocalIOError", said
        assert "No space left on device" in said and "free space on that disk" in said, said
        assert f"{target}.vaultlink-partial" in said and "Traceback" not in said, said
        failed = [j for j in s.ok("job", "list", "prod") if j["status"] == "Failed"]
        assert len(failed) == 1 and "No space left on device; free space" in json.dumps(failed[0]), failed

        assert in_ns(holder.pid, "mount", "-o", "remount,size=64m", str(disk)).returncode == 0
        vm.ok("restore", point, "--no-progress", "--target", str(target))  # run again: completes
        got = in_ns(holder.pid, sys.executable, "-c", "import hashlib, json, sys\nfrom pathlib import Path\n"
                    + inspect.getsource(tree) + "print(json.dumps(tree(Path(sys.argv[1]))))", str(target / src.name))
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout) == tree(src)
    finally:
        s.prefix = []
        holder.kill()
        holder.wait()
