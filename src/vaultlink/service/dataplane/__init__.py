"""The vault's data-plane services (server side): registration, storage, jobs, recovery points.

Route modules: ``vaultlink.api.routes_data_backup`` (vault backup service),
``routes_data_blob`` (blob service), ``routes_data_queue`` (queue service). ``drop_vault_data`` is
the vault-deletion rule the composition root subscribes.
"""

from __future__ import annotations

from vaultlink.service.dataplane.queue import drop_items
from vaultlink.service.dataplane.storage import accounts_of
from vaultlink.service.events import VaultDeleting


def drop_vault_data(event: VaultDeleting) -> None:
    """``VaultDeleting``: a deletable vault has no recovery points left: drop its containers, items, jobs
    and registration secrets (the chunk index rows: ``Service.chunks.drop_vault``, wired beside it)."""
    txn, vault = event.txn, event.record
    for kind, parent in (("job", vault["id"]), ("container", vault["id"]), ("storage_account", vault["id"]),
                         ("registration_secret", vault["id"])):
        for rec in txn.find(kind, parent_id=parent):
            if kind == "container":
                drop_items(txn, accounts_of(vault), rec["id"])  # its queued work items go with it
                for it in txn.find("protected_item", parent_id=rec["id"]):
                    txn.delete("protected_item", it["id"])
            txn.delete(kind, rec["id"])
