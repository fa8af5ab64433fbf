"""Shared BlobStore contract (vaultlink.ports.BlobStore), run against every adapter: memory, local, and the
agent's remote store over a vault's blob service (write-once: see the port's contract)."""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from tests.contract.odirect import direct_on, refusing
from tests.integration.dataplane.dp_world import PASS, make_dataplane

from vaultlink.adapters import blob_local
from vaultlink.adapters.blob_local import LocalBlobStore
from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.adapters.blob_s3 import S3BlobStore
from vaultlink.agent.remote import RemoteBlobStore
from vaultlink.agent.session import Agent, register
from vaultlink.agent.state import load_state
from vaultlink.errors import BlobExists, ContentMismatch, InvalidInput, NotFound, StorageFull
from vaultlink.ports import BlobStore, SizedList

Factory = Callable[[], BlobStore]


def remote_store(tmp: Path) -> Iterator[BlobStore]:
    """The agent's store over a real vault data plane (uvicorn on 127.0.0.1), as a registered machine."""
    for dp in make_dataplane(tmp):
        register(dp.credentials(), "127.0.0.1", "127.0.0.1:53", tmp / "agent", PASS, "vm1", resolver=dp.resolver)
        agent = Agent(load_state(tmp / "agent"), dp.resolver, retry_for=2.0)
        st = agent.state
        try:
            yield RemoteBlobStore(agent.http, st.domain, st.storage_accounts, st.write_account)
        finally:
            agent.close()


def s3_store(request: pytest.FixtureRequest, kind: str, tmp: Path) -> S3BlobStore:
    """A fresh prefix of one bucket on the module's SeaweedFS (``s3``) or Ceph RGW (``rgw``), in a bucket
    with S3 Object Lock (versioned) for ``…-lock``: every test sees an empty store."""
    lock = kind.endswith("-lock")
    bucket = "vaultlink-locked" if lock else "vaultlink-contract"
    query = "&object_lock=true" if lock else ""
    if kind.startswith("rgw"):
        rgw = request.getfixturevalue("ceph")
        return S3BlobStore(f"s3://{bucket}/{tmp.name}?endpoint={rgw.url}&region=us-east-1{query}",
                           rgw.access_key, rgw.secret_key)
    endpoint = request.getfixturevalue("seaweed_s3")
    return S3BlobStore(f"s3://{bucket}/{tmp.name}?endpoint={endpoint}&region=us-east-1{query}", "any", "any")


S3_KINDS = ["s3", "s3-lock", "rgw", "rgw-lock"]


