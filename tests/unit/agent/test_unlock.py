"""The repository unlocked ahead of time (``agent/unlock.py``): taken for the accounts it was opened for,
closed when the accounts changed or nobody takes it, its error handed to whoever takes it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.agent.unlock import Unlocking, open_loading
from vaultlink.data import Repository
from vaultlink.data.chunk_index import MemoryChunkIndex
from vaultlink.errors import ServiceUnavailable, WrongPassphrase


class FakeRepo:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_taken_for_its_accounts_only() -> None:
    u, repo = Unlocking(), FakeRepo()
    u.start(["sa1"], "sa1", lambda: repo)  # type: ignore[arg-type,return-value]
    assert u.take(["sa1"], "sa1") is repo and not repo.closed
    assert u.take(["sa1"], "sa1") is None, "taken once"
    other = FakeRepo()
    u.start(["sa1"], "sa1", lambda: other)  # type: ignore[arg-type,return-value]
    assert u.take(["sa1", "sa2"], "sa2") is None and other.closed, "the vault grew: opened again, this one closed"


def test_one_opening_at_a_time_and_a_discard_closes_it() -> None:
    u, calls = Unlocking(), []
    gate = threading.Event()

    def slow() -> Any:
        gate.wait(5)
        calls.append(1)
        return FakeRepo()

    u.start(["sa1"], "sa1", slow)
    u.start(["sa1"], "sa1", slow)  # a second start while one is pending: nothing
    gate.set()
    got = u.take(["sa1"], "sa1")
    assert got is not None and calls == [1]
    repo = FakeRepo()
    u.start(["sa1"], "sa1", lambda: repo)  # type: ignore[arg-type,return-value]
    u.discard()
    assert repo.closed and u.take(["sa1"], "sa1") is None


def test_the_opening_error_goes_to_the_taker() -> None:
    u = Unlocking()

    def wrong() -> Any:
        raise WrongPassphrase()

    u.start(["sa1"], "sa1", wrong)
    with pytest.raises(WrongPassphrase):
        u.take(["sa1"], "sa1")
    u.start(["sa1"], "sa1", wrong)
    u.discard()  # nobody takes it: the error is dropped with it


class LoadingIndex(MemoryChunkIndex):
    """A chunk index fetched from the service: ``load`` notes when it runs, and may fail."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.started = threading.Event()
        self.fail = fail

    def load(self) -> int:
        self.started.set()
        if self.fail:
            raise ServiceUnavailable("the index could not be fetched")
        return 0


def _store() -> MemoryBlobStore:
    store = MemoryBlobStore()
    Repository.init(store, "right passphrase").close()
    return store


def test_the_index_is_fetched_while_the_key_is_derived(monkeypatch: pytest.MonkeyPatch) -> None:
    """``open_loading``: the index's fetch runs during ``Repository.open`` (the KDF), not after it."""
    real = Repository.open
    overlapped: list[bool] = []

    def open_waiting(*a: Any, **kw: Any) -> Repository:
        overlapped.append(index.started.wait(5))  # one after the other, the fetch would start only after this
        return real(*a, **kw)

    index = LoadingIndex()
    monkeypatch.setattr(Repository, "open", open_waiting)
    repo = open_loading(_store(), "right passphrase", index)  # type: ignore[arg-type]
    assert overlapped == [True] and repo.index is index


def test_a_wrong_passphrase_is_the_error_told_and_a_failed_fetch_is_raised() -> None:
    store = _store()
    with pytest.raises(WrongPassphrase):
        open_loading(store, "wrong passphrase", LoadingIndex(fail=True))  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailable):
        open_loading(store, "right passphrase", LoadingIndex(fail=True))  # type: ignore[arg-type]
