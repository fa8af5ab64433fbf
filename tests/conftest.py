"""Shared fixtures: a real ``vaultlink serve`` process on loopback, and the real CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

VENV_BIN = Path(sys.executable).parent
VAULTLINK = str(VENV_BIN / "vaultlink")


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_code(self) -> str | None:
        try:
            return str(json.loads(self.stdout)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            for line in self.stderr.splitlines():
                if line.startswith("error: "):
                    return line.split(":")[1].strip()
            return None


@dataclass
class Server:
    data_dir: Path
    proc: subprocess.Popen[str]
    info: dict[str, Any]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    prefix: list[str] = field(default_factory=list)  # e.g. nsenter into the test's own network namespace

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def owner_key(self) -> str:
        return (self.data_dir / "owner.key").read_text().strip()

    def env(self, api_key: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTLINK_")}
        env["VAULTLINK_DATA_DIR"] = str(self.data_dir)
        env["NO_PROXY"] = "*"
        if api_key:
            env["VAULTLINK_API_KEY"] = api_key
        env.update(self.extra_env)
        return env

    def cli(
        self,
        *args: str,
        api_key: str | None = None,
        json_out: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> CliResult:
        """Run the real ``vaultlink`` program as a user would (a subprocess)."""
        argv = [*self.prefix, VAULTLINK, *args]
        if json_out and "-o" not in args and "--output" not in args:
            argv += ["-o", "json"]
        p = subprocess.run(
            argv, env=self.env(api_key), capture_output=True, text=True, timeout=timeout, input=input
        )
        return CliResult(p.returncode, p.stdout, p.stderr)

    def ok(self, *args: str, api_key: str | None = None) -> Any:
        r = self.cli(*args, api_key=api_key)
        assert r.exit_code == 0, f"{args} failed: {r.stdout} {r.stderr}"
        return r.json

    @property
    def ca(self) -> str | bool:
        """What a client verifies this server's certificates with: its deployment's ``ca.pem`` (a path, as
        boto3's ``verify=`` and ``AWS_CA_BUNDLE`` take it)."""
        path = self.data_dir / "ca.pem"
        return str(path) if self.url.startswith("https://") else True

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """The same for httpx (a context trusting the deployment's CA)."""
        return ssl.create_default_context(cafile=self.ca) if isinstance(self.ca, str) else True

    def http(self, api_key: str | None = None) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {api_key or self.owner_key}"}
        return httpx.Client(base_url=self.url + "/v1", headers=headers, timeout=30, trust_env=False,
                            verify=self.verify)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


_RAW_TLS = ssl.create_default_context()
_RAW_TLS.check_hostname = False
_RAW_TLS.verify_mode = ssl.CERT_NONE


def raw_connection(ip: str, port: int, source: str | None = None, timeout: float | None = 15) -> socket.socket:
    """A TLS connection (every listener speaks TLS only) for tests that write raw HTTP bytes on the wire. It does
    not check the certificate: ``tests/e2e/test_tls.py`` checks every listener's against the deployment CA."""
    sock = socket.create_connection((ip, port), timeout=timeout, source_address=(source, 0) if source else None)
    return _RAW_TLS.wrap_socket(sock)


def start_server(
    data_dir: Path,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = 20,
    prefix: list[str] | None = None,
) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-serve.log"
    log = open(log_path, "a")  # noqa: SIM115 - the server process keeps writing to it
    penv = {k: v for k, v in os.environ.items() if not k.startswith("VAULTLINK_")}
    penv.update(env or {})
    proc = subprocess.Popen(
        [*(prefix or []), VAULTLINK, "serve", "--data-dir", str(data_dir), "--api-port", "0", "--dns-port", "0",
         *extra_args],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=penv,
    )
    info_path = data_dir / "server.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vaultlink serve exited with {proc.returncode}: {log_path.read_text()}")
        if info_path.exists():
            try:
                info = json.loads(info_path.read_text())
                return Server(data_dir, proc, info, log_path, prefix=list(prefix or []))
            except ValueError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"vaultlink serve did not start in {timeout}s: {log_path.read_text()}")


def stop_server(server: Server) -> int:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    return server.proc.returncode


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh server per test (own data dir, own port)."""
    srv = start_server(tmp_path / "data")
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a whole test module (faster; tests must not depend on each other's state)."""
    srv = start_server(tmp_path_factory.mktemp("shared") / "data")
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture
def sync_events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What reaches the disk, in order: ``fsync file``, ``fsync dir`` and ``rename`` (``os.replace``), recorded
    as they happen (the calls still run)."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events