@pytest.fixture(params=["memory", "local", "remote", *S3_KINDS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
    elif request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
    elif request.param in S3_KINDS:
        yield s3_store(request, request.param, tmp_path)
    else:
        yield from remote_store(tmp_path)


def test_put_get_roundtrip(store: BlobStore) -> None:
    store.put("data/abc", b"hello world")
    assert store.get("data/abc") == b"hello world"
    assert store.exists("data/abc")
    assert store.size("data/abc") == 11


def test_empty_object(store: BlobStore) -> None:
    store.put("x/empty", b"")
    assert store.get("x/empty") == b""
    assert store.size("x/empty") == 0


def test_get_range_exact(store: BlobStore) -> None:
    data = bytes(range(256)) * 10
    store.put("a/b", data)
    assert store.get_range("a/b", 5, 10) == data[5:15]
    assert store.get_range("a/b", 0, len(data)) == data
    assert store.get_range("a/b", len(data), 0) == b""


@pytest.mark.parametrize("offset,length", [(-1, 2), (0, 2561), (2560, 1), (10, -1)])
def test_get_range_outside_is_invalid(store: BlobStore, offset: int, length: int) -> None:
    store.put("a/b", bytes(2560))
    with pytest.raises(InvalidInput):
        store.get_range("a/b", offset, length)


def test_missing_names(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.get("nope")
    with pytest.raises(NotFound):
        store.get_range("nope", 0, 1)
    with pytest.raises(NotFound):
        store.size("nope")
    assert not store.exists("nope")
    if not store.write_once:
        store.delete("nope")  # not an error


def test_overwrite_replaces_or_is_refused(store: BlobStore) -> None:
    store.put("conf/key", b"one")
    store.put("conf/key", b"one")  # the same bytes again: always a no-op
    assert store.get("conf/key") == b"one"
    if store.write_once:
        with pytest.raises(BlobExists):
            store.put("conf/key", b"two!")
        assert store.get("conf/key") == b"one", "a refused overwrite leaves the stored bytes"
    else:
        store.put("conf/key", b"two!")
        assert store.get("conf/key") == b"two!"


def test_delete(store: BlobStore) -> None:
    store.put("a/1", b"x")
    if store.write_once:
        with pytest.raises(InvalidInput):
            store.delete("a/1")
        assert store.exists("a/1"), "a refused delete leaves the blob"
        return
    store.delete("a/1")
    assert not store.exists("a/1")
    assert list(store.list("a/")) == []


def test_list_prefix_sorted(store: BlobStore) -> None:
    names = ["l/data/b2", "l/data/a1", "l/keys/z", "l/data/a0", "l/locks/s", "l/datax"]
    for n in names:
        store.put(n, n.encode())
    assert list(store.list("l/data/")) == ["l/data/a0", "l/data/a1", "l/data/b2"]
    assert list(store.list("l/data/a")) == ["l/data/a0", "l/data/a1"]
    assert list(store.list("l/")) == sorted(names)
    assert set(names) <= set(store.list())
    assert list(store.list("nothing/")) == []


def test_sized_lists_what_list_does_with_each_size(store: BlobStore) -> None:
    """``ports.SizedList``: the names of ``list``, in its order, each with the size ``size`` gives, from the listing
    itself (prune asks it of every pack every few minutes: no HEAD per object on S3)."""
    names = {"s/data/b2": b"x" * 3, "s/data/a1": b"", "s/data/a0": b"y" * 70_000, "s/keys/z": b"k", "s/datax": b"q"}
    for n, data in names.items():
        store.put(n, data)
    if type(store).__name__ == "RemoteBlobStore":  # the agent's view of the service: it never prunes
        assert not hasattr(store, "sized")
        return
    assert hasattr(store, "sized"), "every adapter of the server has it"
    for prefix in ("s/data/", "s/", "s/data/a", "nothing/"):
        got = list(cast(SizedList, store).sized(prefix))
        assert [n for n, _ in got] == list(store.list(prefix))
        assert all(size == store.size(n) == len(names[n]) for n, size in got)


@pytest.mark.parametrize(
    "name", ["", "/abs", "a//b", "a/../b", "..", ".", "a/./b", "a b", "a/", "é", "a\\b", "x~y"]
)
def test_invalid_names(store: BlobStore, name: str) -> None:
    with pytest.raises(InvalidInput):
        store.put(name, b"x")
    with pytest.raises(InvalidInput):
        store.get(name)


def test_concurrent_puts_and_reads(store: BlobStore) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(20):
                data = bytes([i]) * (1000 + j)
                store.put(f"c/{i}-{j}", data)
                assert store.get_range(f"c/{i}-{j}", 10, 5) == bytes([i]) * 5
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert len(list(store.list("c/"))) == 80


def test_large_object_whole_and_in_unaligned_ranges(store: BlobStore) -> None:
    """An object past the sizes a store treats apart (the local store's O_DIRECT bulk and 4 MiB pieces, S3's
    multipart): whole, and in ranges at unaligned offsets across 4 KiB blocks and the pieces' edges."""
    data = random.Random(5).randbytes((9 << 20) + 4321)
    store.put("big/obj", data)
    assert store.size("big/obj") == len(data)
    assert store.get("big/obj") == data
    for off, ln in [(0, len(data)), (1, 300_000), (4095, (4 << 20) + 2), ((4 << 20) - 7, 262_144 + 13),
                    (len(data) - 262_150, 262_150), (12_345, 100)]:
        assert store.get_range("big/obj", off, ln) == data[off : off + ln], (off, ln)


def test_read_pieces_where_offered(store: BlobStore) -> None:
    """A store that reads a range a piece at a time (``read_pieces``: local and S3) gives ``get_range``'s bytes in
    pieces of at most 1 MiB, refuses a missing name or an outside range before any piece, and can be closed
    early; the others (memory, the agent's remote store) do not offer it."""
    read = getattr(store, "read_pieces", None)
    if read is None:
        assert isinstance(store, MemoryBlobStore | RemoteBlobStore)
        return
    data = random.Random(6).randbytes((5 << 20) + 999)
    store.put("big/obj", data)
    for off, ln in [(0, len(data)), (4095, (2 << 20) + 2), ((1 << 20) - 7, 13), (len(data) - 10, 10)]:
        pieces = list(read("big/obj", off, ln))
        assert b"".join(pieces) == data[off : off + ln] and max(map(len, pieces)) <= 1 << 20, (off, ln)
    with pytest.raises(NotFound):
        read("big/none", 0, 10)
    with pytest.raises(InvalidInput):
        read("big/obj", len(data) - 5, 10)
    early = read("big/obj", 0, 3 << 20)
    assert next(early) == data[: 1 << 20]
    early.close()
    assert next(early, None) is None


def test_local_large_objects_bypass_the_page_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large object's aligned bulk is written, and a large range read, with O_DIRECT (4 MiB at a time); the
    tail and small objects and ranges go through the page cache."""
    if not blob_local.O_DIRECT:
        pytest.skip("this platform has no O_DIRECT")  # Linux CI always has it
    seen: list[tuple[str, bool, int]] = []
    write, preadv = os.write, os.preadv
    monkeypatch.setattr(os, "write", lambda fd, b: seen.append(("write", direct_on(fd), len(b))) or write(fd, b))
    monkeypatch.setattr(os, "preadv",
                        lambda fd, bufs, off: seen.append(("read", direct_on(fd), off)) or preadv(fd, bufs, off))
    store = LocalBlobStore(tmp_path / "b")
    data = random.Random(1).randbytes((5 << 20) + 100)
    store.put("packs/p", data)
    assert seen == [("write", True, 4 << 20), ("write", True, 1 << 20), ("write", False, 100)]
    seen.clear()
    assert store.get_range("packs/p", 5000, 1 << 20) == data[5000 : 5000 + (1 << 20)]
    assert seen == [("read", True, 4096)]
    seen.clear()
    store.put("index/i", b"x" * 1000)
    assert store.get_range("packs/p", 10, 1000) == data[10:1010]
    assert seen == [("write", False, 1000)]
    assert store.direct


def test_local_store_where_o_direct_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system that refuses O_DIRECT (the flag, or the writes once set) gets every byte buffered, and the
    store stops asking."""
    if not blob_local.O_DIRECT:
        pytest.skip("this platform has no O_DIRECT")
    data = random.Random(2).randbytes((2 << 20) + 7)
    for how in ("flag", "write"):
        store = LocalBlobStore(tmp_path / how)
        with refusing(monkeypatch, how):
            store.put("packs/p", data)
            assert not store.direct
            assert store.get("packs/p") == data
            assert store.get_range("packs/p", 3, 1 << 20) == data[3 : 3 + (1 << 20)]


def test_local_put_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "b")
    store.put("packs/p", b"x" * 100000)
    files = [p.name for p in (tmp_path / "b" / "packs").iterdir()]
    assert files == ["p"]


def test_local_temp_file_of_a_crashed_put_is_invisible(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "b")
    store.put("packs/p", b"done")
    (tmp_path / "b" / "packs" / "q~tmp~123").write_bytes(b"half")
    assert list(store.list("packs/")) == ["packs/p"]
    assert not store.exists("packs/q")


def test_remote_names_under_packs_are_their_content_hash(tmp_path: Path) -> None:
    import blake3

    for store in remote_store(tmp_path):
        data = b"a pack"
        good = "packs/" + blake3.blake3(data).hexdigest()
        store.put(good, data)
        assert store.get(good) == data
        with pytest.raises(ContentMismatch):
            store.put("packs/" + "0" * 64, data)
        assert not store.exists("packs/" + "0" * 64)


@pytest.fixture(params=["memory", "local", *S3_KINDS])
def server_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """The server's own stores, which also create a name only if it is absent (``ports.CreateOnly``)."""
    if request.param == "memory":
        return MemoryBlobStore()
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return s3_store(request, request.param, tmp_path)


def test_create_only_if_absent(server_store: Any) -> None:
    assert server_store.create("packs/a", b"first") is True
    assert server_store.create("packs/a", b"second") is False, "an existing name is never replaced"
    assert server_store.get("packs/a") == b"first"
    with pytest.raises(InvalidInput):
        server_store.create("../escape", b"x")


def test_create_races_have_one_winner(server_store: Any) -> None:
    """Eight writers race on one name with different bytes: exactly one wins and its bytes stay whole."""
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def race(i: int) -> None:
        barrier.wait(10)
        if server_store.create("race/x", bytes([i]) * 200_000):
            wins.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(wins) == 1
    assert server_store.get("race/x") == bytes([wins[0]]) * 200_000
    assert list(server_store.list("race/")) == ["race/x"], "no temporary object is left visible"


def test_local_create_races_across_processes(tmp_path: Path) -> None:
    """Two servers on one blob directory: separate processes racing on one name, one winner."""
    code = ("import sys; from vaultlink.adapters.blob_local import LocalBlobStore; "
            "s = LocalBlobStore(sys.argv[1]); print(int(s.create('packs/p', sys.argv[2].encode() * 100000)))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "b"), str(i)], stdout=subprocess.PIPE,
                              text=True) for i in range(6)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(outs) == ["0"] * 5 + ["1"]
    winner = outs.index("1")
    assert LocalBlobStore(tmp_path / "b").get("packs/p") == str(winner).encode() * 100000


@pytest.mark.parametrize("kind", ["s3-lock", "rgw-lock"])
def test_versioned_buckets_keep_the_contract(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> None:
    """In a bucket with S3 Object Lock (versioned): RGW 16 ignores ``If-None-Match`` there and the probe
    finds it out (SeaweedFS honours it); ``delete`` removes every version (the bytes go, not only hidden
    behind a delete marker)."""
    store = s3_store(request, kind, tmp_path)
    assert store.versioned and store.object_lock
    assert store.if_none_match is (kind == "s3-lock")
    assert store.create("packs/v", b"one") is True
    assert store.create("packs/v", b"two") is False
    store.put("packs/w", b"1")
    store.put("packs/w", b"2")
    assert store.get("packs/w") == b"2"
    store.delete("packs/w")
    store.delete("packs/v")
    listed = store._s3.list_object_versions(Bucket=store.bucket, Prefix=store._key("packs/v")[:-1])
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")


@pytest.mark.parametrize("kind", ["s3-lock", "rgw-lock"])
def test_object_lock_refuses_a_direct_delete(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> None:
    """``retain``: the S3 server itself refuses to delete the object, to anyone with the bucket's credentials
    (a plain S3 client here), and the store's own ``delete`` says why; the bytes stay."""
    import time

    from vaultlink.errors import StoreError

    store = s3_store(request, kind, tmp_path)
    store.put("packs/kept", b"precious")
    store.retain("packs/kept", time.time() + 3600)
    store.retain("packs/kept", time.time() + 60)  # never shortened: a no-op, not an error
    s3, key = store._s3, store._key("packs/kept")
    version = s3.head_object(Bucket=store.bucket, Key=key)["VersionId"]
    with pytest.raises(Exception, match=r"AccessDenied|forbidden|Access Denied"):
        s3.delete_object(Bucket=store.bucket, Key=key, VersionId=version)
    with pytest.raises(StoreError, match="Object Lock"):
        store.delete("packs/kept")
    assert s3.get_object(Bucket=store.bucket, Key=key, VersionId=version)["Body"].read() == b"precious"
    retention = s3.get_object_retention(Bucket=store.bucket, Key=key)["Retention"]
    assert retention["Mode"] == "COMPLIANCE" and retention["RetainUntilDate"].timestamp() > time.time() + 3000


def test_a_bucket_over_its_quota_on_ceph_rgw_is_storage_full(request: pytest.FixtureRequest) -> None:
    """A real RGW user whose buckets have a 1 MiB quota (``radosgw-admin quota``): RGW answers ``QuotaExceeded``, the
    store says ``StorageFull`` naming the bucket and the quota, stores nothing, and keeps what fit."""
    rgw = request.getfixturevalue("ceph")
    admin = ["radosgw-admin", "-c", rgw.conf]
    key, secret = "quota" + secrets.token_hex(6), secrets.token_hex(20)
    for args in (["user", "create", "--uid=quota", "--display-name=quota", f"--access-key={key}",
                  f"--secret-key={secret}"],
                 ["quota", "set", "--quota-scope=bucket", "--uid=quota", "--max-size=1048576"],
                 ["quota", "enable", "--quota-scope=bucket", "--uid=quota"]):
        done = subprocess.run([*admin, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    store = S3BlobStore(f"s3://quota-bucket/p?endpoint={rgw.url}&region=us-east-1", key, secret)
    store.put("packs/small", b"x" * 1000)
    with pytest.raises(StorageFull) as exc:
        store.create("packs/" + "a" * 64, os.urandom(2 << 20))
    assert "bucket quota-bucket" in exc.value.message and "over its quota" in exc.value.message
    assert "Raise the quota" in exc.value.message
    assert sorted(store.list("packs/")) == ["packs/small"] and store.get("packs/small") == b"x" * 1000
