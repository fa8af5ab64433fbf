"""``Microsoft.RecoveryServices/vaults`` (azure-mgmt-recoveryservices' ``vaults``) over ``service/vaults.py``:
create or update, get, list (by group, by subscription), update, delete; ``publicNetworkAccess``, the
vault's private-endpoint state for backup and its connections, its system-assigned identity."""

from __future__ import annotations

from typing import Any

from vaultlink import errors as E
from vaultlink.compat.azure import lro
from vaultlink.compat.azure.arm import ArmCall, obj, provider_id, str_field, tags_of
from vaultlink.dns import names
from vaultlink.domain import endpoint_names as epnames
from vaultlink.service import connections, vaults
from vaultlink.service import resource_groups as G

PROVIDER = "Microsoft.RecoveryServices"
_TOGGLES = {"Enabled", "Disabled"}


def vault_id(sub: str, v: dict[str, Any]) -> str:
    return provider_id(sub, G.group_of(v), PROVIDER, "vaults", v["name"])


def connection_view(sub: str, v: dict[str, Any], c: dict[str, Any]) -> dict[str, Any]:
    """A vault's private endpoint connection as ARM shows it (``PrivateEndpointConnectionVaultProperties``)."""
    name = f"{c['endpoint_name']}.{c['endpoint_id']}"
    pe = provider_id(c.get("endpoint_account") or sub, "default", "Microsoft.Network", "privateEndpoints",
                     c["endpoint_name"])
    return {"id": f"{vault_id(sub, v)}/privateEndpointConnections/{name}", "name": name,
            "type": f"{PROVIDER}/vaults/privateEndpointConnections", "location": v["region"],
            "properties": {"provisioningState": "Succeeded", "privateEndpoint": {"id": pe},
                           "groupIds": [c["group_id"]],
                           "privateLinkServiceConnectionState": {
                               "status": c["status"], "description": c.get("description") or "",
                               "actionsRequired": c.get("actions_required") or "None"}}}


def vault_view(call: ArmCall, v: dict[str, Any]) -> dict[str, Any]:
    conns = [c for c in connections.list_connections(call.svc, call.caller, v["id"])
             if c["group_id"] in ("AzureBackup", "AzureBackup_secondary")]
    ident = v.get("identity") or {}
    return {
        "id": vault_id(call.subscription, v), "name": v["name"], "type": f"{PROVIDER}/vaults",
        "location": v["region"], "tags": v.get("tags") or {}, "etag": f'W/"{int(v.get("created") or 0)}"',
        "sku": {"name": "Standard"},
        "identity": {"type": "SystemAssigned", "principalId": ident.get("principal_id"),
                     "tenantId": v["account_id"]},
        "properties": {
            "provisioningState": "Succeeded",
            "publicNetworkAccess": v["public_network_access"],
            "privateEndpointStateForBackup": "Enabled" if conns else "None",
            "privateEndpointStateForSiteRecovery": "None",
            "privateEndpointConnections": [connection_view(call.subscription, v, c) for c in conns],
            "redundancySettings": {"crossRegionRestore": v.get("cross_region_restore", "Disabled")},
        },
    }


def _props(doc: dict[str, Any]) -> dict[str, Any]:
    props = obj(doc.get("properties"), "properties")
    pna = props.get("publicNetworkAccess")
    if pna is not None and pna not in _TOGGLES:
        raise E.InvalidInput("properties.publicNetworkAccess is Enabled or Disabled.",
                             field="properties.publicNetworkAccess")
    sku = obj(doc.get("sku"), "sku")
    if sku and sku.get("name") not in ("Standard", "RS0"):
        raise E.InvalidInput("sku.name is Standard (or RS0).", field="sku.name")
    crr = obj(props.get("redundancySettings"), "properties.redundancySettings").get("crossRegionRestore")
    if crr is not None and crr not in _TOGGLES:
        raise E.InvalidInput("redundancySettings.crossRegionRestore is Enabled or Disabled.",
                             field="properties.redundancySettings.crossRegionRestore")
    ident = obj(doc.get("identity"), "identity")
    if ident and ident.get("type") not in ("SystemAssigned", "None", None):
        raise E.InvalidInput("identity.type is SystemAssigned (user-assigned identities are not supported).",
                             field="identity.type")
    return props


