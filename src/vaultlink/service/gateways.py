"""The backup gateway (issue #19): activation, the appliance's credential and heartbeat, hypervisors and
the virtual machines the appliance reports. The rules are in ``domain/gateways.py``; the native routes in
``api/routes_gateways.py``; boto3's ``backup-gateway`` operations in ``compat/aws/gateway_api.py``.

Security: activation and claim are the only calls without a credential. Activation stores nothing but a
key, the hash of the appliance's claim secret, where it came from and when it expires (bounded in all and
per source address, and each call takes from the address's anonymous bucket). A key becomes a gateway
only when an operator with ``backup.operate`` on the account gives it to ``CreateGateway`` in the
key's region; the gateway's credential then goes once to the holder of the claim secret, and only its
hash is kept. The credential acts for the gateway alone: its heartbeat, which replaces it once a day.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from vaultlink.domain import gateways as G
from vaultlink.domain import rotation as R
from vaultlink.domain.identity import Scope
from vaultlink.errors import (
    AccessDenied,
    Conflict,
    GatewayNotCreated,
    InvalidApiKey,
    InvalidInput,
    NotFound,
    RequestLimitExceeded,
)
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.events import KeysChanged

SOFTWARE_VERSION = "vaultlink-gateway-1"


def _partition(svc: Service, region: str) -> str:
    r = svc.catalog.regions.get(region)
    return r.partition.name if r is not None else "aws"


def _region(svc: Service, region: str | None) -> str:
    if not region or region not in svc.catalog.regions:
        raise InvalidInput(f"region {region!r} is not one of this service's regions (`vaultlink region list`).",
                           field="region")
    return region


# --- the appliance: activation and claim (no credential) ----------------------------------------------------
def start_activation(svc: Service, claim_secret_hash: str, region: str | None, source_ip: str | None,
                     endpoint_id: str | None) -> dict[str, Any]:
    """A new activation key for an appliance; ``claim_secret_hash`` is what its claim must match."""
    if not isinstance(claim_secret_hash, str) or len(claim_secret_hash) != 64:
        raise InvalidInput("claim_hash is the SHA-256 (hex) of the appliance's claim secret.", field="claim_hash")
    region = _region(svc, region)
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        pending = txn.find("gateway_activation")
        for a in pending:
            if a["expires"] < now:
                txn.delete("gateway_activation", a["id"])
        live = [a for a in pending if a["expires"] >= now]
        if len(live) >= G.MAX_PENDING or sum(a.get("source_ip") == source_ip for a in live) \
                >= G.MAX_PENDING_PER_SOURCE:
            raise RequestLimitExceeded("too many gateway activations are pending; give the keys already issued to "
                                       "CreateGateway, or wait until they expire (30 minutes).")
        key = G.new_activation_key()
        rec = {"id": key, "account_id": "", "parent_id": "", "name": None, "claim_hash": claim_secret_hash,
               "region": region, "source_ip": source_ip, "endpoint_id": endpoint_id, "created": now,
               "expires": now + G.ACTIVATION_TTL, "gateway_id": None}
        txn.insert("gateway_activation", key, rec)
    return {"activation_key": key, "region": region, "expires": rec["expires"]}


def claim(svc: Service, key: str, secret: str) -> dict[str, Any]:
    """The gateway's credential, once, to the holder of the claim secret; ``GatewayNotCreated`` (a
    Conflict) until an operator has created the gateway with the key."""
    key, secret = G.check_activation_key(key), G.check_claim_secret(secret)
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        act = txn.get("gateway_activation", key)
        if act is None or act["expires"] < now:
            raise NotFound(f"activation key {key} is unknown or expired: run `vaultlink gateway activate` again.")
        if not hmac.compare_digest(act["claim_hash"], G.claim_hash(secret)):
            raise AccessDenied("the claim secret does not match this activation key's; only the appliance that "
                               "asked for the key can claim its gateway.")
        if act["gateway_id"] is None:
            raise GatewayNotCreated(f"no gateway was created with activation key {key} yet: give it to "
                                    "CreateGateway (`aws backup-gateway create-gateway --activation-key …` or "
                                    "`vaultlink gateway create`).")
        gw = txn.require("gateway", act["gateway_id"])
        token = secrets.token_urlsafe(32)
        gw["credential_hash"] = G.claim_hash(token)
        gw["claimed"] = now
        txn.update("gateway", gw["id"], gw)
        txn.delete("gateway_activation", key)
    svc.fire(KeysChanged())
    return {"gateway_arn": gw["arn"], "gateway_id": gw["id"], "region": gw["region"],
            "credential": G.credential_of(gw["id"], token)}


def authenticate_gateway(svc: Service, token: str) -> Caller | None:
    """The gateway a ``vlgw_<id>.<secret>`` credential authenticates; None when it does not. A heartbeat's new
    credential becomes current at its first use; the one it replaced serves ``rotation.GRACE`` seconds more."""
    body = token[len(G.CREDENTIAL_PREFIX) + 1:]
    gid, sep, secret = body.partition(".")
    if not sep or not gid.startswith("bgw-") or len(gid) > 40:
        return None
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        gw = txn.get("gateway", gid)
        found = R.which(gw, G.claim_hash(secret), "credential_hash") if gw is not None else None
        if gw is None or found is None:
            return None
        ends = R.works_until(gw, found, now)
        if ends is None:
            raise InvalidApiKey(f"this credential of gateway {gid} was replaced by a newer one (in the appliance's "
                                "gateway.json); if no appliance runs with the old one, a copy of it is in use.")
        if found == R.NEXT:
            R.promote(gw, "credential_hash", now)
            txn.update("gateway", gid, gw)
    if found == R.NEXT:
        svc.fire(KeysChanged())  # every server's credential cache forgets the replaced one
    return Caller(gw["id"], gw["account_id"], gw["arn"], gw["name"], kind="gateway", credential_id=gw["id"],
                  expires=ends)


def heartbeat(svc: Service, caller: Caller, vms: Any, version: Any = None) -> dict[str, Any]:
    """The appliance's beat: its inventory in, its hypervisors and maintenance window out."""
    if caller.kind != "gateway":
        raise AccessDenied("the heartbeat takes the gateway's own credential (vlgw_…).")
    inventory = G.check_inventory(vms)
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        gw = txn.get("gateway", caller.principal_id)
        if gw is None:
            raise InvalidApiKey("this gateway was deleted; activate the appliance again.")
        gw["last_seen"] = now
        if isinstance(version, str) and len(version) <= 40:
            gw["software_version"] = version
        credential = G.next_credential(gw, now)
        txn.update("gateway", gw["id"], gw)
        hyps = _served_by(txn, gw)
        mine = {h["id"]: h for h in hyps}
        for h in hyps:
            _replace_vms(txn, svc, gw, h, [v for v in inventory if v["hypervisor"] == h["id"]], now)
        unknown = sorted({v["hypervisor"] for v in inventory} - set(mine))
    return {"gateway_arn": gw["arn"], "interval": G.HEARTBEAT_SECONDS, "ignored_hypervisors": unknown,
            "hypervisors": [{"id": h["id"], "arn": h["arn"], "name": h["name"], "host": h["host"]} for h in hyps],
            "maintenance": gw.get("maintenance"), **({"credential": credential} if credential else {})}


