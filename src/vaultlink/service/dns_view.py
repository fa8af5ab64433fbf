"""Build the DnsView the responder serves from the store (one read transaction).

- private zones: every stored ``dns_zone`` with its records and vnet links;
- service-managed zones: a service endpoint with private DNS makes ``backup.<R>.D`` (or
  ``backup-gateway.<R>.D``) answer its IPs inside its own vnet (link name
  ``service-endpoint:<name>``);
- vnets: address spaces, to classify the asker;
- public side: every vault's and storage account's public name CNAMEs to its privatelink name
  (answered with the public address outside linked vnets); endpoint-specific names
  (``<endpoint-id>.<service>.<R>.vpce.D``) always resolve to the endpoint's IPs; the regional
  names ``backup.<R>.D`` answer the public address.

Bad data never breaks the view: a zone the engine refuses, or a second zone of the same name
linked to one vnet, is left out (and logged) so that the rest keeps being served.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from vaultlink.dns import model, names
from vaultlink.domain.lists import changed, extends
from vaultlink.domain.networks import routing_domain
from vaultlink.domain.records import DnsZoneRecord, EndpointRecord, VaultRecord, VnetRecord
from vaultlink.errors import VaultlinkError
from vaultlink.service.core import Service
from vaultlink.service.dns_zones import engine_zone

log = logging.getLogger(__name__)


def _public_address(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        return "127.0.0.1"


def _ipv4s(e: EndpointRecord) -> list[str]:
    out = []
    for cfg in e.get("ip_configs") or []:
        try:
            out.append(str(ipaddress.IPv4Address(cfg.get("ip"))))
        except ValueError:
            continue
    return out


def _dedupe_links(zones: list[model.PrivateZone]) -> list[model.PrivateZone]:
    seen: set[tuple[str, str]] = set()
    out = []
    for z in zones:
        keep = []
        for lk in z.links:
            if (z.name, lk.vnet_id) in seen:
                log.warning("dns: vnet %s links two zones named %s; serving the first", lk.vnet_id, z.name)
                continue
            seen.add((z.name, lk.vnet_id))
            keep.append(lk)
        out.append(z if len(keep) == len(z.links) else replace(z, links=tuple(keep)))
    return out


def service_zones(endpoints: Sequence[EndpointRecord], domain: str) -> list[model.PrivateZone]:
    out = []
    for e in endpoints:
        service = e.get("service")
        if e.get("kind") != "service" or not e.get("private_dns_enabled") or service is None:
            continue
        ips = _ipv4s(e)
        if not ips:
            continue
        try:
            name = names.regional_service_name(service, e["region"], domain)
            z = model.service_endpoint_zone(name, e["vnet_id"], ips, domain=domain)
        except VaultlinkError as err:
            log.warning("dns: endpoint %s: %s", e.get("id"), err.message)
            continue
        link = model.VnetLink(e["vnet_id"], True, f"service-endpoint:{e.get('name', e['id'])}")
        out.append(replace(z, links=(link,)))
    return out


def _vault_names(svc: Service, v: VaultRecord) -> dict[str, str]:
    """A vault's public names, each with its privatelink CNAME target."""
    domain = svc.config.domain
    out: dict[str, str] = {}
    pairs: list[tuple[list[tuple[str, str]], list[str]]] = [([(v["id"], v.get("geo", ""))], [])]
    accounts = [str(sa["name"]) if isinstance(sa, dict) else str(sa) for sa in v.get("storage_accounts") or []]
    pairs += [([], [sa]) for sa in accounts]
    sec = svc.catalog.regions.get(v.get("secondary_region") or "")
    if sec is not None and v.get("cross_region_restore") == "Enabled":  # the paired region's names
        pairs.append(([(v["id"], sec.geo)], [names.secondary_account(sa) for sa in accounts]))
    for vs, accounts in pairs:
        try:
            out.update(names.public_name_map(vs, accounts, domain))
        except VaultlinkError as err:
            log.warning("dns: vault %s: %s", v.get("id"), err.message)
    return out


def _service_records(endpoints: Sequence[EndpointRecord]) -> list[model.PublicRecord]:
    """Each service endpoint's endpoint-specific names (answered to everyone)."""
    records: list[model.PublicRecord] = []
    for e in endpoints:
        if e.get("kind") != "service":
            continue
        for cfg in e.get("ip_configs") or []:
            if cfg.get("purpose") == "service" and cfg.get("fqdn") and cfg.get("ip"):
                records.append(model.PublicRecord(names.normalize(cfg["fqdn"]), "A", 10, (cfg["ip"],)))
    return records


