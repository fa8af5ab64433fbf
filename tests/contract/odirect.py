"""A file system that refuses ``O_DIRECT``, two ways, for the local store's tests: the flag itself, or the
writes once the flag is set."""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from vaultlink.adapters import blob_local


def direct_on(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & blob_local.O_DIRECT)


@contextmanager
def refusing(monkeypatch: pytest.MonkeyPatch, how: str) -> Iterator[None]:
    """``how``: ``flag`` (``F_SETFL`` with O_DIRECT fails) or ``write`` (a write with O_DIRECT set fails)."""
    real_fcntl, real_write = fcntl.fcntl, os.write

    def refuse_flag(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == fcntl.F_SETFL and arg & blob_local.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return int(real_fcntl(fd, cmd, arg))

    def refuse_write(fd: int, b: Any) -> int:
        if direct_on(fd):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, b)

    with monkeypatch.context() as m:
        if how == "flag":
            m.setattr(fcntl, "fcntl", refuse_flag)
        else:
            m.setattr(os, "write", refuse_write)
        yield
