"""The vault's data-plane services (server side): registration, storage, jobs, recovery points.

Route modules: ``vaultlink.api.routes_data_backup`` (vault backup service),
``routes_data_blob`` (blob service), ``routes_data_queue`` (queue service). ``install(svc)``
adds the vault-deletion hook.
"""

from __future__ import annotations

from typing import Any

from vaultlink.service.core import Service


def install(svc: Service) -> None:
    svc.on("vault_deleting", _drop_vault_data)


def _drop_vault_data(txn: Any, vault: dict[str, Any]) -> None:
    """A deletable vault has no recovery points left: drop its containers, items, jobs and index rows."""
    for kind, parent in (("job", vault["id"]), ("container", vault["id"]), ("storage_account", vault["id"]),
                         ("registration_secret", vault["id"])):
        for rec in txn.find(kind, parent_id=parent):
            if kind == "container":
                for it in txn.find("protected_item", parent_id=rec["id"]):
                    txn.delete("protected_item", it["id"])
            txn.delete(kind, rec["id"])
