"""Two ``vaultlink serve`` processes on one PostgreSQL behave as one service: a change made through one
reaches the other's listeners and DNS responder within about a second (LISTEN/NOTIFY), and a dropped
LISTEN session (``pg_terminate_backend``) cannot leave a server stale (it resynchronizes on reconnect)."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.conftest import Server, start_server, stop_server

D = "vaultlink.internal"
PG = os.environ.get("VAULTLINK_TEST_POSTGRES_URL")


@contextlib.contextmanager
def deployment(tmp_path: Path, extra: str = "") -> Iterator[tuple[Path, str]]:
    """(config file, schema) of one deployment on the test PostgreSQL: its own schema (dropped after), one
    blob directory, one sealing key; ``extra``: more config lines."""
    if not PG:
        if os.environ.get("CI"):
            pytest.fail("VAULTLINK_TEST_POSTGRES_URL is unset in CI: the cluster test must run")
        pytest.skip("set VAULTLINK_TEST_POSTGRES_URL (./scripts/test starts PostgreSQL)")
    schema = "cluster_" + secrets.token_hex(4)
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    cfg = tmp_path / "cluster.toml"
    cfg.write_text(f'metadata_url = "{PG}?options=-csearch_path%3D{schema}"\n'
                   f'blob_url = "file://{tmp_path / "blobs"}"\n'
                   f'sealing_key = "{base64.b64encode(os.urandom(32)).decode()}"\n' + extra)
    try:
        yield cfg, schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Server, Server, str]]:
    with deployment(tmp_path) as (cfg, schema):
        a = start_server(tmp_path / "a", ("--config", str(cfg)), timeout=60)
        servers = [a]
        try:
            b = start_server(tmp_path / "b", ("--config", str(cfg)), timeout=60)
            servers.append(b)
            # one deployment, one CA: the first server made it, the second read it from the store
            assert (a.data_dir / "ca.pem").read_text() == (b.data_dir / "ca.pem").read_text()
            # a server without the deployment's sealing key cannot open the CA's key: it stops, saying why
            lone = tmp_path / "lone.toml"
            lone.write_text(cfg.read_text().split("\n", 1)[0] + "\n")  # its metadata_url only
            with pytest.raises(RuntimeError, match="sealing_key"):
                start_server(tmp_path / "c", ("--config", str(lone)), timeout=60)
            (b.data_dir / "owner.key").write_text(a.owner_key + "\n")  # one deployment: the first server's owner
            yield a, b, schema
        finally:
            for srv in reversed(servers):
                stop_server(srv)


def listening(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(check: object, seconds: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if check():  # type: ignore[operator]
            return time.monotonic() - t0
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s")


def dig(s: Server, name: str) -> list[str]:
    return subprocess.run(["dig", "-b", "127.10.1.100", "@127.0.0.1", "-p", str(s.info["dns_port"]), name, "+short",
                           "+time=1", "+tries=1"], capture_output=True, text=True, timeout=10).stdout.split()


def endpoint(a: Server, name: str) -> str:
    ep = a.ok("endpoint", "create", "--name", name, "--region", "local-1", "--vault", "prod", "--group-id",
              "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration")
    return str(ep["ip_configs"][0]["ip"])


def test_a_change_through_one_server_reaches_the_other(cluster: tuple[Server, Server, str]) -> None:
    a, b, _schema = cluster
    vid = a.ok("vault", "create", "prod", "--region", "local-1")["id"]
    assert b.ok("vault", "show", "prod")["id"] == vid, "one store"
    a.ok("vnet", "create", "vm-net", "--region", "local-1", "--address-space", "127.10.0.0/16",
         "--subnet", "default=127.10.1.0/24")
    ip = endpoint(a, "pe1")
    took = wait_for(lambda: listening(ip, b.info["api_port"]), 3.0)
    assert took < 2.0, f"the other server opened the endpoint's listener after {took:.2f} s"
    wait_for(lambda: dig(b, f"{vid}.privatelink.l1.backup.{D}") == [ip], 3.0)
    a.ok("endpoint", "delete", "pe1")
    wait_for(lambda: not listening(ip, b.info["api_port"]), 3.0)
    # a key revoked through one server is refused by the other (its caches follow the change)
    made = a.ok("principal", "create", "ci")
    key = made["api_key"]
    assert b.cli("vault", "list", api_key=key).exit_code == 0
    a.ok("key", "revoke", a.ok("key", "list", "--principal", "ci")[0]["id"])
    refused = a.cli("vault", "list", api_key=key).error_code
    assert refused is not None
    wait_for(lambda: b.cli("vault", "list", api_key=key).error_code == refused, 3.0)


def test_a_dropped_listen_session_resynchronizes(cluster: tuple[Server, Server, str]) -> None:
    a, b, _schema = cluster
    vid = a.ok("vault", "create", "prod", "--region", "local-1")["id"]
    a.ok("vnet", "create", "vm-net", "--region", "local-1", "--address-space", "127.10.0.0/16",
         "--subnet", "default=127.10.1.0/24")
    assert PG is not None
    admin = create_engine(PG)
    try:
        with admin.begin() as conn:  # every feed session of the deployment goes: both servers lose theirs
            killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE application_name LIKE 'vaultlink-feed-%'")).scalar()
        assert killed and killed >= 2
        ip = endpoint(a, "pe2")  # made in the gap: its notification may reach nobody
        wait_for(lambda: listening(ip, b.info["api_port"]), 10.0)
        wait_for(lambda: dig(b, f"{vid}.privatelink.l1.backup.{D}") == [ip], 10.0)
        assert "resynchronizing" in b.log()
    finally:
        admin.dispose()
