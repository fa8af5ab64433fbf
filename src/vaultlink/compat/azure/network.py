"""``Microsoft.Network`` (azure-mgmt-network): virtual networks, subnets, peerings and private endpoints over
the native services, the same objects ``vaultlink vnet`` and ``vaultlink endpoint`` show.

A private endpoint's creation and deletion are long-running operations that end when the change has
taken effect (the endpoint listens and its DNS records are served, or it is gone: ``lro.py``).
``privateLinkServiceConnections`` are approved at once for a caller who may approve connections on the
vault; ``manualPrivateLinkServiceConnections`` are always Pending until the vault's owner approves them.
Peerings are symmetric in vaultlink: one PUT peers both networks (the remote side lists it under the same
name)."""

from __future__ import annotations

from typing import Any

from vaultlink import errors as E
from vaultlink.compat.azure import lro
from vaultlink.compat.azure.arm import ArmCall, obj, provider_id, str_field, tags_of
from vaultlink.compat.azure.recovery import vault_id
from vaultlink.domain.records import find_vaults
from vaultlink.service import endpoint_settings, endpoints, networks
from vaultlink.service import resource_groups as G

NET = "Microsoft.Network"


def _rg(rec: dict[str, Any]) -> str:
    return str(rec.get("resource_group") or G.DEFAULT)


def vnet_arm_id(sub: str, v: dict[str, Any]) -> str:
    return provider_id(v.get("account_id") or sub, _rg(v), NET, "virtualNetworks", v["name"])


def subnet_view(sub: str, v: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{vnet_arm_id(sub, v)}/subnets/{s['name']}", "name": s["name"],
            "type": f"{NET}/virtualNetworks/subnets",
            "properties": {"addressPrefix": s["cidr"], "provisioningState": "Succeeded",
                           "privateEndpointNetworkPolicies": "Disabled"}}


