"""A repository unlocked ahead of time: its key's KDF (scrypt, about 0.1 s), the key file and the chunk index
fetched in a thread of its own while the agent does what comes before a backup's or a restore's data (the
job's start, a database's checkpoint). Taken only for the storage accounts it was opened for."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from vaultlink.data import Repository


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
