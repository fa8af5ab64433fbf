"""Listeners exist exactly while their endpoints exist, and come back from the store at start-up."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.conftest import start_server, stop_server
from tests.integration.fabric.conftest import setup_fabric, vm


def _accepts(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=2):
            return True
    except OSError:
        return False


def test_listener_opens_on_create_closes_on_delete_and_is_rebuilt_at_start(tmp_path: Path) -> None:
    s = start_server(tmp_path / "data")
    try:
        f = setup_fabric(s, 61)
        port = f.port
        assert _accepts(f.ip, port)  # open as soon as the create call returned
        with vm("127.61.1.9") as c:
            assert c.get(f.url(), headers=f.headers()).status_code == 200
        # a second endpoint, then delete it: its listener closes, the first one stays
        with s.http() as c:
            r = c.post("/endpoints", json={"name": "second", "region": "local-1", "vnet": "fn61", "subnet": "s",
                                           "vault": f.vault["id"], "group_id": "AzureBackup"})
            second = r.json()
            assert _accepts(second["ips"][0], port)
            assert c.delete(f"/endpoints/{second['id']}").status_code == 200
        deadline = time.monotonic() + 5
        while _accepts(second["ips"][0], port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _accepts(second["ips"][0], port)
        assert _accepts(f.ip, port)
    finally:
        stop_server(s)
    assert not _accepts(f.ip, port)
    # restart on the same data dir and port: the listener is rebuilt from the store
    s2 = start_server(tmp_path / "data", ("--api-port", str(port)))
    try:
        assert _accepts(f.ip, port)
        assert not _accepts(second["ips"][0], port)
        with vm("127.61.1.10") as c:
            r = c.get(f.url(), headers=f.headers())
        assert r.status_code == 200 and r.json()["endpoint_id"] == f.endpoint["id"]
    finally:
        stop_server(s2)


def test_deleting_an_endpoint_closes_open_keepalive_connections(tmp_path: Path) -> None:
    s = start_server(tmp_path / "data")
    try:
        f = setup_fabric(s, 62)
        with vm("127.62.1.9") as c:
            assert c.get(f.url(), headers=f.headers()).status_code == 200
            with s.http() as m:
                assert m.delete(f"/endpoints/{f.endpoint['id']}").status_code == 200
            try:
                r = c.get(f.url(), headers=f.headers())
                ok = r.status_code == 200
            except Exception:
                ok = False
            assert not ok
    finally:
        stop_server(s)
