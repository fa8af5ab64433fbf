"""A machine's key versions, and the retirement of old ones (``vaultlink agent passphrase --retire-old``).

Storage is write-once, so the key version an old passphrase opens (``keys/key``, ``keys/key.N``) cannot be
removed by its agent. The agent asks instead, once it has written a new version, that every other one be
retired: the service records them on the machine (``retired_keys``) and hides them from every reader from then
on (the blob listing, reads and sizes, restore grants of another machine, the paired region, copies), so the old
passphrase opens nothing through the service. The blobs stay stored: the vault's owner lists a machine's versions
and brings retired ones back (``vaultlink container keys VAULT MACHINE [--restore]``), because a copied machine
credential can ask for a retirement too (audited, like every request) and, with a version of its own as the
newest, leave the real passphrase opening nothing until the owner restores them.
"""

from __future__ import annotations

from typing import Any, cast

from vaultlink.data.key_names import key_version, newest_first
from vaultlink.domain.records import ContainerRecord
from vaultlink.errors import AccessDenied, Conflict, InvalidInput
from vaultlink.service.core import Caller, Service
from vaultlink.service.dataplane import storage
from vaultlink.service.dataplane.containers import vault_machine

MAX_VERSIONS = 10_000  # key versions listed of one machine (each passphrase change adds one)


def stored_versions(svc: Service, container: ContainerRecord, accounts: list[str]) -> list[str]:
    """The machine's key version names in its vault's storage accounts (retired or not), newest first."""
    names: set[str] = set()
    for account in accounts:
        base = f"vaults/{container['vault_id']}/{account}/{container['id']}/"
        for key in storage.blobs_of(svc).list(base + "keys/"):
            names.add(key[len(base):])
            if len(names) > MAX_VERSIONS:
                raise Conflict(f"machine {container['id']} has more than {MAX_VERSIONS} key versions.", field="keep")
    return newest_first(names)


def retire(svc: Service, caller: Caller, container: ContainerRecord, keep: Any) -> dict[str, Any]:
    """The machine's own agent retires every key version but ``keep``, its newest (the one it just wrote)."""
    if caller.kind != "container":
        raise AccessDenied("only a machine's own agent retires its key versions (`vaultlink agent passphrase "
                           "--retire-old`): it alone shows it holds the new passphrase by writing the new version.")
    if not isinstance(keep, str) or key_version(keep) < 1:
        raise InvalidInput("keep must be a key version's name (keys/key or keys/key.N).", field="keep")
    with svc.store.transaction() as txn:
        vault = txn.require("vault", container["vault_id"])
        accounts = storage.accounts_of(cast(Any, vault))
    stored = stored_versions(svc, container, accounts)
    retired = set(container.get("retired_keys") or ())
    if keep not in stored or keep in retired:
        raise Conflict(f"{keep} is not a stored key version of this machine; write it first (`vaultlink agent "
                       "passphrase`).", field="keep")
    if key_version(keep) != key_version(stored[0]):
        raise Conflict(f"{keep} is not this machine's newest key version ({stored[0]} is): nothing was retired; "
                       "change the passphrase again, then retire.", field="keep")
    with svc.store.transaction() as txn:
        rec = cast(dict[str, Any], txn.require("container", container["id"]))
        now_retired = sorted(set(rec.get("retired_keys") or ()) | (set(stored) - {keep}), key=key_version)
        rec["retired_keys"] = now_retired
        txn.update("container", container["id"], rec)
    return {"kept": keep, "retired": now_retired}


def list_versions(svc: Service, caller: Caller, vault_ref: str, ref: str) -> list[dict[str, Any]]:
    """``vaultlink container keys VAULT MACHINE``: each key version, newest first, and whether it is retired."""
    with svc.store.transaction() as txn:
        c, vault = vault_machine(txn, caller, vault_ref, ref, "backup.read")
    retired = set(c.get("retired_keys") or ())
    return [{"name": n, "version": key_version(n), "retired": n in retired}
            for n in stored_versions(svc, cast(ContainerRecord, c), storage.accounts_of(vault))]


def restore_versions(svc: Service, caller: Caller, vault_ref: str, ref: str) -> list[dict[str, Any]]:
    """``vaultlink container keys VAULT MACHINE --restore``: the retired versions readable again (their passphrases
    open the data again), for the vault's owner or a contributor."""
    with svc.store.transaction() as txn:
        c, _vault = vault_machine(txn, caller, vault_ref, ref, "vault.write")
        c["retired_keys"] = []
        txn.update("container", c["id"], c)
    return list_versions(svc, caller, vault_ref, ref)
