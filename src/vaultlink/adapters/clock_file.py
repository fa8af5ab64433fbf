"""A clock that runs ahead of the system's by the number of seconds written in a file (tests only).

The end-to-end tests of soft delete, vault locks and lifecycles need days to pass in a real server
process; they write ``86400`` into the file and the service's clock is a day ahead. A missing or
unreadable file counts as 0. The operator who can set this could set the machine's clock as well."""

from __future__ import annotations

import os
import time


class FileOffsetClock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._offset = 0.0

    def offset(self) -> float:
        try:
            st = os.stat(self.path)
        except OSError:
            return 0.0
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                with open(self.path, encoding="utf-8") as fh:
                    self._offset = float(fh.read().strip() or 0)
            except (OSError, ValueError):
                self._offset = 0.0
            self._stamp = stamp
        return self._offset

    def now(self) -> float:
        return time.time() + self.offset()
