"""The composition root of the prune worker process (``python -m vaultlink.prune_process``).

``runtime/prune_worker.py`` starts it for one vault's prune: it reads the request (the configuration, the
vault, the service's clock and the grace) as JSON on stdin, opens the configured stores, runs
``service.prune.prune_vault``, and writes one JSON object on stdout: the result or the error by its stable
code, and its own peak memory (``VmHWM``: this process alone, reset at exec). It imports nothing of the
web stack or the CLI, so a prune costs what it needs and no more.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from vaultlink.adapters.open import open_blobs, open_chunk_index, open_store
from vaultlink.config import Config
from vaultlink.domain.regions import Catalog
from vaultlink.errors import VaultlinkError
from vaultlink.ports import BlobStore
from vaultlink.runtime.child import die_with
from vaultlink.runtime.prune_worker import MAX_OUTPUT
from vaultlink.service.audit import AuditSink
from vaultlink.service.core import Service
from vaultlink.service.prune import prune_vault

PAUSE = "VAULTLINK_TEST_PRUNE_PAUSE"


def _config_from(values: dict[str, Any]) -> Config:
    values = dict(values)
    values["data_dir"] = Path(values["data_dir"])
    return Config(**values)


class _PauseAfterFirstDelete:
    """Tests only (``VAULTLINK_TEST_PRUNE_PAUSE=FILE``): after the sweep's first blob deletion, write this
    process's id to FILE and stop for a minute, so a test can kill the service in the middle of a sweep."""

    def __init__(self, blobs: BlobStore, marker: Path) -> None:
        self._blobs = blobs
        self._marker = marker
        self._paused = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._blobs, name)

    def delete(self, key: str) -> None:
        self._blobs.delete(key)
        if not self._paused:
            self._paused = True
            self._marker.write_text(str(os.getpid()))
            time.sleep(60)


def _peak_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run(request: dict[str, Any]) -> dict[str, Any]:
    """The worker side: open the configured stores, prune one vault, close them."""
    die_with(int(request["parent"]))
    config = _config_from(request["config"])
    store = open_store(config.effective_metadata_url)
    blobs: Any = open_blobs(config.effective_blob_url)
    if os.environ.get(PAUSE):
        blobs = _PauseAfterFirstDelete(blobs, Path(os.environ[PAUSE]))
    try:
        svc = Service(config=config, store=store, catalog=Catalog(name="", regions={}), audit=AuditSink(store),
                      chunks=open_chunk_index(store), blobs=blobs,
                      replica=open_blobs(config.effective_replica_blob_url))
        return prune_vault(svc, str(request["vault_id"]), float(request["now"]), float(request["grace"]))
    finally:
        store.close()


def main() -> int:
    try:
        request = json.loads(sys.stdin.buffer.read(MAX_OUTPUT))
        answer: dict[str, Any] = {"result": run(request)}
    except VaultlinkError as exc:
        answer = {"error": exc.to_dict()}
    answer["peak_rss_kib"] = _peak_kib()
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
