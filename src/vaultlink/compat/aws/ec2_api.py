"""EC2's VPC operations over vaultlink's virtual networks and private endpoints, and STS's
``GetCallerIdentity``.

A VPC is a vnet (``VpcId`` is the vnet id, its name the ``Name`` tag or the id), a subnet keeps its own
name as ``SubnetId`` (one made here is named ``subnet-…``), a VPC endpoint is a service endpoint
(``VpcEndpointId`` is the endpoint id) with its policy, its private DNS and its DNS names; a peering
connection is a vnet peering, active at once.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from vaultlink import errors as E
from vaultlink.compat.aws.backup_api import AwsCall, Handler
from vaultlink.service import endpoint_settings, endpoints, networks
from vaultlink.service import vpc_security_groups as G

SERVICES = ("backup", "backup-gateway")


def _nf(code: str, message: str) -> E.NotFound:
    return E.NotFound(message, aws_code=code)


def _tags(p: dict[str, Any], kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in p.get("TagSpecifications") or []:
        if spec.get("ResourceType") in (None, kind):
            out.update({t["Key"]: t.get("Value", "") for t in spec.get("Tags") or [] if "Key" in t})
    return out


def _tag_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


def _filters(p: dict[str, Any]) -> dict[str, set[str]]:
    return {f["Name"]: set(f.get("Values") or []) for f in p.get("Filters") or [] if "Name" in f}


def _region_vnets(call: AwsCall) -> list[dict[str, Any]]:
    return [v for v in networks.list_vnets(call.svc, call.caller) if v["region"] == call.region]


def _vnet(call: AwsCall, vpc_id: str) -> dict[str, Any]:
    for v in _region_vnets(call):
        if v["id"] == vpc_id:
            return v
    raise _nf("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")


# --- VPCs ---------------------------------------------------------------------------------------------
def _vpc_out(v: dict[str, Any]) -> dict[str, Any]:
    return {"VpcId": v["id"], "CidrBlock": v["address_spaces"][0] if v["address_spaces"] else None,
            "State": "available", "OwnerId": v["account_id"], "IsDefault": False, "InstanceTenancy": "default",
            "CidrBlockAssociationSet": [{"AssociationId": f"{v['id']}-cidr-{i}", "CidrBlock": c,
                                         "CidrBlockState": {"State": "associated"}}
                                        for i, c in enumerate(v["address_spaces"])],
            "Tags": _tag_list(v.get("tags"))}


def create_vpc(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    if not p.get("CidrBlock"):
        raise E.MissingField("CidrBlock is required: the VPC's IPv4 range.", field="CidrBlock")
    tags = _tags(p, "vpc")
    name = tags.get("Name") or f"vpc-{secrets.token_hex(6)}"
    v = networks.create_vnet(call.svc, call.caller, name, call.region, [p["CidrBlock"]], tags=tags)
    return {"Vpc": _vpc_out(v)}


def describe_vpcs(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    want, f = set(p.get("VpcIds") or []), _filters(p)
    found = [v for v in _region_vnets(call) if (not want or v["id"] in want)
             and ("vpc-id" not in f or v["id"] in f["vpc-id"])
             and ("cidr-block" not in f or set(v["address_spaces"]) & f["cidr-block"])]
    missing = want - {v["id"] for v in found}
    if missing:
        raise _nf("InvalidVpcID.NotFound", f"The vpc ID '{sorted(missing)[0]}' does not exist")
    return {"Vpcs": [_vpc_out(v) for v in found]}


def delete_vpc(call: AwsCall, p: dict[str, Any]) -> None:
    v = _vnet(call, p["VpcId"])
    networks.delete_vnet(call.svc, call.caller, v["id"])
    return None


# --- subnets ------------------------------------------------------------------------------------------
def _subnet_out(v: dict[str, Any], s: dict[str, Any], region: str) -> dict[str, Any]:
    return {"SubnetId": s["name"], "VpcId": v["id"], "CidrBlock": s["cidr"], "State": "available",
            "AvailabilityZone": f"{region}a", "OwnerId": v["account_id"],
            "AvailableIpAddressCount": s.get("free", s.get("available")),
            "SubnetArn": f"{(v.get('arn') or '').split(':vpc/')[0]}:subnet/{s['name']}"}


def create_subnet(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    v = _vnet(call, p["VpcId"])
    if not p.get("CidrBlock"):
        raise E.MissingField("CidrBlock is required: the subnet's IPv4 range.", field="CidrBlock")
    name = f"subnet-{secrets.token_hex(8)}"
    networks.add_subnet(call.svc, call.caller, v["id"], name, p["CidrBlock"])
    v = _vnet(call, v["id"])
    return {"Subnet": next(_subnet_out(v, s, call.region) for s in v["subnets"] if s["name"] == name)}


def _all_subnets(call: AwsCall) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(v, s) for v in _region_vnets(call) for s in v["subnets"]]


def describe_subnets(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    want, f = set(p.get("SubnetIds") or []), _filters(p)
    found = [(v, s) for v, s in _all_subnets(call) if (not want or s["name"] in want)
             and ("vpc-id" not in f or v["id"] in f["vpc-id"])
             and ("subnet-id" not in f or s["name"] in f["subnet-id"])]
    missing = want - {s["name"] for _, s in found}
    if missing:
        raise _nf("InvalidSubnetID.NotFound", f"The subnet ID '{sorted(missing)[0]}' does not exist")
    return {"Subnets": [_subnet_out(v, s, call.region) for v, s in found]}


def _subnet(call: AwsCall, subnet_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    hits = [(v, s) for v, s in _all_subnets(call) if s["name"] == subnet_id]
    if len(hits) != 1:
        raise _nf("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist")
    return hits[0]


def delete_subnet(call: AwsCall, p: dict[str, Any]) -> None:
    v, s = _subnet(call, p["SubnetId"])
    networks.delete_subnet(call.svc, call.caller, v["id"], s["name"])
    return None


# --- VPC endpoints --------------------------------------------------------------------------------------
def _service_of(call: AwsCall, name: str) -> str:
    region = call.svc.catalog.regions.get(call.region)
    for s in SERVICES:
        if region is not None and region.service_name(s) == name:
            return s
    raise _nf("InvalidServiceName", f"The Vpc Endpoint Service '{name}' does not exist")


def _endpoint_out(e: dict[str, Any], groups: dict[str, str] | None = None) -> dict[str, Any]:
    names = []
    for c in e.get("ip_configs") or []:
        if c.get("fqdn"):
            names.append({"DnsName": c["fqdn"], "HostedZoneId": "Z" + e["id"].upper().replace("-", "")[:12]})
        if e.get("private_dns_enabled") and c.get("public_name"):
            names.append({"DnsName": c["public_name"], "HostedZoneId": "ZPRIVATE" + e["vnet_id"][-8:].upper()})
    return {"VpcEndpointId": e["id"], "VpcEndpointType": "Interface", "VpcId": e["vnet_id"],
            "ServiceName": e.get("service_name"), "State": "available", "OwnerId": e["account_id"],
            "PolicyDocument": json.dumps(e.get("policy")), "SubnetIds": [e["subnet"]],
            "PrivateDnsEnabled": bool(e.get("private_dns_enabled")), "RequesterManaged": False,
            "NetworkInterfaceIds": [f"eni-{e['id'][3:]}"], "DnsEntries": names,
            "CreationTimestamp": e.get("created"), "Tags": _tag_list(e.get("tags")),
            "IpAddressType": "ipv4", "DnsOptions": {"DnsRecordIpType": "ipv4"},
            "Groups": [{"GroupId": g, "GroupName": (groups or {}).get(g, g)}
                       for g in e.get("security_group_ids") or []]}


def _region_endpoints(call: AwsCall) -> list[dict[str, Any]]:
    return [e for e in endpoints.list_endpoints(call.svc, call.caller)
            if e.get("kind") == "service" and e["region"] == call.region]


def _endpoint(call: AwsCall, eid: str) -> dict[str, Any]:
    for e in _region_endpoints(call):
        if e["id"] == eid:
            return e
    raise _nf("InvalidVpcEndpointId.NotFound", f"The Vpc Endpoint Id '{eid}' does not exist")


def _policy(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise E.PolicyInvalid("PolicyDocument must be a JSON policy document.", field="PolicyDocument") from None


def create_vpc_endpoint(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    if p.get("VpcEndpointType", "Interface") != "Interface":
        raise E.InvalidInput("only Interface endpoints exist here (the backup services are interface endpoints).",
                             field="VpcEndpointType")
    v = _vnet(call, p["VpcId"])
    subnets = p.get("SubnetIds") or []
    if len(subnets) != 1:
        raise E.InvalidInput("give exactly one SubnetId: an endpoint here has one network interface.",
                             field="SubnetIds")
    sv, s = _subnet(call, subnets[0])
    if sv["id"] != v["id"]:
        raise E.InvalidInput(f"subnet {subnets[0]} is not in {v['id']}.", field="SubnetIds")
    tags = _tags(p, "vpc-endpoint")
    body: dict[str, Any] = {"name": tags.get("Name") or f"vpce-{secrets.token_hex(6)}", "region": call.region,
                            "vnet": v["id"], "subnet": s["name"], "service": _service_of(call, p["ServiceName"]),
                            "private_dns": p.get("PrivateDnsEnabled", True), "tags": tags or None}
    if p.get("PolicyDocument"):
        body["policy"] = _policy(p["PolicyDocument"])
    groups = list(dict.fromkeys(p.get("SecurityGroupIds") or []))
    if groups:
        known = {g["id"]: g for g in G.list_groups(call.svc, call.caller)}
        bad = [g for g in groups if g not in known or known[g]["vnet_id"] != v["id"]]
        if bad:
            raise _nf("InvalidGroup.NotFound", f"The security group '{bad[0]}' does not exist in {v['id']}")
    e = endpoints.create_endpoint(call.svc, call.caller, body)
    if groups:
        G.set_endpoint_groups(call.svc, call.caller, e["id"], groups)
        e = _endpoint(call, e["id"])
    return {"VpcEndpoint": _endpoint_out(e, _group_names(call)), "ClientToken": p.get("ClientToken")}


def _group_names(call: AwsCall) -> dict[str, str]:
    return {g["id"]: g["name"] for g in G.list_groups(call.svc, call.caller)}


def describe_vpc_endpoints(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    want, f = set(p.get("VpcEndpointIds") or []), _filters(p)
    found = [e for e in _region_endpoints(call) if (not want or e["id"] in want)
             and ("vpc-id" not in f or e["vnet_id"] in f["vpc-id"])
             and ("service-name" not in f or e.get("service_name") in f["service-name"])
             and ("vpc-endpoint-id" not in f or e["id"] in f["vpc-endpoint-id"])]
    missing = want - {e["id"] for e in found}
    if missing:
        raise _nf("InvalidVpcEndpointId.NotFound", f"The Vpc Endpoint Id '{sorted(missing)[0]}' does not exist")
    names = _group_names(call)
    return {"VpcEndpoints": [_endpoint_out(e, names) for e in found]}


def modify_vpc_endpoint(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    e = _endpoint(call, p["VpcEndpointId"])
    if p.get("ResetPolicy") and p.get("PolicyDocument"):
        raise E.InvalidInput("give PolicyDocument or ResetPolicy, not both.", field="ResetPolicy")
    unsupported = [k for k in ("AddSubnetIds", "RemoveSubnetIds", "AddRouteTableIds", "RemoveRouteTableIds")
                   if p.get(k)]
    if unsupported:
        raise E.InvalidInput(f"{', '.join(unsupported)}: an endpoint here keeps the one subnet it was made in.",
                             field=unsupported[0])
    if p.get("AddSecurityGroupIds") or p.get("RemoveSecurityGroupIds"):
        have = list(e.get("security_group_ids") or [])
        gone = set(p.get("RemoveSecurityGroupIds") or [])
        missing = sorted(gone - set(have))
        if missing:
            raise _nf("InvalidGroup.NotFound", f"The security group '{missing[0]}' is not attached to {e['id']}")
        want = [g for g in have if g not in gone] + [g for g in p.get("AddSecurityGroupIds") or [] if g not in have]
        if not want:
            raise E.InvalidInput("an endpoint keeps at least one security group once it has one.",
                                 field="RemoveSecurityGroupIds")
        G.set_endpoint_groups(call.svc, call.caller, e["id"], want)
    if p.get("PrivateDnsEnabled") is not None:
        endpoint_settings.set_private_dns(call.svc, call.caller, e["id"], p["PrivateDnsEnabled"])
    if p.get("ResetPolicy"):
        endpoint_settings.reset_policy(call.svc, call.caller, e["id"])
    elif p.get("PolicyDocument"):
        endpoint_settings.set_policy(call.svc, call.caller, e["id"], _policy(p["PolicyDocument"]))
    return {"Return": True}


def delete_vpc_endpoints(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    failed = []
    for eid in p.get("VpcEndpointIds") or []:
        try:
            endpoints.delete_endpoint(call.svc, call.caller, _endpoint(call, eid)["id"])
        except E.VaultlinkError as err:
            failed.append({"ResourceId": eid, "Error": {"Code": "InvalidVpcEndpoint.NotFound"
                                                        if isinstance(err, E.NotFound) else err.code,
                                                        "Message": err.message}})
    return {"Unsuccessful": failed}


def describe_vpc_endpoint_services(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    region = call.svc.catalog.get(call.region)
    want = set(p.get("ServiceNames") or [])
    details = []
    for s in SERVICES:
        if not region.offers(s):
            continue
        name = region.service_name(s)
        if want and name not in want:
            continue
        dns = f"{s}.{call.region}.{call.svc.config.domain}"
        details.append({"ServiceName": name, "ServiceId": f"vpce-svc-{s}",
                        "ServiceType": [{"ServiceType": "Interface"}], "AvailabilityZones": [f"{call.region}a"],
                        "Owner": "vaultlink", "BaseEndpointDnsNames":
                        [f"{s}.{call.region}.vpce.{call.svc.config.domain}"], "PrivateDnsName": dns,
                        "VpcEndpointPolicySupported": True, "AcceptanceRequired": False,
                        "ManagesVpcEndpoints": False, "SupportedIpAddressTypes": ["ipv4"]})
    return {"ServiceNames": [d["ServiceName"] for d in details], "ServiceDetails": details}


# --- peering ------------------------------------------------------------------------------------------------
def _peering_id(a: str, b: str) -> str:
    x, y = sorted((a, b))
    return f"pcx-{x.removeprefix('vnet-')}-{y.removeprefix('vnet-')}"


def _peering_out(v: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {"VpcPeeringConnectionId": _peering_id(v["id"], other["vnet_id"]),
            "RequesterVpcInfo": {"VpcId": v["id"], "OwnerId": v["account_id"], "Region": v["region"],
                                 "CidrBlock": v["address_spaces"][0] if v["address_spaces"] else None},
            "AccepterVpcInfo": {"VpcId": other["vnet_id"], "OwnerId": v["account_id"], "Region": v["region"]},
            "Status": {"Code": "active", "Message": "Active"}}


def create_vpc_peering_connection(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    v = _vnet(call, p["VpcId"])
    peer_id = p.get("PeerVpcId")
    if not peer_id:
        raise E.MissingField("PeerVpcId is required.", field="PeerVpcId")
    networks.peer(call.svc, call.caller, v["id"], peer_id)
    return {"VpcPeeringConnection": _peering_out(_vnet(call, v["id"]), {"vnet_id": peer_id})}


def describe_vpc_peering_connections(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    want = set(p.get("VpcPeeringConnectionIds") or [])
    out, seen = [], set()
    for v in _region_vnets(call):
        for peer in v.get("peerings") or []:
            pid = _peering_id(v["id"], peer["vnet_id"])
            if pid not in seen and (not want or pid in want):
                seen.add(pid)
                out.append(_peering_out(v, peer))
    return {"VpcPeeringConnections": out}


def delete_vpc_peering_connection(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    pid = p["VpcPeeringConnectionId"]
    for v in _region_vnets(call):
        for peer in v.get("peerings") or []:
            if _peering_id(v["id"], peer["vnet_id"]) == pid:
                networks.unpeer(call.svc, call.caller, v["id"], peer["vnet_id"])
                return {"Return": True}
    raise _nf("InvalidVpcPeeringConnectionID.NotFound", f"The vpcPeeringConnection ID '{pid}' does not exist")


def get_caller_identity(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    return {"UserId": call.caller.principal_id, "Account": call.caller.account_id, "Arn": call.caller.arn}


EC2_HANDLERS: dict[str, Handler] = {
    "CreateVpc": create_vpc,
    "DescribeVpcs": describe_vpcs,
    "DeleteVpc": delete_vpc,
    "CreateSubnet": create_subnet,
    "DescribeSubnets": describe_subnets,
    "DeleteSubnet": delete_subnet,
    "CreateVpcEndpoint": create_vpc_endpoint,
    "DescribeVpcEndpoints": describe_vpc_endpoints,
    "ModifyVpcEndpoint": modify_vpc_endpoint,
    "DeleteVpcEndpoints": delete_vpc_endpoints,
    "DescribeVpcEndpointServices": describe_vpc_endpoint_services,
    "CreateVpcPeeringConnection": create_vpc_peering_connection,
    "DescribeVpcPeeringConnections": describe_vpc_peering_connections,
    "DeleteVpcPeeringConnection": delete_vpc_peering_connection,
}
STS_HANDLERS: dict[str, Handler] = {"GetCallerIdentity": get_caller_identity}