def _changes(doc: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """The native vault update a PUT or PATCH body asks for."""
    changes: dict[str, Any] = {}
    if "publicNetworkAccess" in props:
        changes["public_network_access"] = props["publicNetworkAccess"]
    crr = (props.get("redundancySettings") or {}).get("crossRegionRestore")
    if crr is not None:
        changes["cross_region_restore"] = crr
    tags = tags_of(doc)
    if tags is not None:
        changes["tags"] = tags
    return changes


def _in_group(call: ArmCall, v: dict[str, Any]) -> dict[str, Any]:
    if G.group_of(v).lower() != call.params["rg"].lower():
        raise E.NotFound(f"vault {call.params['name']} is not in resource group {call.params['rg']}.",
                         arm_code="ResourceNotFound")
    return v


def put_vault(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    location = str_field(doc, "location", required=True)
    props = _props(doc)
    group = G.get_group(call.svc, call.caller, call.params["rg"])
    name = call.params["name"]
    try:
        current = vaults.get_vault(call.svc, call.caller, name)
    except E.NotFound:
        current = None
    if current is not None:
        _in_group(call, current)
        if str(location).lower().replace(" ", "") != current["region"]:
            raise E.InvalidInput(f"vault {name} is in {current['region']}; its location cannot change.",
                                 field="location", arm_code="LocationMismatch")
        changes = _changes(doc, props)
        v = vaults.update_vault(call.svc, call.caller, name, changes) if changes else current
        return vault_view(call, v)
    region = str(location).lower().replace(" ", "")
    if region not in call.svc.catalog.regions:
        raise E.InvalidInput(f"location {location!r} is not one of this service's regions: "
                             f"{', '.join(call.svc.catalog.regions)}.", field="location",
                             arm_code="LocationNotAvailableForResourceType")
    crr = (props.get("redundancySettings") or {}).get("crossRegionRestore", "Disabled")
    v = vaults.create_vault(call.svc, call.caller, name, region, props.get("publicNetworkAccess", "Enabled"), crr,
                            tags=tags_of(doc), resource_group=group["name"])
    call.status = 201
    return vault_view(call, v)


def patch_vault(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    props = _props(doc)
    v = _in_group(call, vaults.get_vault(call.svc, call.caller, call.params["name"]))
    changes = _changes(doc, props)
    if changes:
        v = vaults.update_vault(call.svc, call.caller, v["id"], changes)
    return vault_view(call, v)


def get_vault(call: ArmCall) -> dict[str, Any]:
    G.get_group(call.svc, call.caller, call.params["rg"])
    return vault_view(call, _in_group(call, vaults.get_vault(call.svc, call.caller, call.params["name"])))


def list_by_group(call: ArmCall) -> dict[str, Any]:
    group = G.get_group(call.svc, call.caller, call.params["rg"])["name"].lower()
    return {"value": [vault_view(call, v) for v in vaults.list_vaults(call.svc, call.caller)
                      if G.group_of(v).lower() == group]}


def list_by_subscription(call: ArmCall) -> dict[str, Any]:
    return {"value": [vault_view(call, v) for v in vaults.list_vaults(call.svc, call.caller)]}


def delete_vault(call: ArmCall) -> None:
    v = _in_group(call, vaults.get_vault(call.svc, call.caller, call.params["name"]))
    vaults.delete_vault(call.svc, call.caller, v["id"])
    lro.start(call, vault_id(call.subscription, v), "done")


# --- private endpoint connections (azure-mgmt-recoveryservicesbackup's private_endpoint_connection) -------
def _vault_in_group(call: ArmCall) -> dict[str, Any]:
    G.get_group(call.svc, call.caller, call.params["rg"])
    return _in_group(call, vaults.get_vault(call.svc, call.caller, call.params["name"]))


def _connection(call: ArmCall, v: dict[str, Any]) -> dict[str, Any]:
    wanted = call.params["conn"]
    for c in connections.list_connections(call.svc, call.caller, v["id"]):
        if wanted in (f"{c['endpoint_name']}.{c['endpoint_id']}", c["endpoint_id"]):
            return c
    raise E.NotFound(f"vault {v['name']} has no private endpoint connection {wanted[:80]}.",
                     arm_code="ResourceNotFound")


def get_connection(call: ArmCall) -> dict[str, Any]:
    v = _vault_in_group(call)
    return connection_view(call.subscription, v, _connection(call, v))


def put_connection(call: ArmCall) -> dict[str, Any]:
    """Approve or reject a connection (``private_endpoint_connection.begin_put``): the seed's "approve via
    the Azure Resource Manager client"."""
    doc = obj(call.body, "body")
    state = obj(obj(doc.get("properties"), "properties").get("privateLinkServiceConnectionState"),
                "properties.privateLinkServiceConnectionState")
    status = state.get("status")
    action = {"Approved": "approve", "Rejected": "reject", "Disconnected": "remove"}.get(str(status))
    if action is None:
        raise E.InvalidInput("privateLinkServiceConnectionState.status is Approved, Rejected or Disconnected.",
                             field="properties.privateLinkServiceConnectionState.status")
    v = _vault_in_group(call)
    c = _connection(call, v)
    if c["status"] != status:
        connections.set_connection(call.svc, call.caller, c["endpoint_id"], action,
                                   str(state.get("description") or ""), v["id"])
    return connection_view(call.subscription, v, _connection(call, v))


def delete_connection(call: ArmCall) -> None:
    v = _vault_in_group(call)
    c = _connection(call, v)
    if c["status"] != "Disconnected":
        connections.set_connection(call.svc, call.caller, c["endpoint_id"], "remove", "Removed by the vault owner.",
                                   v["id"])
    lro.start(call, f"{vault_id(call.subscription, v)}/privateEndpointConnections/{call.params['conn']}", "done")


# --- private link resources (what a private endpoint to the vault may target) ---------------------------------
def _link_resources(call: ArmCall, v: dict[str, Any]) -> list[dict[str, Any]]:
    domain = call.svc.config.domain
    region = call.svc.catalog.regions[v["region"]]
    paired = call.svc.catalog.regions.get(region.paired) if region.paired else None
    zones = [names.blob_privatelink_zone(domain), names.queue_privatelink_zone(domain)]
    accounts = epnames.storage_account_names(v)  # type: ignore[arg-type]
    out = []
    for group, geo in (("AzureBackup", region.geo), ("AzureBackup_secondary", paired.geo if paired else None)):
        if geo is None:
            continue
        # the names an endpoint of this group serves (as its customDnsConfigs will list them): the vault's
        # backup name, and a blob and a queue name per storage account (accounts come with the first backups)
        fqdns = [names.vault_public_name(v["id"], geo, domain)]
        for acct in accounts:
            name = names.secondary_account(acct) if group == "AzureBackup_secondary" else acct
            fqdns += [names.blob_public_name(name, domain), names.queue_public_name(name, domain)]
        out.append({"id": f"{vault_id(call.subscription, v)}/privateLinkResources/{group}", "name": group,
                    "type": f"{PROVIDER}/vaults/privateLinkResources",
                    "properties": {"groupId": group, "requiredMembers": ["backup", "blob", "queue"],
                                   "requiredZoneNames": [names.vault_privatelink_zone(geo, domain), *zones],
                                   "requiredFqdns": fqdns}})
    return out


def list_link_resources(call: ArmCall) -> dict[str, Any]:
    return {"value": _link_resources(call, _vault_in_group(call))}


def get_link_resource(call: ArmCall) -> dict[str, Any]:
    for r in _link_resources(call, _vault_in_group(call)):
        if r["name"].lower() == call.params["group"].lower():
            return r
    raise E.NotFound(f"no private link resource {call.params['group'][:40]}; the groups are AzureBackup and "
                     "AzureBackup_secondary.", arm_code="ResourceNotFound")