def _replace_vms(txn: Txn, svc: Service, gw: dict[str, Any], hyp: dict[str, Any], vms: list[dict[str, Any]],
                 now: float) -> None:
    old = {v["id"]: v for v in txn.find("gateway_vm", parent_id=hyp["id"])}
    part = _partition(svc, gw["region"])
    for vm in vms:
        vid = G.vm_id(hyp["id"], vm["name"])
        rec = {"id": vid, "account_id": gw["account_id"], "parent_id": hyp["id"], "name": vm["name"],
               "arn": G.arn(part, gw["region"], gw["account_id"], "vm", vid), "format": vm["format"],
               "size": vm["size"], "path": f"{hyp['host']}/{vm['name']}", "gateway_id": gw["id"],
               "last_backup": vm["last_backup"], "seen": now}
        if vid in old:
            txn.update("gateway_vm", vid, rec)
            del old[vid]
        else:
            txn.insert("gateway_vm", vid, rec)
    for vid in old:  # an image no longer in the directory
        txn.delete("gateway_vm", vid)


# --- the operator: gateways ---------------------------------------------------------------------------------
def _account(caller: Caller) -> Scope:
    return Scope(caller.account_id)


def _gateway_out(svc: Service, gw: dict[str, Any]) -> dict[str, Any]:
    now = svc.clock.now()
    return {**{k: v for k, v in gw.items() if k not in ("credential_hash", "next_hash", "retired_hash", "parent_id")},
            "state": G.gateway_state(gw.get("last_seen"), now)}


