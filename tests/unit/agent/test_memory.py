"""The agent process shares one malloc arena among its threads (agent/memory.py): on glibc the call takes."""

from __future__ import annotations

import ctypes.util
import platform

import pytest

from vaultlink.agent.memory import one_malloc_arena


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's M_ARENA_MAX is glibc's")
def test_one_malloc_arena_takes_on_glibc() -> None:
    assert one_malloc_arena() is True
    assert one_malloc_arena() is True  # idempotent: every Agent calls it


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's M_ARENA_MAX is glibc's")
def test_no_child_process_to_find_the_c_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ctypes.util.find_library`` runs ``ldconfig -p`` in a child process: not at every agent start."""

    def refuse(name: str) -> str:
        raise AssertionError("find_library called")

    monkeypatch.setattr(ctypes.util, "find_library", refuse)
    assert one_malloc_arena() is True
