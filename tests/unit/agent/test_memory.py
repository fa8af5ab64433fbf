"""The agent process shares one malloc arena among its threads (agent/memory.py): on glibc the call takes."""

from __future__ import annotations

import platform

import pytest

from vaultlink.agent.memory import one_malloc_arena


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's M_ARENA_MAX is glibc's")
def test_one_malloc_arena_takes_on_glibc() -> None:
    assert one_malloc_arena() is True
    assert one_malloc_arena() is True  # idempotent: every Agent calls it
