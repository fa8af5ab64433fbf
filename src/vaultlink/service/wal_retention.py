"""Retention of a database's WAL archive: segments no recovery point can use are deleted (issue #19).

A PostgreSQL base backup registers, when it is committed, the first WAL segment it needs (``wal_from``:
the segment being written when the backup began; the backup's own start is at or after it). A
point-in-time restore starts from a base backup and replays forward, so a segment older than every
remaining point's ``wal_from`` can serve no restore: the maintenance pass deletes those, per protected
database (``postgres://NAME``) of each machine. Kept: everything while any point of the database lacks
``wal_from`` (made by an older agent, or from a standby, where PostgreSQL cannot name it), and everything
of a database with no point at all (its first base backup may be running); timeline history files.
The agent writes the archive (``wal/NAME/SEGMENT-cMILLIS``, sealed); the service never reads it.
"""

from __future__ import annotations

from typing import Any

from vaultlink.domain.records import find_containers, require_vault
from vaultlink.service.core import Service
from vaultlink.service.dataplane import storage

PREFIX = "postgres://"


def needed_from(points: list[dict[str, Any]]) -> dict[str, str]:
    """database name -> the oldest segment any of its points needs (databases that must keep all: absent)."""
    out: dict[str, str] = {}
    unknown: set[str] = set()
    for rp in points:
        paths = rp.get("paths") or []
        if len(paths) != 1 or not str(paths[0]).startswith(PREFIX):
            continue
        name = str(paths[0])[len(PREFIX):]
        wal_from = rp.get("wal_from")
        if not wal_from:
            unknown.add(name)
        elif name not in out or wal_from < out[name]:
            out[name] = str(wal_from)
    return {k: v for k, v in out.items() if k not in unknown}


def prune_wal(svc: Service, vault_id: str) -> int:
    """Delete the WAL segments no remaining point of their database can use; how many went."""
    with svc.store.transaction() as txn:
        vault = require_vault(txn, vault_id)
        containers = find_containers(txn, parent_id=vault_id)
        points = txn.find("recovery_point", parent_id=vault_id)
    blobs = storage.blobs_of(svc)
    deleted = 0
    for c in containers:
        keep_from = needed_from([p for p in points if p.get("container_id") == c["id"]])
        for account in storage.accounts_of(vault):
            for name, first in keep_from.items():
                base = storage.blob_key(vault_id, account, c["id"], f"wal/{name}") + "/"
                for key in list(blobs.list(base)):
                    segment = key[len(base):].rsplit("-c", 1)[0]
                    if segment.endswith(".history") or segment[:24] >= first:
                        continue
                    storage.delete_blob(svc, vault, key)
                    deleted += 1
    return deleted
