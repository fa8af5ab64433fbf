"""``Microsoft.Network/privateDnsZones`` (azure-mgmt-privatedns): zones, record sets (A, AAAA, CNAME, TXT)
and virtual network links over ``service/dns.py``, the zones the responder answers from. A link's
``resolutionPolicy: NxDomainRedirect`` is the native fallback to public resolution; ``registrationEnabled``
registers the machines of the linked vnet (each agent registered from it: ``<hostname>.<zone>`` → its
address, ``service/dns_auto.py``)."""

from __future__ import annotations

from typing import Any

from vaultlink import errors as E
from vaultlink.compat.azure import lro
from vaultlink.compat.azure.arm import ArmCall, obj, provider_id, tags_of
from vaultlink.service import dns, networks

NET = "Microsoft.Network"
_VALUES = {"A": ("aRecords", "ipv4Address"), "AAAA": ("aaaaRecords", "ipv6Address")}


def _group(call: ArmCall) -> str:
    return call.params["rg"].lower()


def _ref(call: ArmCall) -> str:
    return f"{_group(call)}:{call.params['zone'].lower()}"


def zone_arm_id(sub: str, rg: str, zone: str) -> str:
    return provider_id(sub, rg, NET, "privateDnsZones", zone)


def zone_view(call: ArmCall, z: dict[str, Any]) -> dict[str, Any]:
    return {"id": zone_arm_id(call.subscription, z["resource_group"], z["name"]), "name": z["name"],
            "type": f"{NET}/privateDnsZones", "location": "global", "tags": z.get("tags") or {},
            "etag": str(z.get("serial", 1)),
            "properties": {"provisioningState": "Succeeded", "numberOfRecordSets": z["record_sets"],
                           "maxNumberOfRecordSets": 25000, "numberOfVirtualNetworkLinks": z["links"],
                           "maxNumberOfVirtualNetworkLinks": 1000,
                           "numberOfVirtualNetworkLinksWithRegistration": 0,
                           "maxNumberOfVirtualNetworkLinksWithRegistration": 100}}


def _zone(call: ArmCall) -> dict[str, Any]:
    z = dns.get_zone(call.svc, call.caller, _ref(call))
    if str(z["resource_group"]).lower() != _group(call):
        raise E.NotFound(f"private DNS zone {call.params['zone']} is not in resource group {call.params['rg']}.",
                         arm_code="ResourceNotFound")
    return z


def put_zone(call: ArmCall) -> dict[str, Any]:
    doc = obj(call.body, "body")
    try:
        return zone_view(call, _zone(call))
    except E.NotFound:
        pass
    dns.create_zone(call.svc, call.caller, call.params["zone"], tags_of(doc), resource_group=_group(call))
    call.status = 201
    return zone_view(call, _zone(call))


def get_zone(call: ArmCall) -> dict[str, Any]:
    return zone_view(call, _zone(call))


def list_zones(call: ArmCall) -> dict[str, Any]:
    rg = call.params.get("rg")
    return {"value": [zone_view(call, z) for z in dns.list_zones(call.svc, call.caller)
                      if rg is None or str(z["resource_group"]).lower() == rg.lower()]}


def delete_zone(call: ArmCall) -> None:
    z = _zone(call)
    dns.delete_zone(call.svc, call.caller, z["id"])
    lro.start(call, zone_arm_id(call.subscription, z["resource_group"], z["name"]), "done")


