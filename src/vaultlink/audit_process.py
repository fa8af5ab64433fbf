"""The composition root of the audit writer process (``python -m vaultlink.audit_process PARENT_PID``).

``runtime/audit_worker.py`` starts it and talks to it through its stdin and stdout in frames (a 4-byte
length, then ``marshal``): first ``{"url": METADATA_URL}``, then requests ``("append", events)`` and
``("trim", before_time, max_events)``, each answered ``("ok", result)`` or ``("error", error_dict)`` with
the error's stable code (``ServiceUnavailable`` while the store is away: the service holds the batch and
sends it again). It opens the metadata store the service migrated and imports nothing of the web stack.
It exits when its input ends (the service closed it or died).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from vaultlink.adapters.open import open_store
from vaultlink.errors import VaultlinkError
from vaultlink.runtime.audit_worker import pack, read_frame
from vaultlink.runtime.child import die_with

log = logging.getLogger("vaultlink.audit")


def answer(store: Any, request: Any) -> tuple[str, Any]:
    op = request[0]
    try:
        if op == "append":
            store.append_audit(request[1])
            return ("ok", len(request[1]))
        if op == "trim":
            return ("ok", int(store.trim_audit(float(request[1]), int(request[2]))))
        return ("error", {"code": "InvalidInput", "message": f"unknown audit request {op!r}"})
    except VaultlinkError as exc:
        return ("error", exc.to_dict())
    except Exception as exc:  # one bad batch: the service writes it event by event and reports the bad one
        return ("error", {"code": "InternalError", "message": f"{type(exc).__name__}: {exc}"})


def main() -> int:
    die_with(int(sys.argv[1]))
    fin, fout = sys.stdin.buffer.fileno(), sys.stdout.buffer
    try:
        store = open_store(str(read_frame(fin)["url"]))
    except EOFError:
        return 0
    try:
        while True:
            try:
                request = read_frame(fin)
            except EOFError:
                return 0
            fout.write(pack(answer(store, request)))
            fout.flush()
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
