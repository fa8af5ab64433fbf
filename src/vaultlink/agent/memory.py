"""The agent process's memory: one malloc arena for all its threads.

glibc gives each thread that allocates concurrently an arena of its own (up to 8 per core); the backup's
and restore's worker threads each free and reallocate multi-MiB buffers (file segments, compressed
chunks, packs), and every arena keeps its own high-water mark, so the process's peak grows with the
number of threads rather than with the work. One arena measured the same speed and about 40 MiB less
peak memory on a 1 GiB first backup (bench/README-backup.md). Only glibc has ``mallopt``'s
``M_ARENA_MAX``; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_ARENA_MAX = -8  # glibc's malloc.h


def one_malloc_arena() -> bool:
    """Limit the process to one malloc arena (threads made from now on share it); False if not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:  # glibc's soname first: find_library runs ``ldconfig -p`` in a child process at every agent start
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        except OSError:
            return False
    try:
        mallopt = libc.mallopt
    except AttributeError:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, 1))