def peering_view(sub: str, v: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    remote = provider_id(sub, p.get("resource_group") or G.DEFAULT, NET, "virtualNetworks", str(p["name"]))
    return {"id": f"{vnet_arm_id(sub, v)}/virtualNetworkPeerings/{p['name']}", "name": p["name"],
            "type": f"{NET}/virtualNetworks/virtualNetworkPeerings",
            "properties": {"remoteVirtualNetwork": {"id": remote}, "peeringState": "Connected",
                           "peeringSyncLevel": "FullyInSync", "allowVirtualNetworkAccess": True,
                           "provisioningState": "Succeeded"}}


def vnet_view(call: ArmCall, v: dict[str, Any]) -> dict[str, Any]:
    return {"id": vnet_arm_id(call.subscription, v), "name": v["name"], "type": f"{NET}/virtualNetworks",
            "location": v["region"], "tags": v.get("tags") or {},
            "properties": {"provisioningState": "Succeeded", "resourceGuid": v["id"],
                           "addressSpace": {"addressPrefixes": list(v["address_spaces"])},
                           "subnets": [subnet_view(call.subscription, v, s) for s in v["subnets"]],
                           "virtualNetworkPeerings": [peering_view(call.subscription, v, p) for p in v["peerings"]]}}


def _vnet(call: ArmCall, name: str | None = None) -> dict[str, Any]:
    v = networks.get_vnet(call.svc, call.caller, name or call.params["vnet"])
    if _rg(v).lower() != call.params["rg"].lower():
        raise E.NotFound(f"virtual network {v['name']} is not in resource group {call.params['rg']}.",
                         arm_code="ResourceNotFound")
    return v


def _subnets_of(props: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for s in props.get("subnets") or []:
        s = obj(s, "properties.subnets")
        sp = obj(s.get("properties"), "properties.subnets.properties")
        out.append({"name": str(s.get("name")), "cidr": str(sp.get("addressPrefix"))})
    return out


def put_vnet(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    props = obj(doc.get("properties"), "properties")
    spaces = obj(props.get("addressSpace"), "properties.addressSpace").get("addressPrefixes") or []
    if not isinstance(spaces, list) or not all(isinstance(x, str) for x in spaces):
        raise E.InvalidType("properties.addressSpace.addressPrefixes is a list of CIDRs.",
                            field="properties.addressSpace.addressPrefixes")
    group = G.get_group(call.svc, call.caller, call.params["rg"])
    try:
        current = _vnet(call)
    except E.NotFound:
        current = None
    if current is None:
        location = str_field(doc, "location", required=True)
        v = networks.create_vnet(call.svc, call.caller, call.params["vnet"], str(location).lower(), spaces,
                                 _subnets_of(props), tags_of(doc), resource_group=group["name"])
        call.status = 201
        return vnet_view(call, v)
    new_spaces = [s for s in spaces if s not in current["address_spaces"]]
    if new_spaces:
        networks.update_vnet(call.svc, call.caller, current["id"], new_spaces)
    known = {s["name"] for s in current["subnets"]}
    for s in _subnets_of(props):
        if s["name"] not in known:
            networks.add_subnet(call.svc, call.caller, current["id"], s["name"], s["cidr"])
    return vnet_view(call, networks.get_vnet(call.svc, call.caller, current["id"]))


def get_vnet(call: ArmCall) -> dict[str, Any]:
    return vnet_view(call, _vnet(call))


def list_vnets(call: ArmCall) -> dict[str, Any]:
    rg = call.params.get("rg")
    return {"value": [vnet_view(call, v) for v in networks.list_vnets(call.svc, call.caller)
                      if rg is None or _rg(v).lower() == rg.lower()]}


def delete_vnet(call: ArmCall) -> None:
    v = _vnet(call)
    networks.delete_vnet(call.svc, call.caller, v["id"])
    lro.start(call, vnet_arm_id(call.subscription, v), "done")


def put_subnet(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    prefix = str_field(obj(doc.get("properties"), "properties"), "addressPrefix", required=True)
    v = _vnet(call)
    existing = {s["name"]: s for s in v["subnets"]}
    name = call.params["subnet"]
    if name in existing:
        if existing[name]["cidr"] != prefix:
            raise E.InvalidInput(f"subnet {name} is {existing[name]['cidr']}; a subnet's prefix cannot change while "
                                 "vaultlink holds it.", field="properties.addressPrefix",
                                 arm_code="InUseSubnetCannotBeUpdated")
        return subnet_view(call.subscription, v, existing[name])
    networks.add_subnet(call.svc, call.caller, v["id"], name, str(prefix))
    v = networks.get_vnet(call.svc, call.caller, v["id"])
    call.status = 201
    return subnet_view(call.subscription, v, next(s for s in v["subnets"] if s["name"] == name))


def get_subnet(call: ArmCall) -> dict[str, Any]:
    v = _vnet(call)
    for s in v["subnets"]:
        if s["name"] == call.params["subnet"]:
            return subnet_view(call.subscription, v, s)
    raise E.NotFound(f"subnet {call.params['subnet']} does not exist in {v['name']}.", arm_code="NotFound")


def list_subnets(call: ArmCall) -> dict[str, Any]:
    v = _vnet(call)
    return {"value": [subnet_view(call.subscription, v, s) for s in v["subnets"]]}


def delete_subnet(call: ArmCall) -> None:
    v = _vnet(call)
    networks.delete_subnet(call.svc, call.caller, v["id"], call.params["subnet"])
    lro.start(call, f"{vnet_arm_id(call.subscription, v)}/subnets/{call.params['subnet']}", "done")


def _remote(call: ArmCall, rid: Any) -> str:
    """The native vnet id of a remote network's ARM id."""
    if not isinstance(rid, str) or "/virtualnetworks/" not in rid.lower():
        raise E.InvalidInput("properties.remoteVirtualNetwork.id is a virtual network's resource id.",
                             field="properties.remoteVirtualNetwork.id")
    return str(networks.get_vnet(call.svc, call.caller, rid.rstrip("/").rsplit("/", 1)[-1])["id"])


def put_peering(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    props = obj(doc.get("properties"), "properties")
    remote = _remote(call, obj(props.get("remoteVirtualNetwork"), "properties.remoteVirtualNetwork").get("id"))
    v = _vnet(call)
    other = networks.get_vnet(call.svc, call.caller, remote)
    if call.params["peering"] != other["name"]:
        raise E.InvalidInput(f"name the peering after the remote network ({other['name']}): vaultlink's peerings are "
                             "symmetric, one per pair of networks.", field="virtualNetworkPeeringName")
    if all(p["vnet_id"] != remote for p in v["peerings"]):
        networks.peer(call.svc, call.caller, v["id"], remote)
        call.status = 201
    v = networks.get_vnet(call.svc, call.caller, v["id"])
    p = next(p for p in v["peerings"] if p["vnet_id"] == remote)
    return peering_view(call.subscription, v, p)


def _peering(call: ArmCall) -> tuple[dict[str, Any], dict[str, Any]]:
    v = _vnet(call)
    for p in v["peerings"]:
        if p["name"] == call.params["peering"]:
            return v, p
    raise E.NotFound(f"{v['name']} has no peering {call.params['peering']} (a peering is named after the remote "
                     "network).", arm_code="NotFound")


def get_peering(call: ArmCall) -> dict[str, Any]:
    v, p = _peering(call)
    return peering_view(call.subscription, v, p)


def list_peerings(call: ArmCall) -> dict[str, Any]:
    v = _vnet(call)
    return {"value": [peering_view(call.subscription, v, p) for p in v["peerings"]]}


def delete_peering(call: ArmCall) -> None:
    v, p = _peering(call)
    networks.unpeer(call.svc, call.caller, v["id"], p["vnet_id"])
    lro.start(call, f"{vnet_arm_id(call.subscription, v)}/virtualNetworkPeerings/{p['name']}", "done")


# --- private endpoints ------------------------------------------------------------------------------------
def pe_arm_id(sub: str, e: dict[str, Any]) -> str:
    return provider_id(e.get("account_id") or sub, _rg(e), NET, "privateEndpoints", e["name"])


def pe_view(call: ArmCall, e: dict[str, Any], vnet: dict[str, Any] | None = None,
            creating: bool = False) -> dict[str, Any]:
    sub = call.subscription
    live = not creating and (call.view is None or e["id"] in call.view.endpoints)
    vnet = vnet or networks.get_vnet(call.svc, call.caller, e["vnet_id"])
    pid = pe_arm_id(sub, e)
    conn = e["connection"]
    vault_ref = ""
    if e.get("vault_id"):
        with call.svc.store.transaction() as txn:
            vault = txn.get("vault", e["vault_id"])
        vault_ref = vault_id(sub, vault) if vault else ""
    link = {"id": f"{pid}/privateLinkServiceConnections/{e['name']}", "name": e["name"],
            "properties": {"privateLinkServiceId": vault_ref, "groupIds": [e.get("group_id")],
                           "requestMessage": conn.get("request_message") or "",
                           "privateLinkServiceConnectionState": {
                               "status": conn["status"], "description": conn.get("description") or "",
                               "actionsRequired": conn.get("actions_required") or "None"}}}
    manual = bool(e.get("manual"))
    props: dict[str, Any] = {
        "provisioningState": "Succeeded" if live else "Updating",
        "subnet": {"id": f"{vnet_arm_id(sub, vnet)}/subnets/{e['subnet']}"},
        "privateLinkServiceConnections": [] if manual else [link],
        "manualPrivateLinkServiceConnections": [link] if manual else [],
        "customDnsConfigs": [{"fqdn": c["public_name"], "ipAddresses": [c["ip"]]} for c in e["ip_configs"]],
        "ipConfigurations": [{"name": f"{e['name']}-ip{i}", "properties": {
            "privateIPAddress": c["ip"], "groupId": e.get("group_id"),
            "memberName": c.get("purpose") if c.get("storage_account") is None else c["storage_account"]}}
            for i, c in enumerate(e["ip_configs"])],
        "networkInterfaces": [{"id": provider_id(sub, _rg(e), NET, "networkInterfaces", f"{e['name']}.nic.{e['id']}")}],
    }
    return {"id": pid, "name": e["name"], "type": f"{NET}/privateEndpoints", "location": e["region"],
            "tags": e.get("tags") or {}, "properties": props}


def _vault_of(call: ArmCall, rid: Any) -> str:
    """The native id of the vault a private link service id names (any subscription: the connection decides)."""
    parts = rid.strip("/").split("/") if isinstance(rid, str) else []
    if len(parts) != 8 or parts[0].lower() != "subscriptions" or parts[5].lower() != "microsoft.recoveryservices" \
            or parts[6].lower() != "vaults":
        raise E.InvalidInput("privateLinkServiceId is a Recovery Services vault's resource id.",
                             field="privateLinkServiceId")
    with call.svc.store.transaction() as txn:
        found = find_vaults(txn, account_id=parts[1], name=parts[7])
    if not found or G.group_of(dict(found[0])).lower() != parts[3].lower():
        raise E.NotFound(f"vault {parts[7]} does not exist in resource group {parts[3]}.",
                         field="privateLinkServiceId", arm_code="ResourceNotFound")
    return str(found[0]["id"])


def put_private_endpoint(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    props = obj(doc.get("properties"), "properties")
    auto = props.get("privateLinkServiceConnections") or []
    manual = props.get("manualPrivateLinkServiceConnections") or []
    if not isinstance(auto, list) or not isinstance(manual, list) or len(auto) + len(manual) != 1:
        raise E.InvalidInput("a private endpoint has exactly one connection, in privateLinkServiceConnections or "
                             "manualPrivateLinkServiceConnections.", field="properties.privateLinkServiceConnections")
    conn = obj((auto or manual)[0], "connection")
    cprops = obj(conn.get("properties"), "connection.properties")
    groups = cprops.get("groupIds") or []
    if not isinstance(groups, list) or len(groups) != 1:
        raise E.InvalidInput("groupIds names one group: AzureBackup or AzureBackup_secondary.",
                             field="properties.privateLinkServiceConnections.groupIds")
    subnet_id = obj(props.get("subnet"), "properties.subnet").get("id")
    if not isinstance(subnet_id, str) or "/subnets/" not in subnet_id.lower():
        raise E.InvalidInput("properties.subnet.id is a subnet's resource id.", field="properties.subnet.id")
    vnet_name, subnet = subnet_id.rstrip("/").split("/")[-3], subnet_id.rstrip("/").split("/")[-1]
    G.get_group(call.svc, call.caller, call.params["rg"])
    location = str_field(doc, "location", required=True)
    body = {"name": call.params["name"], "region": str(location).lower(), "vnet": vnet_name, "subnet": subnet,
            "vault": _vault_of(call, cprops.get("privateLinkServiceId")), "group_id": groups[0],
            "dns_integration": False, "tags": tags_of(doc), "manual": bool(manual),
            "request_message": cprops.get("requestMessage"), "resource_group": call.params["rg"]}
    check = endpoints.create_endpoint(call.svc, call.caller, body, dry_run=True)  # refusals now, nothing stored
    preview = {**check["endpoint"], "id": "(creating)"}
    svc, caller = call.svc, call.caller
    lro.run(call, pe_arm_id(call.subscription, preview), lambda: endpoints.create_endpoint(svc, caller, body))
    return pe_view(call, preview, creating=True)


def _endpoint(call: ArmCall) -> dict[str, Any]:
    e = endpoints.get_endpoint(call.svc, call.caller, call.params["name"])
    if _rg(e).lower() != call.params["rg"].lower() or e.get("kind") != "resource":
        raise E.NotFound(f"private endpoint {call.params['name']} is not in resource group {call.params['rg']}.",
                         arm_code="ResourceNotFound")
    return e


def get_private_endpoint(call: ArmCall) -> dict[str, Any]:
    return pe_view(call, _endpoint(call))


def list_private_endpoints(call: ArmCall) -> dict[str, Any]:
    rg = call.params.get("rg")
    return {"value": [pe_view(call, e) for e in endpoints.list_endpoints(call.svc, call.caller)
                      if e.get("kind") == "resource" and (rg is None or _rg(e).lower() == rg.lower())]}


def delete_private_endpoint(call: ArmCall) -> None:
    e = _endpoint(call)
    endpoints.check_delete(call.svc, call.caller, e["id"])  # refusals now
    svc, caller = call.svc, call.caller
    lro.run(call, pe_arm_id(call.subscription, e), lambda: endpoints.delete_endpoint(svc, caller, e["id"]), 202)


# --- private DNS zone groups ("integrate with private DNS zone") -------------------------------------------
def zone_group_view(call: ArmCall, e: dict[str, Any]) -> dict[str, Any]:
    group = e.get("zone_group")
    if not group:
        raise E.NotFound(f"private endpoint {e['name']} has no private DNS zone group.", arm_code="NotFound")
    sub = call.subscription
    configs = []
    for zone in group["zones"]:
        records = [{"recordType": "A", "recordSetName": c["fqdn"][: -len(zone) - 1], "fqdn": c["fqdn"],
                    "ttl": 10, "ipAddresses": [c["ip"]], "provisioningState": "Succeeded"}
                   for c in e["ip_configs"] if c.get("zone") == zone]
        configs.append({"name": zone.replace(".", "-"), "properties": {
            "privateDnsZoneId": provider_id(sub, _rg(e), NET, "privateDnsZones", zone), "recordSets": records}})
    return {"id": f"{pe_arm_id(sub, e)}/privateDnsZoneGroups/{group['name']}", "name": group["name"],
            "type": f"{NET}/privateEndpoints/privateDnsZoneGroups",
            "properties": {"provisioningState": "Succeeded", "privateDnsZoneConfigs": configs}}


def put_zone_group(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    configs = obj(doc.get("properties"), "properties").get("privateDnsZoneConfigs") or []
    if not isinstance(configs, list) or not 1 <= len(configs) <= 5:
        raise E.InvalidInput("privateDnsZoneConfigs lists 1-5 zones.", field="properties.privateDnsZoneConfigs")
    zones = []
    for c in configs:
        zid = obj(obj(c, "config").get("properties"), "config.properties").get("privateDnsZoneId")
        if not isinstance(zid, str) or "/privatednszones/" not in zid.lower():
            raise E.InvalidInput("each config names a private DNS zone's resource id.",
                                 field="properties.privateDnsZoneConfigs.privateDnsZoneId")
        zones.append(zid.rstrip("/").rsplit("/", 1)[-1].lower())
    e = _endpoint(call)
    endpoint_settings.set_zone_group(call.svc, call.caller, e["id"], {"name": call.params["group"], "zones": zones})
    e = endpoints.get_endpoint(call.svc, call.caller, e["id"])
    lro.start(call, f"{pe_arm_id(call.subscription, e)}/privateDnsZoneGroups/{call.params['group']}", "done",
              status=200)
    return zone_group_view(call, e)


def get_zone_group(call: ArmCall) -> dict[str, Any]:
    e = _endpoint(call)
    if (e.get("zone_group") or {}).get("name") != call.params["group"]:
        raise E.NotFound(f"private endpoint {e['name']} has no zone group {call.params['group']}.", arm_code="NotFound")
    return zone_group_view(call, e)


def list_zone_groups(call: ArmCall) -> dict[str, Any]:
    e = _endpoint(call)
    return {"value": [zone_group_view(call, e)] if e.get("zone_group") else []}


def delete_zone_group(call: ArmCall) -> None:
    e = _endpoint(call)
    get_zone_group(call)
    endpoint_settings.set_zone_group(call.svc, call.caller, e["id"], None)
    lro.start(call, f"{pe_arm_id(call.subscription, e)}/privateDnsZoneGroups/{call.params['group']}", "done")
