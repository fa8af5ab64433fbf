"""Prune in a process of its own (``prune_worker = true``, the default with SQL and file stores).

A prune lists every pack of a vault and every pack its points reference: sets that grow with the vault.
Run in the service, that memory would stay with the long-running process (CPython keeps what it grew),
and the whole service (the web stack, the fabric, the caches) would count in what a prune costs. So the
maintenance pass hands the prune of each vault to ``python -m vaultlink.prune_process``: a fresh
interpreter that opens the same metadata store, chunk index and blob store (``adapters/open.py``), runs
``service.prune.prune_vault`` and exits. It imports nothing of the web stack or the CLI.

The request goes in on stdin as JSON (the configuration, the vault, the service's clock and the grace),
the result comes back on stdout as one JSON object with the worker's own peak memory (``VmHWM``: the
kernel's high-water mark of this process alone). Errors come back by their stable code. One worker runs
at a time per service (a lock), and one that runs longer than :data:`TIMEOUT` is killed: the prune is
crash-safe (its lease resumes the sweep at the next pass), so a killed worker loses nothing. The worker
dies with the service (``PR_SET_PDEATHSIG``), even a ``kill -9`` of it: two sweeps never overlap, and
the service's stop ends a running worker instead of waiting for it.

Only the prune moves: expiry and purge fire change events that the service's caches follow, so they stay
in the service.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from typing import Any

from vaultlink.config import Config
from vaultlink.errors import ServiceUnavailable, from_dict

TIMEOUT = 6 * 3600.0  # seconds a prune of one vault may take before the worker is killed
MAX_OUTPUT = 1 << 20  # bytes of a worker's answer the service reads


def _config_json(config: Config) -> dict[str, Any]:
    out = dataclasses.asdict(config)
    out["data_dir"] = str(config.data_dir)
    return out


class PruneWorker:
    """The service side: ``runner(svc, vault_id, now, grace)`` runs one vault's prune in a worker."""

    def __init__(self, config: Config, timeout: float = TIMEOUT) -> None:
        self.config = config
        self.timeout = timeout
        self._lock = threading.Lock()
        self._current: subprocess.Popen[bytes] | None = None
        self._stopped = False

    def __call__(self, _svc: Any, vault_id: str, now: float, grace: float) -> dict[str, int]:
        request = json.dumps({"config": _config_json(self.config), "vault_id": vault_id, "now": now,
                              "grace": grace, "parent": os.getpid()})
        with self._lock:
            if self._stopped:
                raise ServiceUnavailable("the service is stopping; the prune runs at the next start.")
            proc = self._current = subprocess.Popen(
                [sys.executable, "-m", "vaultlink.prune_process"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
            try:
                out, err = proc.communicate(request.encode(), timeout=self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise ServiceUnavailable(
                    f"the prune of vault {vault_id} took over {self.timeout:.0f} s and was stopped; it resumes "
                    "where it stopped at the next maintenance pass.") from None
            finally:
                self._current = None
        try:
            answer = json.loads(out[:MAX_OUTPUT])
        except ValueError:
            tail = err[-2000:].decode(errors="replace").strip()
            raise ServiceUnavailable(
                f"the prune worker failed (exit {proc.returncode}): {tail or 'no output'}; the next "
                "maintenance pass retries it.") from None
        if "error" in answer:
            raise from_dict(answer["error"])
        result: dict[str, int] = {k: int(v) for k, v in answer["result"].items()}
        result["worker_peak_rss_kib"] = int(answer.get("peak_rss_kib", 0))  # `vault prune` reports it
        return result

    def stop(self) -> None:
        """At shutdown: end a worker that runs (its sweep resumes at the next start) and start no other."""
        self._stopped = True
        proc = self._current
        if proc is not None and proc.poll() is None:
            proc.kill()
