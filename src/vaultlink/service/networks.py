"""Virtual-network handlers: vnets, subnets, peerings.

Record ``vnet`` (id ``vnet-…``; ``account_id`` = owning account, ``parent_id`` = "",
``name`` unique per account)::

    {"id", "account_id", "parent_id": "", "name", "region",
     "address_spaces": ["127.10.0.0/16", …],
     "subnets": [{"name", "cidr"}, …],        # allocated addresses: records of their own (addresses.py)
     "peerings": [other_vnet_id, …],          # always symmetric
     "tags", "created", "created_by"}

Address spaces can be added later (:func:`update_vnet`, `vaultlink vnet update --add-address-space`).

Role checks: ``network.write`` on the account to create a vnet, on the vnet
(``/accounts/A/vnets/ID``) to change or delete it, ``network.read`` to see it.
After every committed change the handlers call ``svc.fire(EndpointsChanged())``.
"""

from __future__ import annotations

from typing import Any

from vaultlink.domain import networks as net
from vaultlink.domain.endpoints import check_tags, raise_problems
from vaultlink.domain.identity import Scope, arn_resource, check_name, new_id
from vaultlink.domain.records import SubnetRecord, VnetRecord, find_endpoints, find_vnets, read_vnet
from vaultlink.errors import AlreadyExists, CidrOverlap, InvalidInput, NotFound, SubnetInUse, VnetInUse
from vaultlink.ports import Txn
from vaultlink.service import addresses
from vaultlink.service.core import Caller, Service, allowed, authorize
from vaultlink.service.events import EndpointsChanged, VnetDeleting
from vaultlink.service.identity import resolve_account


def vnet_scope(vnet: VnetRecord) -> Scope:
    return Scope(vnet["account_id"], "vnet", vnet["id"])


def find_vnet(txn: Txn, ref: str, account_id: str, field_name: str = "vnet") -> VnetRecord:
    """A vnet by id, ARN (``arn:…:ec2:REGION:ACCOUNT:vpc/ID``) or by name within ``account_id``."""
    by_arn = arn_resource(ref, "vpc")
    if by_arn is not None:
        rec = read_vnet(txn, by_arn[1])
        if rec is not None and rec["account_id"] == by_arn[0]:
            return rec
        raise NotFound(f"virtual network {ref!r} does not exist; `vaultlink vnet list` shows yours.",
                       field=field_name)
    rec = read_vnet(txn, ref) if ref.startswith("vnet-") else None
    if rec is not None:
        return rec
    found = find_vnets(txn, account_id=account_id, name=ref)
    if found:
        return found[0]
    raise NotFound(f"virtual network {ref!r} does not exist; `vaultlink vnet list` shows yours.", field=field_name)


def vnet_view(txn: Txn, vnet: VnetRecord, svc: Service | None = None) -> dict[str, Any]:
    peers = []
    for pid in vnet.get("peerings", []):
        other = read_vnet(txn, pid)
        peers.append({"vnet_id": pid, "name": other["name"] if other else None,
                      "resource_group": other.get("resource_group") if other else None})
    return {
        "id": vnet["id"],
        "arn": vnet.get("arn"),
        "name": vnet["name"],
        "account_id": vnet["account_id"],
        "region": vnet["region"],
        "address_spaces": list(vnet["address_spaces"]),
        "subnets": [net.subnet_view(s, addresses.allocated(txn, vnet["id"], s["name"])) for s in vnet["subnets"]],
        "peerings": peers,
        "endpoints": txn.count("endpoint", parent_id=vnet["id"]),
        "tags": vnet.get("tags", {}),
        "resource_group": vnet.get("resource_group"),
        "created": vnet.get("created"),
        "created_by": vnet.get("created_by"),
        **({"namespace": _namespace(svc, vnet)} if svc is not None and svc.config.fabric == "netns" else {}),
    }


def _namespace(svc: Service, vnet: VnetRecord) -> dict[str, str]:
    """Netns mode: where the vnet lives (``vaultlink vnet exec`` runs a command there)."""
    vm, dns = net.vnet_service_addresses(vnet["address_spaces"])
    return {"name": f"{svc.config.netns_prefix}{vnet['id']}", "vm_address": vm, "dns_address": dns}


def _others(
    txn: Txn, account_id: str, mode: str, exclude: VnetRecord | None = None
) -> list[tuple[str | None, str]]:
    """(vnet name, cidr) of every vnet that shares an address plane with a new or changed one; the name only
    for the caller's own account (another tenant's vnet names and ranges are not revealed). In netns mode
    each vnet has its own plane: only the vnets peered with it count."""
    vnets = find_vnets(txn)
    if mode == "netns":
        peers = set(exclude.get("peerings", [])) if exclude else set()
        vnets = [v for v in vnets if v["id"] in peers]
    return [(v["name"] if v["account_id"] == account_id else None, c)
            for v in vnets if exclude is None or v["id"] != exclude["id"] for c in v["address_spaces"]]