def create_gateway(svc: Service, caller: Caller, key: Any, name: Any, gtype: Any,
                   region: str | None) -> dict[str, Any]:
    """A gateway from an appliance's activation key, in the key's region (``region``: must be it)."""
    key, name, gtype = G.check_activation_key(key), G.check_display_name(name), G.check_gateway_type(gtype)
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.operate", _account(caller))
        act = txn.get("gateway_activation", key)
        if act is None or act["expires"] < now:
            raise NotFound(f"activation key {key} is unknown or expired; on the appliance, run "
                           "`vaultlink gateway activate` for a new one.", field="ActivationKey")
        if act["gateway_id"] is not None:
            raise Conflict(f"activation key {key} was already used to create gateway {act['gateway_id']}.",
                           field="ActivationKey")
        region = region or act["region"]
        if act["region"] != region:
            raise InvalidInput(f"activation key {key} was issued in {act['region']}, not {region}: create the "
                               f"gateway in {act['region']}.", field="ActivationKey")
        gid = "bgw-" + secrets.token_hex(8).upper()
        rec = {"id": gid, "account_id": caller.account_id, "parent_id": "", "name": name,
               "arn": G.arn(_partition(svc, region), region, caller.account_id, "gateway", gid),
               "type": gtype, "region": region, "endpoint_id": act["endpoint_id"], "created": now,
               "last_seen": None, "credential_hash": None, "hypervisor_id": None,
               "maintenance": {"HourOfDay": 3, "MinuteOfHour": 0, "DayOfWeek": 0},
               "software_version": SOFTWARE_VERSION, "owner": caller.arn}
        txn.insert("gateway", gid, rec)
        act["gateway_id"], act["account_id"] = gid, caller.account_id
        act["expires"] = now + G.CLAIM_TTL
        txn.update("gateway_activation", key, act)
    return _gateway_out(svc, rec)


def _find_gateway(txn: Txn, caller: Caller, ref: Any) -> dict[str, Any]:
    gid = G.id_of_arn(ref, "gateway")
    gw = txn.get("gateway", gid)
    if gw is None or gw["account_id"] != caller.account_id:
        raise NotFound(f"gateway {gid} does not exist in account {caller.account_id}.", field="GatewayArn")
    return gw


def list_gateways(svc: Service, caller: Caller, region: str | None = None) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.read", _account(caller))
        gws = txn.find("gateway", account_id=caller.account_id)
    return [_gateway_out(svc, g) for g in gws if region in (None, g["region"])]


def get_gateway(svc: Service, caller: Caller, ref: Any) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.read", _account(caller))
        return _gateway_out(svc, _find_gateway(txn, caller, ref))


def update_gateway(svc: Service, caller: Caller, ref: Any, name: Any = None,
                   maintenance: dict[str, Any] | None = None) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.operate", _account(caller))
        gw = _find_gateway(txn, caller, ref)
        if name is not None:
            gw["name"] = G.check_display_name(name)
        if maintenance is not None:
            gw["maintenance"] = G.check_maintenance(maintenance.get("HourOfDay"), maintenance.get("MinuteOfHour"),
                                                    maintenance.get("DayOfWeek"), maintenance.get("DayOfMonth"))
        txn.update("gateway", gw["id"], gw)
    return _gateway_out(svc, gw)


def delete_gateway(svc: Service, caller: Caller, ref: Any) -> dict[str, Any]:
    """Delete the gateway: its credential stops at once (the appliance must activate again)."""
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.operate", _account(caller))
        gw = _find_gateway(txn, caller, ref)
        _release(txn, gw)
        txn.delete("gateway", gw["id"])
    svc.fire(KeysChanged())
    return _gateway_out(svc, gw)


def _served_by(txn: Txn, gw: dict[str, Any]) -> list[dict[str, Any]]:
    """The hypervisors associated with gateway ``gw``."""
    return [h for h in txn.find("gateway_hypervisor", account_id=gw["account_id"]) if h.get("gateway_id") == gw["id"]]


def _release(txn: Txn, gw: dict[str, Any]) -> None:
    """Disassociate every hypervisor from gateway ``gw``."""
    for h in _served_by(txn, gw):
        h["gateway_id"] = None
        txn.update("gateway_hypervisor", h["id"], h)


def associate(svc: Service, caller: Caller, gateway_ref: Any, hypervisor_ref: Any) -> dict[str, Any]:
    """Associate a gateway with a hypervisor (AWS ``AssociateGatewayToServer``): one gateway serves it."""
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.operate", _account(caller))
        gw = _find_gateway(txn, caller, gateway_ref)
        hyp = _find_hypervisor(txn, caller, hypervisor_ref)
        if hyp["region"] != gw["region"]:
            raise InvalidInput(f"hypervisor {hyp['id']} is in {hyp['region']}, gateway {gw['id']} in "
                               f"{gw['region']}.", field="ServerArn")
        if hyp.get("gateway_id") not in (None, gw["id"]):
            raise Conflict(f"hypervisor {hyp['id']} is associated with gateway {hyp['gateway_id']}; disassociate "
                           "it first.", field="ServerArn")
        hyp["gateway_id"], gw["hypervisor_id"] = gw["id"], hyp["id"]
        txn.update("gateway_hypervisor", hyp["id"], hyp)
        txn.update("gateway", gw["id"], gw)
    return _gateway_out(svc, gw)


