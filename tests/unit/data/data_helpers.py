"""Helpers shared by the backup engine tests (imported by module name)."""

from __future__ import annotations

import random

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import ChunkerParams, Repository

PASS = "correct horse battery staple"
SMALL = ChunkerParams(min_size=8 * 1024, avg_size=32 * 1024, max_size=128 * 1024)
REPO_KW: dict[str, object] = {"pack_size": 256 * 1024, "chunker_params": SMALL}


def make_repo(store: MemoryBlobStore | None = None) -> Repository:
    return Repository.init(store or MemoryBlobStore(), PASS, log_n=10, **REPO_KW)


def open_repo(store: object) -> Repository:
    return Repository.open(store, PASS, **REPO_KW)  # type: ignore[arg-type]


def rand_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)
