"""A repository unlocked ahead of time: its key's KDF (scrypt, about 0.1 s), the key file and the chunk index
fetched in a thread of its own while the agent does what comes before a backup's or a restore's data (the
job's start, a database's checkpoint). Taken only for the storage accounts it was opened for."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TypeVar

from vaultlink.agent.remote import RemoteChunkIndex
from vaultlink.data import Repository
from vaultlink.ports import BlobStore

T = TypeVar("T")


def in_thread(fn: Callable[[], T], name: str) -> Future[T]:
    """``fn()`` run in a daemon thread of its own; its result or its error in the future."""
    fut: Future[T] = Future()

    def run() -> None:
        try:
            fut.set_result(fn())
        except BaseException as exc:  # handed to whoever asks the future
            fut.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return fut


def open_loading(store: BlobStore, passphrase: str, index: RemoteChunkIndex) -> Repository:
    """``Repository.open`` with ``index`` fetched from the service meanwhile: the key's KDF (scrypt) lets go of the
    interpreter lock, and at 100k chunks the two took 0.15-0.2 s and 0.35-0.55 s one after the other
    (``bench/README-backup.md``, 2026-12-03)."""
    loading = in_thread(index.load, "vaultlink-index")
    try:
        repo = Repository.open(store, passphrase, load_index=False, index=index)
    except BaseException:
        with contextlib.suppress(BaseException):  # the passphrase's or the key's error is the one to tell
            loading.result()
        raise
    loading.result()
    return repo


class Unlocking:
    def __init__(self) -> None:
        self._opening: tuple[list[str], str | None, Future[Repository]] | None = None

    def start(self, accounts: Sequence[str], write: str | None, open_repo: Callable[[], Repository]) -> None:
        """Start opening (once: a second start while one is pending does nothing)."""
        if self._opening is not None:
            return
        self._opening = (list(accounts), write, in_thread(open_repo, "vaultlink-unlock"))

    def take(self, accounts: Sequence[str], write: str | None) -> Repository | None:
        """The repository opened ahead for these accounts (its error, if opening failed); None when none was
        started or it was for other accounts (then it is closed)."""
        got, self._opening = self._opening, None
        if got is None:
            return None
        if (got[0], got[1]) == (list(accounts), write):
            return got[2].result()
        self._opening = got
        self.discard()
        return None

    def discard(self) -> None:
        got, self._opening = self._opening, None
        if got is not None:
            with contextlib.suppress(BaseException):
                got[2].result().close()
