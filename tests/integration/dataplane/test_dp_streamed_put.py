"""A blob PUT is stored as it arrives (in-process server, raw HTTP from a registered machine): the pack's bytes
reach the disk before its body ends, a wrong hash, a cut connection or an oversize body leave nothing behind,
and a retry of a stored pack is counted once."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
from dp_helpers import registered
from dp_world import DataPlane, make_dataplane

from vaultlink.agent.remote import RemoteBlobStore


class Put:
    """One raw ``PUT`` to the vault's write account from a registered machine's credential."""

    def __init__(self, dp: DataPlane, tmp: Path) -> None:
        agent = registered(dp, tmp / "state")
        st = agent.state
        self.store = RemoteBlobStore(agent.http, st.domain, st.storage_accounts, st.write_account)
        self.account = str(st.write_account)
        self.host, self.token, self.port = self.store.host(self.account), agent.http.token, dp.port
        agent.close()
        self.dp, self.before = dp, _usage(dp, self.account)  # the registration's key file

    def grown(self) -> int:
        """Bytes counted in the write account since the machine registered."""
        return _usage(self.dp, self.account) - self.before

    def open(self, name: str, length: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        sock.sendall(f"PUT /{name} HTTP/1.1\r\nhost: {self.host}\r\nauthorization: Bearer {self.token}\r\n"
                     f"content-type: application/octet-stream\r\ncontent-length: {length}\r\n\r\n".encode())
        return sock

    def answer(self, sock: socket.socket) -> tuple[int, dict]:
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
        while len(body) < length:
            body += sock.recv(65536)
        return int(head.split()[1]), json.loads(body)

    def send(self, name: str, data: bytes) -> tuple[int, dict]:
        with self.open(name, len(data)) as sock:
            sock.sendall(data)
            return self.answer(sock)


def _temps(dp: DataPlane) -> list[Path]:
    return [p for p in (dp.tmp / "data" / "blobs").rglob("*~tmp~*") if p.is_file()]


def _usage(dp: DataPlane, account: str) -> int:
    with dp.svc.store.transaction() as txn:
        return int(txn.require("storage_account", account).get("bytes", 0))


@pytest.fixture
def put(dp: DataPlane, tmp_path: Path) -> Put:
    return Put(dp, tmp_path)


def test_a_pack_reaches_the_disk_before_its_body_ends(dp: DataPlane, put: Put) -> None:
    data = random.Random(1).randbytes(9 << 20)
    name = "packs/" + blake3.blake3(data).hexdigest()
    with put.open(name, len(data)) as sock:
        sock.sendall(data[: 6 << 20])
        deadline, written = time.monotonic() + 10, 0
        while written < 4 << 20 and time.monotonic() < deadline:  # one whole O_DIRECT piece on disk
            written = max((p.stat().st_size for p in _temps(dp)), default=0)
            time.sleep(0.01)
        assert written >= 4 << 20, "the server held the body instead of writing it as it arrived"
        sock.sendall(data[6 << 20 :])
        status, out = put.answer(sock)
    assert status == 200 and out["size"] == len(data)
    assert put.store.get(name) == data and _temps(dp) == []
    assert put.grown() == len(data)
    assert put.send(name, data)[0] == 200  # the retry of a stored pack: accepted, counted once
    assert put.grown() == len(data)


def test_a_wrong_hash_stores_nothing(dp: DataPlane, put: Put) -> None:
    data = random.Random(2).randbytes((6 << 20) + 3)
    status, out = put.send("packs/" + "0" * 64, data)
    assert status >= 400 and out["error"]["code"] == "ContentMismatch"
    assert not put.store.exists("packs/" + "0" * 64)
    assert _temps(dp) == [] and put.grown() == 0


def test_a_cut_connection_leaves_no_temporary_file(dp: DataPlane, put: Put) -> None:
    data = random.Random(3).randbytes(8 << 20)
    name = "packs/" + blake3.blake3(data).hexdigest()
    with put.open(name, len(data)) as sock:
        sock.sendall(data[: 5 << 20])
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while _temps(dp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _temps(dp) == [] and not put.store.exists(name) and put.grown() == 0
    assert put.send(name, data)[0] == 200 and put.store.get(name) == data  # and the retry stores it


@pytest.fixture
def tight_dp(tmp_path: Path) -> Iterator[DataPlane]:
    yield from make_dataplane(tmp_path, max_body_bytes=2 << 20)


def test_an_oversize_body_is_refused_as_it_arrives(tight_dp: DataPlane, tmp_path: Path) -> None:
    put = Put(tight_dp, tmp_path)
    data = random.Random(4).randbytes(6 << 20)
    name = "packs/" + blake3.blake3(data).hexdigest()
    with put.open(name, len(data)) as sock:
        with contextlib.suppress(OSError):  # the server may stop reading once it has answered
            sock.sendall(data)
        status, out = put.answer(sock)
    assert (status, out["error"]["code"]) == (413, "PayloadTooLarge")
    assert not put.store.exists(name) and _temps(tight_dp) == [] and put.grown() == 0
