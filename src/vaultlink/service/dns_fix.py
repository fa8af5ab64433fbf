"""The DNS doctor's fixes, applied (the console's one-click Fix): each problem kind runs the same service
calls its CLI fix names (zone create, link add, record set/delete, endpoint sync, role assign), as the caller,
so their rights checks and events apply unchanged. ``fix_all`` repeats doctor → fix until nothing is left,
bounded, stopping when a problem does not go away."""

from __future__ import annotations

from typing import Any

from vaultlink.errors import InvalidInput, NotFound
from vaultlink.service import dns, endpoint_settings, identity
from vaultlink.service.core import Caller, Service
from vaultlink.service.dns_doctor import doctor
from vaultlink.service.dns_zones import relative
from vaultlink.service.vault_identity import IDENTITY_ROLE

MAX_ROUNDS = 50


def _apply(svc: Service, caller: Caller, p: dict[str, Any]) -> None:
    kind, zone = str(p["problem"]), str(p.get("zone") or "")
    if kind == "zone-missing":
        dns.create_zone(svc, caller, zone)
    elif kind == "link-missing" and p.get("resource_group"):  # a zone instance of the vnet's own
        group = p["resource_group"]
        ref = f"{group}:{zone}"
        try:
            dns.get_zone(svc, caller, ref)
        except NotFound:
            dns.create_zone(svc, caller, zone, resource_group=group)
        dns.add_link(svc, caller, ref, p["vnet"])
        dns.set_record(svc, caller, ref, relative(p["fqdn"], zone), "A", [p["ip"]])
    elif kind in ("link-missing", "peer-link-missing"):
        dns.add_link(svc, caller, zone, p["vnet"])
    elif kind in ("record-missing", "record-wrong"):
        dns.set_record(svc, caller, p["zone_ref"], relative(p["fqdn"], zone), "A", [p["ip"]])
    elif kind == "record-conflict":
        dns.delete_record(svc, caller, p["zone_ref"], relative(p["fqdn"], zone), "CNAME")
        dns.set_record(svc, caller, p["zone_ref"], relative(p["fqdn"], zone), "A", [p["ip"]])
    elif kind == "storage-ip-missing":
        endpoint_settings.sync_endpoint(svc, caller, p["endpoint_id"])
    elif kind == "identity-role-missing":
        identity.assign_role(svc, caller, p["principal"], IDENTITY_ROLE, p["scope"])
    else:
        raise InvalidInput(f"the doctor cannot apply a {kind} fix itself; run: {p['fix']}")


def fix(svc: Service, caller: Caller, vault_ref: str, key: str) -> dict[str, Any]:
    """Apply the fix of the doctor's problem ``key`` (``*``: every problem). Returns what was fixed and what is
    left (the doctor's report after)."""
    fixed: list[str] = []
    tried: set[str] = set()
    for _ in range(MAX_ROUNDS):
        report = doctor(svc, caller, vault_ref)
        todo = [p for p in report["problems"] if (key == "*" or p["key"] == key) and p["key"] not in tried]
        if not todo:
            if key != "*" and not fixed and key not in tried:
                raise NotFound(f"the doctor reports no problem {key!r} for vault {report['vault']} (fixed already?).",
                               field="key")
            return {"vault": report["vault"], "fixed": fixed, "left": report["problems"], "ok": report["ok"]}
        p = todo[0]
        tried.add(p["key"])
        _apply(svc, caller, p)
        fixed.append(p["message"])
    report = doctor(svc, caller, vault_ref)
    return {"vault": report["vault"], "fixed": fixed, "left": report["problems"], "ok": report["ok"]}