def create_vnet(
    svc: Service,
    caller: Caller,
    name: str,
    region: str,
    address_spaces: list[str],
    subnets: list[dict[str, str]] | None = None,
    tags: dict[str, str] | None = None,
    account_id: str | None = None,
    resource_group: str | None = None,
) -> dict[str, Any]:
    check_name(name, "name", "virtual network name")
    reg = svc.catalog.get(region)
    raise_problems(check_tags(tags))
    acct = resolve_account(caller, account_id)
    with svc.store.transaction() as txn:
        txn.require("account", acct)
        authorize(txn, caller, "network.write", Scope(acct))
        if find_vnets(txn, account_id=acct, name=name):
            raise AlreadyExists(f"a virtual network named {name!r} already exists; pick another name.", field="name")
        spaces = net.check_address_spaces(address_spaces, _others(txn, acct, svc.config.fabric), svc.config.fabric,
                                          svc.config.host_networks)
        subs: list[SubnetRecord] = []
        for s in subnets or []:
            subs.append(_new_subnet(s.get("name"), s.get("cidr"), spaces, subs))
        rec: VnetRecord = {
            "id": new_id("vnet-"),
            "account_id": acct,
            "parent_id": "",
            "name": name,
            "region": reg.name,
            "address_spaces": spaces,
            "subnets": subs,
            "peerings": [],
            "tags": dict(tags or {}),
            "created": svc.clock.now(),
            "created_by": caller.arn,
        }
        rec["arn"] = f"arn:{reg.partition.name}:ec2:{reg.name}:{acct}:vpc/{rec['id']}"
        if resource_group is not None:  # the ARM resource group (service/resource_groups.py)
            rec["resource_group"] = resource_group
        txn.insert("vnet", rec["id"], rec)
        out = vnet_view(txn, rec, svc)
    svc.fire(EndpointsChanged())
    return out


def _new_subnet(name: Any, cidr: Any, spaces: list[str], existing: list[SubnetRecord]) -> SubnetRecord:
    check_name(name, "subnet", "subnet name")
    if any(s["name"] == name for s in existing):
        raise AlreadyExists(f"subnet {name!r} already exists in this vnet; pick another name.", field="subnet")
    return net.new_subnet(name, net.check_subnet(cidr, spaces, existing))


def list_vnets(svc: Service, caller: Caller, account_id: str | None = None) -> list[dict[str, Any]]:
    acct = resolve_account(caller, account_id)
    with svc.store.transaction() as txn:
        return [
            vnet_view(txn, v, svc)
            for v in find_vnets(txn, account_id=acct)
            if allowed(txn, caller, "network.read", vnet_scope(v))
        ]


