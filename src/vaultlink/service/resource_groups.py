"""Resource groups (Azure Resource Manager's ``Microsoft.Resources/resourceGroups``): a namespace inside an
account (an ARM subscription). Names are case-insensitive (as in Azure) and keep the case they were made
with. The group ``default`` always exists: it holds what the native API and the AWS API made. A group
that still holds a vault is not deleted (``Conflict``: delete its resources first).

Vault names stay unique per account (the native API's rule), so the same vault name in two groups of
one account is refused (a documented difference from Azure).
"""

from __future__ import annotations

import re
from typing import Any

from vaultlink.domain.identity import Scope
from vaultlink.domain.records import find_vaults
from vaultlink.errors import Conflict, InvalidInput, NotFound
from vaultlink.service.core import Caller, Service, authorize

DEFAULT = "default"
_NAME = re.compile(r"^[-\w._()]{1,90}$")
MAX_TAGS = 50


def check_group_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith("."):
        raise InvalidInput(f"resource group name {str(name)[:100]!r} is not valid: 1-90 letters, digits, '_', '-', "
                           "'.', '(' or ')', not ending in '.'.", field="resourceGroupName")
    return name


def _key(account_id: str, name: str) -> str:
    return f"{account_id}:{name.lower()}"


def _default(svc: Service, account_id: str) -> dict[str, Any]:
    region = next(iter(svc.catalog.regions), "")
    return {"id": _key(account_id, DEFAULT), "account_id": account_id, "parent_id": "", "name": DEFAULT,
            "location": region, "tags": {}, "created": 0.0}


def get_group(svc: Service, caller: Caller, name: str) -> dict[str, Any]:
    name = check_group_name(name)
    with svc.store.transaction() as txn:
        authorize(txn, caller, "account.read", Scope(caller.account_id))
        rec = txn.get("resource_group", _key(caller.account_id, name))
    if rec is None and name.lower() == DEFAULT:
        return _default(svc, caller.account_id)
    if rec is None:
        raise NotFound(f"resource group {name} does not exist in subscription {caller.account_id}.",
                       field="resourceGroupName", arm_code="ResourceGroupNotFound")
    return rec


def list_groups(svc: Service, caller: Caller) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "account.read", Scope(caller.account_id))
        recs = txn.find("resource_group", account_id=caller.account_id)
    if not any(r["name"].lower() == DEFAULT for r in recs):
        recs.insert(0, _default(svc, caller.account_id))
    return recs


def put_group(svc: Service, caller: Caller, name: str, location: Any,
              tags: Any = None) -> tuple[dict[str, Any], bool]:
    """Create or update a group: (record, created)."""
    name = check_group_name(name)
    if tags is not None and (not isinstance(tags, dict) or len(tags) > MAX_TAGS or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items())):
        raise InvalidInput(f"tags are at most {MAX_TAGS} string keys with string values.", field="tags")
    with svc.store.transaction() as txn:
        authorize(txn, caller, "vault.write", Scope(caller.account_id))
        key = _key(caller.account_id, name)
        rec = txn.get("resource_group", key)
        if rec is not None:
            if isinstance(location, str) and location.lower() != rec["location"]:
                raise InvalidInput(f"resource group {rec['name']} is in {rec['location']}; its location cannot "
                                   "change.", field="location", arm_code="InvalidResourceGroupLocation")
            if tags is not None:
                rec["tags"] = dict(tags)
            txn.update("resource_group", key, rec)
            return rec, False
        if not isinstance(location, str) or location.lower() not in svc.catalog.regions:
            raise InvalidInput(f"location {str(location)[:40]!r} is not one of this service's regions: "
                               f"{', '.join(svc.catalog.regions)}.", field="location", arm_code="LocationNotAvailable")
        rec = {"id": key, "account_id": caller.account_id, "parent_id": "", "name": name,
               "location": location.lower(), "tags": dict(tags or {}), "created": svc.clock.now()}
        txn.insert("resource_group", key, rec)
        return rec, True


def delete_group(svc: Service, caller: Caller, name: str) -> None:
    name = check_group_name(name)
    with svc.store.transaction() as txn:
        authorize(txn, caller, "vault.delete", Scope(caller.account_id))
        key = _key(caller.account_id, name)
        if txn.get("resource_group", key) is None:
            raise NotFound(f"resource group {name} does not exist.", field="resourceGroupName",
                           arm_code="ResourceGroupNotFound")
        held = [v["name"] for v in find_vaults(txn, account_id=caller.account_id)
                if (v.get("resource_group") or DEFAULT).lower() == name.lower()]
        if held:
            raise Conflict(f"resource group {name} still holds vault(s) {', '.join(held)}; delete them first.",
                           field="resourceGroupName")
        txn.delete("resource_group", key)


def group_of(vault: dict[str, Any]) -> str:
    return str(vault.get("resource_group") or DEFAULT)