# --- record sets ------------------------------------------------------------------------------------------
def record_view(call: ArmCall, z: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    rtype = r["type"]
    props: dict[str, Any] = {"ttl": r["ttl"], "fqdn": r["fqdn"] + ".", "isAutoRegistered": False}
    if rtype in _VALUES:
        key, item = _VALUES[rtype]
        props[key] = [{item: v} for v in r["values"]]
    elif rtype == "CNAME":
        props["cnameRecord"] = {"cname": r["values"][0] if r["values"] else ""}
    elif rtype == "TXT":
        props["txtRecords"] = [{"value": [v]} for v in r["values"]]
    if r.get("managed_by"):
        props["metadata"] = {"managedBy": str(r["managed_by"])}
    base = zone_arm_id(call.subscription, z["resource_group"], z["name"])
    return {"id": f"{base}/{rtype}/{r['name']}", "name": r["name"], "type": f"{NET}/privateDnsZones/{rtype}",
            "etag": str(z.get("serial", 1)), "properties": props}


def _values(rtype: str, props: dict[str, Any]) -> list[str]:
    if rtype in _VALUES:
        key, item = _VALUES[rtype]
        return [str(obj(x, key).get(item)) for x in props.get(key) or []]
    if rtype == "CNAME":
        return [str(obj(props.get("cnameRecord"), "cnameRecord").get("cname"))]
    if rtype == "TXT":
        return ["".join(obj(x, "txtRecords").get("value") or []) for x in props.get("txtRecords") or []]
    raise E.InvalidInput(f"record type {rtype} is not supported; vaultlink serves A, AAAA, CNAME and TXT.",
                         field="recordType")


def _records(call: ArmCall) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    z = _zone(call)
    return z, [r for r in dns.list_records(call.svc, call.caller, z["id"]) if r["type"] not in ("SOA", "NS")]


def put_record(call: ArmCall) -> dict[str, Any]:
    rtype = call.params["rtype"].upper()
    props = obj(obj(call.body, "body").get("properties"), "properties")
    ttl = props.get("ttl", 3600)
    z = _zone(call)
    fresh = not any(r["name"] == call.params["rname"] and r["type"] == rtype for r in _records(call)[1])
    dns.set_record(call.svc, call.caller, z["id"], call.params["rname"], rtype, _values(rtype, props), ttl)
    call.status = 201 if fresh else 200
    return get_record(call)


def get_record(call: ArmCall) -> dict[str, Any]:
    z, records = _records(call)
    for r in records:
        if r["name"] == call.params["rname"] and r["type"] == call.params["rtype"].upper():
            return record_view(call, z, r)
    raise E.NotFound(f"no {call.params['rtype'].upper()} record set {call.params['rname']} in {z['name']}.",
                     arm_code="NotFound")


def list_records(call: ArmCall) -> dict[str, Any]:
    z, records = _records(call)
    rtype = call.params.get("rtype")
    return {"value": [record_view(call, z, r) for r in records if rtype is None or r["type"] == rtype.upper()]}


def delete_record(call: ArmCall) -> None:
    z = _zone(call)
    get_record(call)
    dns.delete_record(call.svc, call.caller, z["id"], call.params["rname"], call.params["rtype"].upper())


# --- virtual network links ------------------------------------------------------------------------------------
def link_view(call: ArmCall, z: dict[str, Any], lk: dict[str, Any]) -> dict[str, Any]:
    vnet = networks.get_vnet(call.svc, call.caller, lk["vnet_id"])
    vid = provider_id(call.subscription, vnet.get("resource_group") or "default", NET, "virtualNetworks",
                      vnet["name"])
    base = zone_arm_id(call.subscription, z["resource_group"], z["name"])
    return {"id": f"{base}/virtualNetworkLinks/{lk['name']}", "name": lk["name"],
            "type": f"{NET}/privateDnsZones/virtualNetworkLinks", "location": "global",
            "properties": {"virtualNetwork": {"id": vid}, "registrationEnabled": bool(lk.get("registration")),
                           "resolutionPolicy": "NxDomainRedirect" if lk["fallback_to_public"] else "Default",
                           "virtualNetworkLinkState": "Completed", "provisioningState": "Succeeded"}}


def _link(call: ArmCall) -> tuple[dict[str, Any], dict[str, Any]]:
    z = _zone(call)
    for lk in dns.list_links(call.svc, call.caller, z["id"]):
        if lk["name"] == call.params["link"]:
            return z, lk
    raise E.NotFound(f"zone {z['name']} has no virtual network link {call.params['link']}.", arm_code="NotFound")


def put_link(call: ArmCall) -> dict[str, Any]:
    props = obj(obj(call.body, "body").get("properties"), "properties")
    vid = obj(props.get("virtualNetwork"), "properties.virtualNetwork").get("id")
    if not isinstance(vid, str) or "/virtualnetworks/" not in vid.lower():
        raise E.InvalidInput("properties.virtualNetwork.id is a virtual network's resource id.",
                             field="properties.virtualNetwork.id")
    registration = props.get("registrationEnabled", False)
    if not isinstance(registration, bool):
        raise E.InvalidType("properties.registrationEnabled is true or false.", field="properties.registrationEnabled")
    policy = props.get("resolutionPolicy", "Default")
    if policy not in ("Default", "NxDomainRedirect"):
        raise E.InvalidInput("resolutionPolicy is Default or NxDomainRedirect.", field="properties.resolutionPolicy")
    z = _zone(call)
    try:
        _z, lk = _link(call)
    except E.NotFound:
        lk = dns.add_link(call.svc, call.caller, z["id"], vid.rstrip("/").rsplit("/", 1)[-1], call.params["link"],
                          fallback_to_public=policy == "NxDomainRedirect", registration=registration)
        call.status = 201
    return link_view(call, z, lk)


def get_link(call: ArmCall) -> dict[str, Any]:
    z, lk = _link(call)
    return link_view(call, z, lk)


def list_links(call: ArmCall) -> dict[str, Any]:
    z = _zone(call)
    return {"value": [link_view(call, z, lk) for lk in dns.list_links(call.svc, call.caller, z["id"])]}


def delete_link(call: ArmCall) -> None:
    z, lk = _link(call)
    dns.remove_link(call.svc, call.caller, z["id"], lk["name"])
    lro.start(call, f"{zone_arm_id(call.subscription, z['resource_group'], z['name'])}/virtualNetworkLinks/"
                    f"{lk['name']}", "done")
