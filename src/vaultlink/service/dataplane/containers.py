"""Container registration and the per-request container check.

Registration records the endpoint it arrived through (``endpoint_ids``); when the endpoints code
removes such an endpoint it sets ``reregistration_required`` and every data-plane call of that
container fails with ``ContainerReregistrationRequired`` until ``agent register`` runs again, which
keeps the container id, its protected items and recovery points, and rotates its credential.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, cast

from vaultlink import __version__
from vaultlink.dns import names as N
from vaultlink.domain import rotation as R
from vaultlink.domain.agents import check_agent
from vaultlink.domain.records import ContainerRecord, VaultRecord, find_containers, read_container, require_vault
from vaultlink.domain.vaults import mark_history
from vaultlink.errors import (
    AccessDenied,
    ContainerReregistrationRequired,
    ContainerSoftDeleted,
    InvalidInput,
    NotFound,
    RegistrationScopeDenied,
    SecondaryReadOnly,
)
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dataplane import storage
from vaultlink.service.dataplane.context import DataContext
from vaultlink.service.dataplane.credentials import (
    CONTAINER_PREFIX,
    credential_match,
    new_secret,
    split_token,
)
from vaultlink.service.events import ContainersChanged, EndpointsChanged, KeysChanged
from vaultlink.service.replication import check_offered_vault
from vaultlink.service.vaults import find_vault, vault_scope

_HOST_MAX = 255
_PLACED = ("hostname", "vnet_id", "source_ip", "status")  # what a machine's DNS registration record follows


def public_container(rec: ContainerRecord) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in ("secret_hash", "next_hash", "retired_hash", "parent_id")}


def vault_names(svc: Service, vault: VaultRecord, secondary: bool = False) -> dict[str, Any]:
    """The names an agent uses for ``vault`` (public forms; each CNAMEs to its privatelink form); with
    ``secondary``, those of its copy in the paired region (cross-region restore)."""
    d = svc.config.domain
    accts = storage.accounts_of(vault)
    geo, suffix = vault["geo"], ""
    sec = svc.catalog.regions.get(vault.get("secondary_region") or "") if secondary else None
    if sec is not None:
        geo, suffix = sec.geo, N.SECONDARY_SUFFIX
    return {
        "domain": d,
        "region": sec.name if sec is not None else vault["region"],
        "geo": geo,
        "storage_suffix": suffix,
        "backup_service": N.vault_public_name(vault["id"], geo, d),
        "backup_service_privatelink": N.vault_privatelink_name(vault["id"], geo, d),
        "storage_accounts": accts,
        "write_account": storage.write_account(vault),
        "blob": {a: N.blob_public_name(a + suffix, d) for a in accts},
        "queue": {a: N.queue_public_name(a + suffix, d) for a in accts},
    }


def _mark_attempt(svc: Service, vault_id: str) -> None:
    with svc.store.transaction() as txn:
        vault = require_vault(txn, vault_id)
        if mark_history(vault):
            txn.update("vault", vault_id, vault)


def register(
    svc: Service,
    ctx: DataContext,
    hostname: str,
    container_id: str | None = None,
    container_token: str | None = None,
    agent: tuple[object, object] = ("mars", None),
) -> dict[str, Any]:
    """Register (or re-register) a container with ``ctx.vault_id``; returns its new credential. ``agent``:
    the (kind, version) the agent reports, checked against the catalog (``domain/agents.py``) for the way
    it came (a private endpoint or the public one)."""
    if not isinstance(hostname, str) or not hostname or len(hostname) > _HOST_MAX:
        raise InvalidInput("hostname must be 1-255 characters.", field="hostname")
    kind, version = check_agent(agent[0], __version__ if agent[1] is None else agent[1],
                                private=ctx.endpoint_id is not None)
    vault_id = ctx.vault_id
    if vault_id is None:
        raise InvalidInput("register through the vault's backup-service name.", field="host")
    _mark_attempt(svc, vault_id)  # the first attempt counts as protection history, even if it fails
    grew = False
    secret, digest = new_secret()
    with svc.store.transaction() as txn:
        vault = require_vault(txn, vault_id)
        if not storage.accounts_of(vault):
            storage.add_account(txn, svc, vault)
            grew = True
        rec: ContainerRecord | None = None
        wanted = container_id or ctx.container_id
        if wanted:
            rec = read_container(txn, wanted)
            if rec is None or rec.get("vault_id") != vault_id:
                raise NotFound(
                    f"container {wanted} is not registered with this vault; remove the agent's state "
                    "directory to register as a new machine.",
                    field="container_id",
                )
            proof = ctx.container_id == rec["id"]
            if not proof and container_token:
                parts = split_token(container_token, CONTAINER_PREFIX)
                which = credential_match(rec, parts[1]) if parts is not None and parts[0] == rec["id"] else None
                # a vault credentials file with the credential a rotation replaced takes the machine back from
                # whoever rotated it with a copy (the machine's own agent holds that one)
                proof = which in ("secret_hash", R.NEXT) or (which == R.RETIRED and ctx.caller.kind == "registration")
            if not proof:
                raise AccessDenied(
                    f"re-registering container {rec['id']} needs its previous container credential "
                    "(kept in the agent's state directory).",
                    field="container_token",
                )
        now = svc.clock.now()
        scope = rec.get("scope", "backup-restore") if rec is not None else "backup-restore"
        if ctx.caller.kind == "registration":  # the vault credentials file says what the machine may do
            issued = txn.get("registration_secret", ctx.caller.credential_id) or {}
            scope = issued.get("scope", "backup-restore")
        if ctx.secondary:  # the paired region holds data only for a vault that replicates
            check_offered_vault(vault)
        if ctx.secondary and scope != "restore":
            raise SecondaryReadOnly(
                "a machine registers through the vault's paired region to restore only: use a restore-only "
                f"credentials file (`vaultlink vault credentials {vault['name']} --secondary`).")
        if rec is None:
            rec = {
                "id": "c" + secrets.token_hex(6),
                "account_id": vault["account_id"],
                "parent_id": vault_id,
                "name": None,
                "vault_id": vault_id,
                "created": now,
                "registrations": 0,
            }
            new = True
        else:
            new = False
        placed, flagged = {k: rec.get(k) for k in _PLACED}, bool(rec.get("reregistration_required"))
        rec.update(
            {
                "hostname": hostname,
                "agent_kind": kind,
                "agent_version": version,
                "status": "Registered",
                "endpoint_ids": [ctx.endpoint_id] if ctx.endpoint_id else [],
                "vnet_id": ctx.vnet_id,
                "source_ip": ctx.source_ip,
                "reregistration_required": False,
                # a machine registered again keeps its credential until the new one is first used (the agent may
                # die before it saved it): credentials.authenticate_container makes the new one current then
                **({"secret_hash": digest} if new else {"next_hash": digest}),
                "owner_id": ctx.caller.principal_id,
                "owner": ctx.caller.arn,
                "registered": now,
                "registrations": int(rec.get("registrations", 0)) + 1,
                "scope": scope,
                "secondary": ctx.secondary,
            }
        )
        if new:
            txn.insert("container", rec["id"], rec)
        else:
            txn.update("container", rec["id"], rec)
        if mark_history(vault, container_registered=True):
            txn.update("vault", vault_id, vault)
        out = {
            "container": public_container(rec),
            "credential": f"{CONTAINER_PREFIX}_{rec['id']}_{secret}",
            "vault": {
                "id": vault["id"],
                "name": vault["name"],
                "arn": vault["arn"],
                "region": vault["region"],
                "geo": vault["geo"],
            },
            "names": vault_names(svc, vault, secondary=ctx.secondary),
            "new": new,
        }
    if grew:
        svc.fire(EndpointsChanged())
    # the machines' DNS records follow a machine that moved, the credential caches a flag cleared; a rotation alone
    # changes neither (the old credential stays current until the new one's first use, which announces it): a daily
    # rotation of every machine rebuilt the records from every machine, and emptied every server's caches twice
    if new or placed != {k: rec.get(k) for k in _PLACED}:
        svc.fire(ContainersChanged())
    elif flagged:
        svc.fire(KeysChanged())
    return out


def machine_of(txn: Any, vault_id: str, ref: str) -> ContainerRecord | None:
    """A machine of the vault by container id or hostname."""
    return next((c for c in find_containers(txn, parent_id=vault_id) if ref in (c["id"], c.get("hostname"))), None)


def vault_machine(txn: Any, caller: Caller, vault_ref: str, ref: str,
                  permission: str) -> tuple[dict[str, Any], VaultRecord]:
    """Machine ``ref`` (hostname or id) of vault ``vault_ref`` and the vault, once ``caller`` has ``permission`` on
    it (the management API's view of a machine)."""
    vault = find_vault(txn, vault_ref, caller.account_id)
    authorize(txn, caller, permission, vault_scope(vault))
    c = machine_of(txn, vault["id"], ref)
    if c is None:
        raise NotFound(f"machine {ref!r} is not registered with vault {vault['name']}.", field="container")
    return cast(dict[str, Any], c), vault


def calling_container(svc: Service, ctx: DataContext, header: str | None) -> ContainerRecord:
    """The container a data-plane request acts for, checked: same vault, registration current.

    An agent's container credential acts for its own container only (a different
    ``X-Vaultlink-Container`` is refused); an API-key caller (an operator with a role on the vault)
    names the container in that header; a registration secret acts on no container's data.
    """
    caller = ctx.caller
    if caller.kind == "registration":
        raise AccessDenied(
            f"a vault registration secret may only register a container, not {ctx.action}; use the container "
            "credential that `vaultlink agent register` saved."
        )
    if caller.kind == "container":
        if header is not None and header != caller.container_id:
            raise AccessDenied("a container credential acts only on its own container's data.", field="container")
        cid = caller.container_id
    else:
        cid = header
    if not cid:
        raise InvalidInput(
            "name the container: send X-Vaultlink-Container (API keys) or use the agent's container credential.",
            field="container",
        )
    with svc.store.transaction() as txn:
        rec = read_container(txn, cid)
    if rec is None or rec.get("vault_id") != ctx.vault_id:
        raise NotFound(f"container {cid} is not registered with this vault.", field="container")
    if rec.get("reregistration_required"):
        raise ContainerReregistrationRequired()
    if rec.get("status") == "SoftDeleted":
        raise ContainerSoftDeleted(f"machine {rec.get('hostname')} was unregistered and its data soft-deleted; "
                                   "the vault's owner can undelete it (`vaultlink container undelete`).")
    if caller.kind == "container":
        check_scope_allows(rec, ctx.action)
    return rec


_WRITES = ("backup:PutBackupData", "backup:StartBackupJob", "backup:RetireKeyVersions")
_READS = ("backup:StartRestoreJob",)
METADATA = ("keys/", "snapshots/", "index/")  # what a backup-only machine reads back: never file contents


def check_scope_allows(container: ContainerRecord, action: str) -> None:
    """A backup-only machine never restores; a restore-only machine never writes."""
    scope = container.get("scope", "backup-restore")
    if (scope == "restore" and action in _WRITES) or (scope == "backup" and action in _READS):
        raise RegistrationScopeDenied(
            f"this machine is registered for {scope} only, which does not allow {action}; register it with a "
            f"vault credentials file of another scope (`vaultlink vault credentials VAULT --scope …`).",
            scope=scope, action=action)


def key_visible(container: Mapping[str, object], name: str) -> bool:
    """False for a key version its agent retired (``key_versions.py``): no credential reads it any more."""
    retired = container.get("retired_keys")
    return not isinstance(retired, list) or name not in retired


def check_key_visible(container: ContainerRecord, name: str, account: str) -> None:
    if not key_visible(container, name):
        raise NotFound(f"blob {name!r} does not exist in storage account {account}.", field="name")


def check_blob_read(container: ContainerRecord, name: str) -> None:
    """A backup-only machine reads keys, manifests and index files (what a backup needs), never packs."""
    if container.get("scope") == "backup" and not name.startswith(METADATA):
        raise RegistrationScopeDenied(
            f"this machine is registered for backup only: it cannot read {name!r} back. Restore from a machine "
            "registered for restore.", scope="backup", action="backup:GetBackupData")


def describe(svc: Service, ctx: DataContext, container: ContainerRecord) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        vault = require_vault(txn, container["vault_id"])
    out = public_container(container)
    out["names"] = vault_names(svc, vault)
    return out