def _service_parts(endpoints: tuple[EndpointRecord, ...], domain: str,
                   memo: DnsMemo) -> tuple[list[model.PrivateZone], list[model.PublicRecord]]:
    """The service endpoints' zones and public records; when the records extend the last ones (an endpoint
    created), only the new ones are looked at."""
    last = memo.endpoints
    if last is not None and last[0] == domain and extends(last[1], endpoints):
        todo = endpoints[len(last[1]):]
        zones, records = last[2] + service_zones(todo, domain), last[3] + _service_records(todo)
    elif last is not None and last[0] == domain and (diff := changed(last[1], endpoints)) is not None \
            and all(e.get("kind") != "service" for e in (*diff[0], *diff[1])):
        zones, records = last[2], last[3]  # resource endpoints deleted or changed: only service endpoints count
    else:
        zones, records = service_zones(endpoints, domain), _service_records(endpoints)
    memo.endpoints = (domain, endpoints, zones, records)
    return zones, records


def public_side(
    svc: Service, vaults: Sequence[VaultRecord], service_records: list[model.PublicRecord], public: str,
    memo: DnsMemo | None = None,
) -> tuple[dict[str, str], list[model.PublicRecord]]:
    domain = svc.config.domain
    memo = memo or DnsMemo()
    last = memo.names
    if last is not None and last[0] is vaults:  # the same scan (no vault changed): the same names
        pnames = last[1]
    else:
        if last is not None and extends(last[0], vaults):  # vaults only created: the last names and theirs
            pnames, todo, kept = dict(last[1]), vaults[len(last[0]):], memo.vaults
        else:
            pnames, todo, kept = {}, vaults, {}
        for v in todo:
            got = memo.vaults.get(v["id"])
            if got is None or got[0] is not v:
                got = (v, _vault_names(svc, v))
            kept[v["id"]] = got
            pnames.update(got[1])
        memo.vaults = kept
        memo.names = (vaults, pnames)
    records = list(service_records)
    for region in svc.catalog.list():
        for service in names.SERVICES:
            if not region.offers(service):
                continue
            try:
                name = names.regional_service_name(service, region.name, domain)
            except VaultlinkError:
                continue
            records.append(model.PublicRecord(name, "A", 300, (public,)))
    return pnames, records


class DnsMemo:
    """The engine's zone for each unchanged zone record, by identity (``Store.scan`` keeps it), so a change
    recompiles only the zones it touched."""

    def __init__(self) -> None:
        self.zones: dict[str, tuple[Any, model.PrivateZone | None]] = {}
        self.vaults: dict[str, tuple[Any, dict[str, str]]] = {}  # a vault's public names
        # the vault records (the scan's tuple) and every public name they gave: an endpoint's change reuses it
        # whole, never changed once made (the view and the next view share it)
        self.names: tuple[Any, dict[str, str]] | None = None
        # the last endpoint records (``Store.scan``), their service zones and public records
        self.endpoints: tuple[str, tuple[EndpointRecord, ...], list[model.PrivateZone],
                              list[model.PublicRecord]] | None = None


def _zones(stored: tuple[DnsZoneRecord, ...], domain: str, memo: DnsMemo) -> list[model.PrivateZone]:
    out: list[model.PrivateZone] = []
    kept: dict[str, tuple[Any, model.PrivateZone | None]] = {}
    for z in stored:
        got = memo.zones.get(z["id"])
        if got is None or got[0] is not z:
            try:
                got = (z, engine_zone(z, domain))
            except VaultlinkError as err:
                log.warning("dns: zone %s left out: %s", z.get("name"), err.message)
                got = (z, None)
        kept[z["id"]] = got
        if got[1] is not None:
            out.append(got[1])
    memo.zones = kept
    return out


def build_dns_view(svc: Service, generation: int = 0, memo: DnsMemo | None = None) -> model.DnsView:
    """The DnsView for everything committed (``Store.scan``); with ``memo``, unchanged zones are reused."""
    domain = svc.config.domain
    # netns mode: public names lead to the internet namespace's address, the one VMs and internet hosts reach
    cfg = svc.config
    public = _public_address(cfg.netns_public_address if cfg.fabric == "netns" else cfg.public_address)
    stored = cast("tuple[DnsZoneRecord, ...]", svc.store.scan("dns_zone"))
    vnet_recs = cast("tuple[VnetRecord, ...]", svc.store.scan("vnet"))
    endpoints = cast("tuple[EndpointRecord, ...]", svc.store.scan("endpoint"))
    vaults = cast("tuple[VaultRecord, ...]", svc.store.scan("vault"))
    memo = memo or DnsMemo()
    svc_zones, svc_records = _service_parts(endpoints, domain, memo)
    zones = _dedupe_links(_zones(stored, domain, memo) + svc_zones)
    vnets = []
    for v in vnet_recs:
        try:
            vnets.append(model.Vnet.create(v["id"], v.get("address_spaces") or [],
                                           routing_domain(svc.config.fabric, v["id"]), v.get("peerings") or []))
        except VaultlinkError as err:
            log.warning("dns: vnet %s left out: %s", v.get("id"), err.message)
    pnames, precs = public_side(svc, vaults, svc_records, public, memo)
    precs = [r for r in precs if r.name not in pnames]
    return model.DnsView.create(
        public_address=public,
        zones=zones,
        vnets=vnets,
        public_names=pnames,
        public_records=precs,
        domain=domain,
        generation=generation,
    )
