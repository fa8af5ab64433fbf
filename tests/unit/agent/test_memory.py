"""The agent process shares one malloc arena among its threads (agent/memory.py): on glibc the call takes."""

from __future__ import annotations

import ctypes.util
import platform
import subprocess
import sys

import pytest

from vaultlink.agent.memory import tune_malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's M_ARENA_MAX is glibc's")
def test_tune_malloc_takes_on_glibc() -> None:
    assert tune_malloc() is True
    assert tune_malloc() is True  # idempotent: every Agent calls it


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's M_ARENA_MAX is glibc's")
def test_no_child_process_to_find_the_c_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ctypes.util.find_library`` runs ``ldconfig -p`` in a child process: not at every agent start."""

    def refuse(name: str) -> str:
        raise AssertionError("find_library called")

    monkeypatch.setattr(ctypes.util, "find_library", refuse)
    assert tune_malloc() is True


_PROBE = """
import ctypes, sys
if sys.argv[1] == "tuned":
    from vaultlink.agent.memory import tune_malloc
    assert tune_malloc()
big = bytearray(20 << 20)  # freed: glibc's own threshold would rise to 20 MiB
del big
pack = bytearray(6 << 20)  # a pack's size
addr = ctypes.addressof(ctypes.c_char.from_buffer(pack))
for line in open("/proc/self/maps"):
    if line.rstrip().endswith("[heap]"):
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        print("heap" if lo <= addr < hi else "mapped")
        break
else:
    print("mapped")
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
@pytest.mark.parametrize(("mode", "where"), [("glibc's default", "heap"), ("tuned", "mapped")])
def test_a_pack_sized_buffer_is_mapped_on_its_own_once_tuned(mode: str, where: str) -> None:
    """After a larger buffer was freed, glibc's own threshold puts a pack-sized buffer on the heap (where it
    stays resident after it is freed); the agent's fixed threshold maps it on its own."""
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == where
