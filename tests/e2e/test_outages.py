"""The stores a deployment runs on go away for ten seconds in the middle of a backup: PostgreSQL (the
metadata store) and the S3 server (the blob store). Requests meanwhile fail with ``ServiceUnavailable`` (a
stable code, no traceback), refusals are audited once the store is back, and the service recovers by
itself: the agent's retries carry the backup through, and the point restores byte for byte (issue #18)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from tests.conftest import VAULTLINK, Server, start_server, stop_server
from tests.e2e.test_private_backup import VM, Vm, make_data, private_vault, tree
from tests.pgserver import PgServer
from tests.seaweed import Seaweed

OUTAGE = 10.0


@pytest.fixture
def pg() -> Iterator[PgServer]:
    server = PgServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def seaweed(tmp_path: Path) -> Iterator[Seaweed]:
    server = Seaweed(tmp_path / "seaweed")
    (tmp_path / "seaweed").mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def backup_through(s: Server, tmp_path: Path, uploading: Callable[[], bool], outage: Callable[[], None],
                   back: Callable[[], None], metadata: bool) -> None:
    """A private backup of 200 MiB; once ``uploading()``, the store goes (``outage``), the agent meets it (and
    a control-plane request, when the ``metadata`` store went), and ``OUTAGE`` seconds later it returns
    (``back``). Then: the backup completed, the point restores identical, and the refusals of the gap are in
    the audit log."""
    _vid, creds = private_vault(s, tmp_path)
    vm = Vm(s, tmp_path, "vm-a", VM)
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    src = make_data(tmp_path / "src", 200)
    backup = subprocess.Popen([VAULTLINK, "agent", "backup", str(src), "--state-dir", str(vm.state),
                               "--passphrase-file", str(vm.pw), "--no-progress", "-o", "json"], env=s.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not uploading():
        assert time.monotonic() < deadline and backup.poll() is None, "the upload did not begin"
        time.sleep(0.1)
    backup.send_signal(signal.SIGSTOP)  # held while the store goes, so that it has work left
    try:
        assert backup.poll() is None, "the backup ended before the outage: make the data larger"
        gone = time.monotonic()
        outage()
        if metadata:
            r = s.cli("vault", "list")
            assert r.error_code == "ServiceUnavailable", (r.stdout, r.stderr)
            assert "Traceback" not in r.stdout + r.stderr
    finally:
        backup.send_signal(signal.SIGCONT)  # its requests meet the outage and are retried
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - gone)))
    back()
    out, err = backup.communicate(timeout=300)
    assert backup.returncode == 0, (out, err)
    rp = json.loads(out)["recovery_point"]["id"]
    assert s.ok("recovery-point", "show", rp)["status"] == "Completed"
    refused = s.ok("audit", "list", "--decision", "denied", "--limit", "1000")
    assert any(e.get("code") == "ServiceUnavailable" and e.get("source_ip") == VM for e in refused), \
        "the machine's requests during the outage are not in the audit log"
    r = vm.run("restore", rp, "--target", str(tmp_path / "restored"))
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert tree(tmp_path / "restored" / "src") == tree(src)
    assert "Traceback" not in s.log()


def test_postgresql_stopped_for_ten_seconds_mid_backup(pg: PgServer, tmp_path: Path) -> None:
    cfg = tmp_path / "pg.toml"
    cfg.write_text(f'metadata_url = "{pg.url}"\nblob_url = "file://{tmp_path / "blobs"}"\n'
                   f'sealing_key = "{base64.b64encode(os.urandom(32)).decode()}"\nprune_worker = false\n')
    s = start_server(tmp_path / "data", ("--config", str(cfg)), timeout=60)
    try:
        backup_through(s, tmp_path, lambda: any((tmp_path / "blobs").rglob("packs/*")), pg.stop, pg.start,
                       metadata=True)
    finally:
        stop_server(s)


def test_the_s3_server_stopped_for_ten_seconds_mid_backup(seaweed: Seaweed, tmp_path: Path) -> None:
    cfg = tmp_path / "s3.toml"
    cfg.write_text(f'blob_url = "s3://vaultlink-outage/x?endpoint={seaweed.url}&region=us-east-1"\n'
                   'blob_s3_access_key_id = "vaultlink"\nblob_s3_secret_access_key = "seaweed-any"\n')
    s = start_server(tmp_path / "data", ("--config", str(cfg)), timeout=60)
    try:
        client = boto3.client("s3", endpoint_url=seaweed.url, region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="y")

        def uploading() -> bool:
            listed = client.list_objects_v2(Bucket="vaultlink-outage", Prefix="x/")
            return any("/packs/" in o["Key"] for o in listed.get("Contents", []))

        backup_through(s, tmp_path, uploading, lambda: seaweed.stop(wait=15), seaweed.start, metadata=False)
    finally:
        stop_server(s)
