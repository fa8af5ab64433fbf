"""The agent process's memory: one malloc arena for all its threads, and large buffers mapped on their own.

glibc gives each thread that allocates concurrently an arena of its own (up to 8 per core); the backup's
and restore's worker threads each free and reallocate multi-MiB buffers (file segments, compressed
chunks, packs), and every arena keeps its own high-water mark, so the process's peak grows with the
number of threads rather than with the work. One arena measured the same speed and about 40 MiB less
peak memory on a 1 GiB first backup (bench/README-backup.md).

glibc also raises its threshold for mapping an allocation on its own to the largest one freed (up to 32
MiB), so after the first file segment (16-24 MiB) every pack (8-9 MiB) and segment came from the heap,
between small long-lived objects that keep it from shrinking: its high-water mark stayed resident. A fixed
threshold of 4 MiB maps segments and packs on their own (given back whole when freed); the heap keeps up
to 64 MiB free at its top (a fixed threshold would otherwise leave glibc's 128 KiB trim threshold, and
chunk-sized buffers would be unmapped and faulted in again all the time). Only glibc has ``mallopt``;
elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_ARENA_MAX = -8  # glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 << 20  # a file segment or a pack is mapped on its own; a chunk's buffers come from the heap
TRIM_THRESHOLD = 64 << 20


def tune_malloc() -> bool:
    """One malloc arena (threads made from now on share it), large buffers mapped on their own, the heap's
    top kept; False if not glibc."""
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
    return all([bool(mallopt(M_ARENA_MAX, 1)), bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)),
                bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))])