def get_vnet(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        v = find_vnet(txn, ref, caller.account_id)
        authorize(txn, caller, "network.read", vnet_scope(v))
        return vnet_view(txn, v, svc)


def delete_vnet(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        v = find_vnet(txn, ref, caller.account_id)
        authorize(txn, caller, "network.write", vnet_scope(v))
        eps = find_endpoints(txn, parent_id=v["id"])
        if eps:
            raise VnetInUse(
                f"virtual network {v['name']} holds {len(eps)} private endpoint(s) "
                f"({', '.join(e['name'] for e in eps[:5])}); delete them first.",
                endpoints=[e["id"] for e in eps],
            )
        for pid in v.get("peerings", []):
            other = read_vnet(txn, pid)
            if other is not None:
                other["peerings"] = [x for x in other.get("peerings", []) if x != v["id"]]
                txn.update("vnet", pid, other)
        svc.fire(VnetDeleting(txn, v))
        for sub in v["subnets"]:
            addresses.forget_subnet(txn, v["id"], sub["name"])
        txn.delete("vnet", v["id"])
    svc.fire(EndpointsChanged())
    return {"id": v["id"], "name": v["name"], "deleted": True}


def update_vnet(svc: Service, caller: Caller, ref: str, add_address_spaces: list[str]) -> dict[str, Any]:
    """Add address spaces to a vnet, with the checks of creation (range, overlap with its own spaces
    and with every other vnet's, at most 16). Peered vnets, security groups' ``VirtualNetwork`` and
    source classification follow at once (``endpoints`` fires)."""
    if not isinstance(add_address_spaces, list) or not add_address_spaces:
        raise InvalidInput(
            "give at least one address space to add, e.g. --add-address-space 127.11.0.0/16.",
            field="add_address_spaces",
        )
    with svc.store.transaction() as txn:
        v = find_vnet(txn, ref, caller.account_id)
        authorize(txn, caller, "network.write", vnet_scope(v))
        for cidr in add_address_spaces:
            if isinstance(cidr, str) and cidr.strip() in v["address_spaces"]:
                raise AlreadyExists(
                    f"virtual network {v['name']} already has address space {cidr.strip()}.",
                    field="add_address_spaces",
                )
        others = _others(txn, v["account_id"], svc.config.fabric, v)
        spaces = net.check_address_spaces([*v["address_spaces"], *add_address_spaces], others, svc.config.fabric,
                                          svc.config.host_networks)
        v["address_spaces"] = spaces
        txn.update("vnet", v["id"], v)
        out = vnet_view(txn, v, svc)
    svc.fire(EndpointsChanged())
    return out


# --- subnets ---------------------------------------------------------------------
def add_subnet(svc: Service, caller: Caller, ref: str, name: str, cidr: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        v = find_vnet(txn, ref, caller.account_id)
        authorize(txn, caller, "network.write", vnet_scope(v))
        sub = _new_subnet(name, cidr, v["address_spaces"], v["subnets"])
        v["subnets"].append(sub)
        txn.update("vnet", v["id"], v)
        out = net.subnet_view(sub, addresses.allocated(txn, v["id"], sub["name"]))
    svc.fire(EndpointsChanged())
    return out


def list_subnets(svc: Service, caller: Caller, ref: str) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        v = find_vnet(txn, ref, caller.account_id)
        authorize(txn, caller, "network.read", vnet_scope(v))
        return [net.subnet_view(s, addresses.allocated(txn, v["id"], s["name"])) for s in v["subnets"]]


def delete_subnet(svc: Service, caller: Caller, ref: str, name: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        v = find_vnet(txn, ref, caller.account_id)
        authorize(txn, caller, "network.write", vnet_scope(v))
        sub = next((s for s in v["subnets"] if s["name"] == name), None)
        if sub is None:
            raise NotFound(f"subnet {name!r} is not in {v['name']}.", field="subnet")
        held = addresses.allocated(txn, v["id"], name)
        if held:
            owners = sorted(set(held.values()))
            raise SubnetInUse(
                f"subnet {name} holds {len(held)} endpoint address(es) "
                f"({', '.join(owners[:5])}); delete those endpoints first.",
                endpoints=owners,
            )
        addresses.forget_subnet(txn, v["id"], name)
        v["subnets"] = [s for s in v["subnets"] if s["name"] != name]
        txn.update("vnet", v["id"], v)
    svc.fire(EndpointsChanged())
    return {"vnet_id": v["id"], "name": name, "deleted": True}


# --- peering -------------------------------------------------------------------------
def _pair(txn: Txn, caller: Caller, ref: str, other_ref: str) -> tuple[VnetRecord, VnetRecord]:
    a = find_vnet(txn, ref, caller.account_id)
    b = find_vnet(txn, other_ref, caller.account_id, "peer")
    if a["id"] == b["id"]:
        raise InvalidInput("a virtual network cannot be peered with itself.", field="peer")
    authorize(txn, caller, "network.write", vnet_scope(a))
    authorize(txn, caller, "network.write", vnet_scope(b))
    return a, b


def peer(svc: Service, caller: Caller, ref: str, other_ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        a, b = _pair(txn, caller, ref, other_ref)
        if b["id"] in a.get("peerings", []):
            raise AlreadyExists(f"{a['name']} and {b['name']} are already peered.", field="peer")
        clash = net.spaces_overlap(a["address_spaces"], b["address_spaces"])
        if clash:
            raise CidrOverlap(f"{clash[0]} and {clash[1]} overlap; peered vnets must not overlap.", field="peer")
        a.setdefault("peerings", []).append(b["id"])
        b.setdefault("peerings", []).append(a["id"])
        txn.update("vnet", a["id"], a)
        txn.update("vnet", b["id"], b)
        out = vnet_view(txn, a, svc)
    svc.fire(EndpointsChanged())
    return out


def unpeer(svc: Service, caller: Caller, ref: str, other_ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        a, b = _pair(txn, caller, ref, other_ref)
        if b["id"] not in a.get("peerings", []):
            raise NotFound(f"{a['name']} and {b['name']} are not peered.", field="peer")
        a["peerings"] = [x for x in a["peerings"] if x != b["id"]]
        b["peerings"] = [x for x in b.get("peerings", []) if x != a["id"]]
        txn.update("vnet", a["id"], a)
        txn.update("vnet", b["id"], b)
        out = vnet_view(txn, a, svc)
    svc.fire(EndpointsChanged())
    return out
