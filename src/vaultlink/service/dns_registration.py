"""Azure's auto-registration of virtual machines in private DNS: a zone link with ``registration`` gets an A
record per machine registered from its vnet (``<hostname>.<zone>``), kept in line as machines come and go
(``ContainersChanged``) and as links change (``RegistrationLinksChanged``). An endpoint's record of the same
name wins (``dns_auto``)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from vaultlink.dns import names
from vaultlink.domain.records import DnsZoneRecord, VnetRecord, find_vnets, find_zones
from vaultlink.service.core import Service
from vaultlink.service.events import DnsChanged

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # (account id, resource group, zone name): one zone instance


def host_label(hostname: object) -> str | None:
    """A machine's hostname as one DNS label (its first label, lower-case), or None when it cannot be one."""
    if not isinstance(hostname, str):
        return None
    label = hostname.split(".", 1)[0].strip().lower()
    return label if names.is_valid_label(label) else None


def registration_records(zones: list[DnsZoneRecord], vnets: dict[str, VnetRecord],
                         containers: list[dict[str, Any]]) -> dict[Key, dict[str, tuple[str, str]]]:
    """Azure's auto-registration: for every zone link with ``registration``, an A record per machine
    registered from that vnet (``<hostname>.<zone>`` → its address, ``managed_by`` ``registration:<id>``).
    The oldest registration of a hostname keeps the name."""
    out: dict[Key, dict[str, tuple[str, str]]] = {}
    for z in zones:
        key: Key = (z["account_id"], z.get("parent_id") or "", z["name"])
        for lk in z.get("links") or []:
            if not lk.get("registration") or lk["vnet_id"] not in vnets:
                continue
            for c in sorted(containers, key=lambda c: c.get("created") or 0):
                label = host_label(c.get("hostname"))
                if c.get("vnet_id") != lk["vnet_id"] or label is None or not c.get("source_ip") \
                        or c.get("status") == "SoftDeleted":
                    continue
                out.setdefault(key, {}).setdefault(f"{label}.{z['name']}", (str(c["source_ip"]),
                                                                             f"registration:{c['id']}"))
    return out


REGISTRATION = "registration:"


def reconcile_registrations(svc: Service) -> int:
    """Bring the machines' records (zone links with registration) in line, leaving every other record and
    link as it is (a user's removal of an automatic link stays removed until endpoints change); returns
    how many zones changed."""
    changed = 0
    with svc.store.transaction() as txn:
        stored = find_zones(txn)
        vnets = {v["id"]: v for v in find_vnets(txn)}
        want = registration_records(stored, vnets, txn.find("container"))
        for z in stored:
            wanted_here = want.get((z["account_id"], z.get("parent_id") or "", z["name"]), {})
            keep = [r for r in z["records"] if not str(r.get("managed_by") or "").startswith(REGISTRATION)]
            taken = {r["name"] for r in keep}
            records = keep + [{"name": fqdn, "type": "A", "ttl": 10, "values": [ip], "managed_by": owner}
                              for fqdn, (ip, owner) in sorted(wanted_here.items()) if fqdn not in taken]
            if sorted(map(str, records)) == sorted(map(str, z["records"])):
                continue
            z["records"], z["serial"] = records, int(z.get("serial", 1)) + 1
            txn.update("dns_zone", z["id"], z)
            changed += 1
    return changed


class RegistrationRecords:
    """``ContainersChanged`` / ``RegistrationLinksChanged``: the machines' records only, then ``DnsChanged``."""

    def __init__(self, svc: Service, lock: threading.Lock) -> None:
        self.svc, self.lock = svc, lock

    def __call__(self, _event: object) -> None:
        if self.svc.remote:
            return
        try:
            with self.lock:
                changed = reconcile_registrations(self.svc)
        except Exception:
            log.exception("dns: machine registration records failed")
            return
        if changed:
            self.svc.fire(DnsChanged())