def disassociate(svc: Service, caller: Caller, gateway_ref: Any) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.operate", _account(caller))
        gw = _find_gateway(txn, caller, gateway_ref)
        _release(txn, gw)
        gw["hypervisor_id"] = None
        txn.update("gateway", gw["id"], gw)
    return _gateway_out(svc, gw)


# --- hypervisors and their virtual machines -----------------------------------------------------------------
def _hyp_out(svc: Service, txn: Txn, h: dict[str, Any]) -> dict[str, Any]:
    state = "PENDING"
    if h.get("gateway_id"):
        gw = txn.get("gateway", h["gateway_id"])
        state = {"ONLINE": "ONLINE", "OFFLINE": "OFFLINE"}.get(
            G.gateway_state(gw.get("last_seen") if gw else None, svc.clock.now()), "PENDING")
    return {**{k: v for k, v in h.items() if k != "parent_id"}, "state": state}


def _find_hypervisor(txn: Txn, caller: Caller, ref: Any) -> dict[str, Any]:
    hid = G.id_of_arn(ref, "hypervisor")
    h = txn.get("gateway_hypervisor", hid)
    if h is None or h["account_id"] != caller.account_id:
        raise NotFound(f"hypervisor {hid} does not exist in account {caller.account_id}.", field="HypervisorArn")
    return h


def import_hypervisor(svc: Service, caller: Caller, name: Any, host: Any, region: str,
                      username: Any = None) -> dict[str, Any]:
    """A hypervisor: a directory of raw or qcow2 images on the appliance. Credentials are not stored (a
    directory has no login); a username is kept for display."""
    name, path, region = G.check_display_name(name, "Name"), G.check_host(host), _region(svc, region)
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.operate", _account(caller))
        for h in txn.find("gateway_hypervisor", account_id=caller.account_id):
            if h["name"] == name and h["region"] == region:
                raise Conflict(f"a hypervisor named {name} exists in {region}.", field="Name")
        hid = "hype-" + secrets.token_hex(8).upper()
        rec = {"id": hid, "account_id": caller.account_id, "parent_id": "", "name": name, "host": path,
               "region": region, "arn": G.arn(_partition(svc, region), region, caller.account_id, "hypervisor", hid),
               "gateway_id": None, "username": username if isinstance(username, str) else None,
               "created": svc.clock.now()}
        txn.insert("gateway_hypervisor", hid, rec)
        return _hyp_out(svc, txn, rec)


def list_hypervisors(svc: Service, caller: Caller, region: str | None = None) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.read", _account(caller))
        return [_hyp_out(svc, txn, h) for h in txn.find("gateway_hypervisor", account_id=caller.account_id)
                if region in (None, h["region"])]


def get_hypervisor(svc: Service, caller: Caller, ref: Any) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.read", _account(caller))
        return _hyp_out(svc, txn, _find_hypervisor(txn, caller, ref))


def update_hypervisor(svc: Service, caller: Caller, ref: Any, name: Any = None, host: Any = None) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.operate", _account(caller))
        h = _find_hypervisor(txn, caller, ref)
        if name is not None:
            h["name"] = G.check_display_name(name, "Name")
        if host is not None:
            h["host"] = G.check_host(host)
        txn.update("gateway_hypervisor", h["id"], h)
        return _hyp_out(svc, txn, h)


def delete_hypervisor(svc: Service, caller: Caller, ref: Any) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.operate", _account(caller))
        h = _find_hypervisor(txn, caller, ref)
        if h.get("gateway_id"):
            gw = txn.get("gateway", h["gateway_id"])
            if gw is not None:
                gw["hypervisor_id"] = None
                txn.update("gateway", gw["id"], gw)
        for vm in txn.find("gateway_vm", parent_id=h["id"]):
            txn.delete("gateway_vm", vm["id"])
        txn.delete("gateway_hypervisor", h["id"])
        return h


def list_vms(svc: Service, caller: Caller, hypervisor_ref: Any = None,
             region: str | None = None) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.read", _account(caller))
        if hypervisor_ref is not None:
            hyps = [_find_hypervisor(txn, caller, hypervisor_ref)]
        else:
            hyps = [h for h in txn.find("gateway_hypervisor", account_id=caller.account_id)
                    if region in (None, h["region"])]
        return [vm for h in hyps for vm in txn.find("gateway_vm", parent_id=h["id"])]


def get_vm(svc: Service, caller: Caller, ref: Any) -> dict[str, Any]:
    vid = G.id_of_arn(ref, "vm")
    with svc.store.transaction() as txn:
        authorize(txn, caller, "backup.read", _account(caller))
        vm = txn.get("gateway_vm", vid)
    if vm is None or vm["account_id"] != caller.account_id:
        raise NotFound(f"virtual machine {vid} does not exist (the appliance reports its hypervisor's images at "
                       "each heartbeat).", field="ResourceArn")
    return vm
