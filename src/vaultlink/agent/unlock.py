"""A repository unlocked ahead of time: its key's KDF (scrypt, about 0.1 s), the key file and the chunk index
fetched in a thread of its own while the agent does what comes before a backup's or a restore's data (the
job's start, a database's checkpoint). Taken only for the storage accounts it was opened for."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from vaultlink.agent.remote import RemoteChunkIndex
from vaultlink.data import Repository
from vaultlink.ports import BlobStore


def open_loading(store: BlobStore, passphrase: str, index: RemoteChunkIndex) -> Repository:
    """``Repository.open`` with ``index`` fetched from the service meanwhile: the key's KDF (scrypt) lets go of the
    interpreter lock, and at 100k chunks the two took 0.15-0.2 s and 0.35-0.55 s one after the other
    (``bench/README-backup.md``, 2026-12-03)."""
    loading = Background(index.load)
    try:
        repo = Repository.open(store, passphrase, load_index=False, index=index)
    except BaseException:
        loading.join(quiet=True)  # the passphrase's or the key's error is the one to tell
        raise
    loading.join()
    return repo


class Background:
    """``fn()`` in a thread of its own from now on; ``join`` waits for it and raises what it raised."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # raised to whoever joins
                self._error = exc

        self._thread = threading.Thread(target=run, name="vaultlink-index", daemon=True)
        self._thread.start()

    def join(self, quiet: bool = False) -> None:
        """Wait for ``fn``; raise its error (``quiet``: forget it)."""
        self._thread.join()
        err, self._error = self._error, None
        if err is not None and not quiet:
            raise err


class Unlocking:
    def __init__(self) -> None:
        self._opening: tuple[list[str], str | None, Future[Repository]] | None = None

    def start(self, accounts: Sequence[str], write: str | None, open_repo: Callable[[], Repository]) -> None:
        """Start opening (once: a second start while one is pending does nothing)."""
        if self._opening is not None:
            return
        fut: Future[Repository] = Future()

        def run() -> None:
            try:
                fut.set_result(open_repo())
            except BaseException as exc:  # handed to whoever takes the repository
                fut.set_exception(exc)

        threading.Thread(target=run, name="vaultlink-unlock", daemon=True).start()
        self._opening = (list(accounts), write, fut)

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
