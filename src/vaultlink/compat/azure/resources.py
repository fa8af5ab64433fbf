"""``Microsoft.Resources``: resource groups (azure-mgmt-resource's ``resource_groups``) over
``service/resource_groups.py``."""

from __future__ import annotations

from typing import Any

from vaultlink.compat.azure import lro
from vaultlink.compat.azure.arm import ArmCall, obj, rg_id, tags_of
from vaultlink.service import resource_groups as G


def group_view(call: ArmCall, rec: dict[str, Any]) -> dict[str, Any]:
    return {"id": rg_id(call.subscription, rec["name"]), "name": rec["name"],
            "type": "Microsoft.Resources/resourceGroups", "location": rec["location"], "tags": rec.get("tags") or {},
            "properties": {"provisioningState": "Succeeded"}}


def put_group(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    rec, created = G.put_group(call.svc, call.caller, call.params["rg"], doc.get("location"), tags_of(doc))
    call.status = 201 if created else 200
    return group_view(call, rec)


def patch_group(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    current = G.get_group(call.svc, call.caller, call.params["rg"])
    rec, _ = G.put_group(call.svc, call.caller, current["name"], current["location"], tags_of(doc))
    return group_view(call, rec)


def get_group(call: ArmCall) -> dict[str, Any]:
    return group_view(call, G.get_group(call.svc, call.caller, call.params["rg"]))


def head_group(call: ArmCall) -> None:
    G.get_group(call.svc, call.caller, call.params["rg"])
    call.status = 204


def list_groups(call: ArmCall) -> dict[str, Any]:
    return {"value": [group_view(call, r) for r in G.list_groups(call.svc, call.caller)]}


def delete_group(call: ArmCall) -> None:
    G.delete_group(call.svc, call.caller, call.params["rg"])
    lro.start(call, rg_id(call.subscription, call.params["rg"]), "done")
