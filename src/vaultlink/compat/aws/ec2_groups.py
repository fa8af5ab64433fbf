"""EC2 security groups over the vnets' security groups (``service/vpc_security_groups.py``): create, describe,
authorize and revoke ingress, delete. A group attached to a VPC endpoint (``SecurityGroupIds``,
``ModifyVpcEndpoint`` ``Add/RemoveSecurityGroupIds``) is what the request pipeline checks for it: TCP 443
from the rules' CIDRs. Egress rules, IPv6 ranges and group-to-group rules are refused with a message."""

from __future__ import annotations

from typing import Any

from vaultlink import errors as E
from vaultlink.compat.aws.backup_api import AwsCall
from vaultlink.service import networks
from vaultlink.service import vpc_security_groups as G


def _region_vnet_ids(call: AwsCall) -> set[str]:
    return {v["id"] for v in networks.list_vnets(call.svc, call.caller) if v["region"] == call.region}


def _permissions(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rules:
        proto = "-1" if r["protocol"] == "all" else r["protocol"]
        perm: dict[str, Any] = {"IpProtocol": proto, "IpRanges": [{"CidrIp": r["source"],
                                                                  "Description": r.get("description") or None}]}
        if proto != "-1":
            perm.update(FromPort=r["from_port"], ToPort=r["to_port"])
        out.append(perm)
    return out


def _group_out(g: dict[str, Any]) -> dict[str, Any]:
    return {"GroupId": g["id"], "GroupName": g["name"], "Description": g["description"], "VpcId": g["vnet_id"],
            "OwnerId": g["account_id"], "IpPermissions": _permissions(g["rules"]), "IpPermissionsEgress": [],
            "SecurityGroupArn": None}


def _rules(p: dict[str, Any]) -> list[dict[str, Any]]:
    """vaultlink rules from EC2's ``IpPermissions`` (or the older flat ``IpProtocol``/``CidrIp`` members)."""
    perms = list(p.get("IpPermissions") or [])
    if p.get("CidrIp") or p.get("IpProtocol"):
        perms.append({"IpProtocol": p.get("IpProtocol", "-1"), "FromPort": p.get("FromPort"),
                      "ToPort": p.get("ToPort"), "IpRanges": [{"CidrIp": p.get("CidrIp")}]})
    if not perms:
        raise E.MissingField("give IpPermissions (protocol, ports and IpRanges).", field="IpPermissions")
    out = []
    for perm in perms:
        if perm.get("UserIdGroupPairs") or perm.get("Ipv6Ranges") or perm.get("PrefixListIds"):
            raise E.InvalidInput("only IPv4 CIDR sources (IpRanges) are supported here.", field="IpPermissions")
        proto = str(perm.get("IpProtocol", "-1")).lower()
        proto = {"6": "tcp", "17": "udp", "-1": "all"}.get(proto, proto)
        for rng in perm.get("IpRanges") or []:
            rule: dict[str, Any] = {"protocol": proto, "source": rng.get("CidrIp"),
                                    "description": rng.get("Description") or ""}
            if proto != "all":
                rule.update(from_port=perm.get("FromPort"), to_port=perm.get("ToPort"))
            out.append(rule)
    if not out:
        raise E.MissingField("each permission needs IpRanges with a CidrIp.", field="IpPermissions")
    return out


def _group_of(call: AwsCall, gid: str) -> dict[str, Any]:
    for g in G.list_groups(call.svc, call.caller):
        if g["id"] == gid and g["vnet_id"] in _region_vnet_ids(call):
            return g
    raise E.NotFound(f"The security group '{gid}' does not exist", aws_code="InvalidGroup.NotFound")


def create_security_group(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    if not p.get("VpcId"):
        raise E.MissingField("VpcId is required: a security group belongs to a VPC.", field="VpcId")
    if p["VpcId"] not in _region_vnet_ids(call):
        raise E.NotFound(f"The vpc ID '{p['VpcId']}' does not exist", aws_code="InvalidVpcID.NotFound")
    g = G.create_group(call.svc, call.caller, p["VpcId"], p["GroupName"], p.get("Description", ""))
    return {"GroupId": g["id"]}


def describe_security_groups(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    ids = set(p.get("GroupIds") or [])
    f = {x["Name"]: set(x.get("Values") or []) for x in p.get("Filters") or [] if "Name" in x}
    vnets = _region_vnet_ids(call)
    found = [g for g in G.list_groups(call.svc, call.caller) if g["vnet_id"] in vnets
             and (not ids or g["id"] in ids) and ("vpc-id" not in f or g["vnet_id"] in f["vpc-id"])
             and ("group-name" not in f or g["name"] in f["group-name"])]
    missing = ids - {g["id"] for g in found}
    if missing:
        raise E.NotFound(f"The security group '{sorted(missing)[0]}' does not exist",
                         aws_code="InvalidGroup.NotFound")
    return {"SecurityGroups": [_group_out(g) for g in found]}


def authorize_security_group_ingress(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    g = G.change_rules(call.svc, call.caller, _group_of(call, p["GroupId"])["id"], _rules(p), [])
    return {"Return": True, "SecurityGroupRules": [
        {"SecurityGroupRuleId": f"sgr-{r['id'][:17]}", "GroupId": g["id"], "IsEgress": False,
         "IpProtocol": perm["IpProtocol"], "FromPort": perm.get("FromPort"), "ToPort": perm.get("ToPort"),
         "CidrIpv4": r["source"]} for r, perm in zip(g["rules"], _permissions(g["rules"]), strict=True)]}


def revoke_security_group_ingress(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    G.change_rules(call.svc, call.caller, _group_of(call, p["GroupId"])["id"], [], _rules(p))
    return {"Return": True}


def delete_security_group(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    gid = p.get("GroupId")
    if not gid:
        raise E.MissingField("GroupId is required (group names are not unique across VPCs).", field="GroupId")
    G.delete_group(call.svc, call.caller, _group_of(call, gid)["id"])
    return {"Return": True, "GroupId": gid}


HANDLERS = {
    "CreateSecurityGroup": create_security_group,
    "DescribeSecurityGroups": describe_security_groups,
    "AuthorizeSecurityGroupIngress": authorize_security_group_ingress,
    "RevokeSecurityGroupIngress": revoke_security_group_ingress,
    "DeleteSecurityGroup": delete_security_group,
}
