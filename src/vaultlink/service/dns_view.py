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
from dataclasses import replace

from vaultlink.dns import model, names
from vaultlink.domain.networks import routing_domain
from vaultlink.domain.records import EndpointRecord, VaultRecord, find_endpoints, find_vaults, find_vnets, find_zones
from vaultlink.errors import VaultlinkError
from vaultlink.service.core import Service
from vaultlink.service.dns_zones import to_private_zone

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


def service_zones(endpoints: list[EndpointRecord], domain: str) -> list[model.PrivateZone]:
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


def public_side(
    svc: Service, vaults: list[VaultRecord], endpoints: list[EndpointRecord], public: str
) -> tuple[dict[str, str], list[model.PublicRecord]]:
    domain = svc.config.domain
    pnames: dict[str, str] = {}
    for v in vaults:
        pairs: list[tuple[list[tuple[str, str]], list[str]]] = [([(v["id"], v.get("geo", ""))], [])]
        accounts = [str(sa["name"]) if isinstance(sa, dict) else str(sa) for sa in v.get("storage_accounts") or []]
        pairs += [([], [sa]) for sa in accounts]
        sec = svc.catalog.regions.get(v.get("secondary_region") or "")
        if sec is not None and v.get("cross_region_restore") == "Enabled":  # the paired region's names
            pairs.append(([(v["id"], sec.geo)], [names.secondary_account(sa) for sa in accounts]))
        for vs, accounts in pairs:
            try:
                pnames.update(names.public_name_map(vs, accounts, domain))
            except VaultlinkError as err:
                log.warning("dns: vault %s: %s", v.get("id"), err.message)
    records: list[model.PublicRecord] = []
    for e in endpoints:
        if e.get("kind") != "service":
            continue
        for cfg in e.get("ip_configs") or []:
            if cfg.get("purpose") == "service" and cfg.get("fqdn") and cfg.get("ip"):
                records.append(model.PublicRecord(names.normalize(cfg["fqdn"]), "A", 10, (cfg["ip"],)))
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


def build_dns_view(svc: Service, generation: int = 0) -> model.DnsView:
    """The DnsView for everything in the store."""
    domain = svc.config.domain
    # netns mode: public names lead to the internet namespace's address, the one VMs and internet hosts reach
    cfg = svc.config
    public = _public_address(cfg.netns_public_address if cfg.fabric == "netns" else cfg.public_address)
    with svc.store.transaction() as txn:
        stored = find_zones(txn)
        vnet_recs = find_vnets(txn)
        endpoints = find_endpoints(txn)
        vaults = find_vaults(txn)
    zones: list[model.PrivateZone] = []
    for z in stored:
        try:
            zones.append(to_private_zone(z, domain))
        except VaultlinkError as err:
            log.warning("dns: zone %s left out: %s", z.get("name"), err.message)
    zones = _dedupe_links(zones + service_zones(endpoints, domain))
    vnets = []
    for v in vnet_recs:
        try:
            vnets.append(model.Vnet.create(v["id"], v.get("address_spaces") or [],
                                           routing_domain(svc.config.fabric, v["id"]), v.get("peerings") or []))
        except VaultlinkError as err:
            log.warning("dns: vnet %s left out: %s", v.get("id"), err.message)
    pnames, precs = public_side(svc, vaults, endpoints, public)
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
