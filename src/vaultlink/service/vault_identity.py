"""The vault's system-assigned managed identity (the Azure seed's checklist, steps 2 and 3).

Every vault has a service identity: a principal of type ``service`` named ``vault-<vault id>`` in the
vault's account, with no API key (nobody can sign in as it). The service acts as that identity when
it grows a vault (a new storage account gives every private endpoint of the vault a blob and a
queue IP, and integrated DNS the records for them), so the identity needs rights:

- ``network.write`` on the vnet of each endpoint (``Network Contributor`` on the vnet), and
- ``dns.write`` on each private DNS zone instance the endpoint's records go into (``Network
  Contributor`` on the zone, or on the account).

Creating an endpoint grants them when its creator may assign roles there (the zones it will use, and
the storage zones already linked to its vnet, which its vault's growth will write to); a zone the service
creates grants them on that zone to the vaults of the endpoints it is made for and, for a storage zone, of
every integrated endpoint in the vnets it serves (the second vault in a vnet grows into the zone the first
one's growth made). A growth the identity is not allowed to make for an
endpoint is skipped for that endpoint and audited as a refusal (``VaultIdentityNotAuthorized``);
``vaultlink dns doctor`` shows the missing role with the command that grants it.
"""

from __future__ import annotations

from typing import Any

from vaultlink.domain.identity import Scope, new_id, principal_arn
from vaultlink.domain.records import DnsZoneRecord, EndpointRecord, VaultRecord, find_zones, read_principal
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, allowed

IDENTITY_ROLE = "Network Contributor"


def identity_name(vault_id: str) -> str:
    return f"vault-{vault_id}"


def create_identity(txn: Txn, svc: Service, vault: VaultRecord) -> dict[str, Any]:
    """Make the vault's identity principal (in ``txn``) and record it on ``vault`` (the caller saves it)."""
    part = svc.catalog.default_partition().name
    name = identity_name(vault["id"])
    rec = {
        "id": new_id("p-"),
        "account_id": vault["account_id"],
        "parent_id": "",
        "name": name,
        "type": "service",
        "arn": principal_arn(part, vault["account_id"], "service", name),
        "created": svc.clock.now(),
        "managed_by_vault": vault["id"],
    }
    txn.insert("principal", rec["id"], rec)
    vault["identity"] = {"type": "SystemAssigned", "principal_id": rec["id"], "principal": rec["arn"],
                         "name": name}
    return rec


def delete_identity(txn: Txn, vault: VaultRecord) -> None:
    ident = vault.get("identity") or {}
    pid = ident.get("principal_id")
    if not pid:
        return
    for ra in txn.find("role_assignment", parent_id=pid):
        txn.delete("role_assignment", ra["id"])
    if read_principal(txn, pid) is not None:
        txn.delete("principal", pid)


def identity_caller(vault: VaultRecord) -> Caller | None:
    ident = vault.get("identity") or {}
    if not ident.get("principal_id"):
        return None  # a vault made before identities existed: the service acts as before
    return Caller(ident["principal_id"], vault["account_id"], ident["principal"], "")


def grant(txn: Txn, svc: Service, caller: Caller | None, vault: VaultRecord, scope: Scope) -> bool:
    """Give the vault's identity ``IDENTITY_ROLE`` at ``scope`` when ``caller`` may assign roles there (None:
    the service itself, for a zone it made) and it has no such right yet; True when it holds it afterwards."""
    ident = identity_caller(vault)
    if ident is None:
        return True
    perm = "dns.write" if scope.kind == "dns_zone" else "network.write"
    if allowed(txn, ident, perm, scope):
        return True
    if caller is not None and not allowed(txn, caller, "role.write", scope):
        return False
    p = read_principal(txn, ident.principal_id)
    if p is None:
        return False
    rec = {
        "id": new_id("ra-"),
        "account_id": scope.account_id,
        "parent_id": p["id"],
        "name": f"{IDENTITY_ROLE}@{scope}",
        "principal": p["arn"],
        "principal_id": p["id"],
        "role": IDENTITY_ROLE,
        "scope": str(scope),
        "created": svc.clock.now(),
        "granted_by": caller.arn if caller is not None else "vaultlink:dns-integration",
    }
    if not txn.find("role_assignment", account_id=scope.account_id, parent_id=p["id"], name=rec["name"]):
        txn.insert("role_assignment", rec["id"], rec)
    return True


# the zones a vault's growth writes into: its new storage account's blob and queue names
STORAGE_ZONES = ("privatelink.blob.", "privatelink.queue.")


def growth_zones(txn: Txn, e: EndpointRecord, zones: list[DnsZoneRecord] | None = None) -> list[DnsZoneRecord]:
    """The zone instances a growth of ``e``'s vault writes records into: the storage zones that hold the
    endpoint's records or are linked to its vnet (a zone of other names linked there is none of its business).
    ``zones``: the endpoint's account's zones, when the caller has read them already."""
    return [z for z in zones_of_endpoint(txn, e, zones) if z["name"].startswith(STORAGE_ZONES)]


def zones_of_endpoint(txn: Txn, e: EndpointRecord, zones: list[DnsZoneRecord] | None = None) -> list[DnsZoneRecord]:
    """The zone instances that hold (or are linked for) the endpoint's records (among ``zones``, the account's
    zones read by the caller, or those read here)."""
    out = []
    for z in find_zones(txn, account_id=e["account_id"]) if zones is None else zones:
        if any(lk["vnet_id"] == e["vnet_id"] for lk in z["links"]) or any(
            r.get("managed_by") == e["id"] for r in z["records"]
        ):
            out.append(z)
    return out


def missing_rights(txn: Txn, vault: VaultRecord, e: EndpointRecord,
                   zones: list[DnsZoneRecord] | None = None) -> list[dict[str, str]]:
    """What the vault's identity lacks to grow endpoint ``e``: ``[{permission, scope, fix}]`` (``zones``: the
    endpoint's account's zones, when the caller has read them already)."""
    ident = identity_caller(vault)
    if ident is None:
        return []
    wanted = [("network.write", Scope(e["account_id"], "vnet", e["vnet_id"]))]
    if e.get("kind") == "resource" and e.get("dns_integration"):
        wanted += [("dns.write", Scope(z["account_id"], "dns_zone", z["id"])) for z in growth_zones(txn, e, zones)]
    out = []
    for perm, scope in wanted:
        if not allowed(txn, ident, perm, scope):
            out.append({
                "permission": perm,
                "scope": str(scope),
                "principal": ident.arn.rsplit('/', 1)[-1],
                "fix": f"vaultlink role assign {ident.arn.rsplit('/', 1)[-1]} '{IDENTITY_ROLE}' --scope {scope}",
            })
    return out
