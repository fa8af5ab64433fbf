"""The repository unlocked ahead of time (``agent/unlock.py``): taken for the accounts it was opened for,
closed when the accounts changed or nobody takes it, its error handed to whoever takes it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from vaultlink.agent.unlock import Unlocking
from vaultlink.errors import WrongPassphrase


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
