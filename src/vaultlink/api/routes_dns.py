"""Private DNS: zones, record sets, vnet links, check, doctor; and an endpoint's DNS configuration."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, service_of
from vaultlink.service import dns, dns_doctor, dns_explain

router = APIRouter(tags=["dns"])


class ZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    tags: dict[str, str] | None = None
    account_id: str | None = None
    resource_group: str | None = None


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    type: str
    values: list[str]
    ttl: int = 10


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    vnet: str
    name: str | None = None
    fallback_to_public: bool = False


@router.post("/dns/zones", status_code=201, name="dns.zone.create")
def create_zone(body: ZoneIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "dns.zone.create",
        lambda c: dns.create_zone(svc, c, body.name, body.tags, body.account_id, body.resource_group),
        target=body.name,
    )


@router.get("/dns/zones", name="dns.zone.list")
def list_zones(request: Request, account_id: str | None = None) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "dns.zone.list", lambda c: dns.list_zones(svc, c, account_id))


@router.get("/dns/zones/{zone}", name="dns.zone.show")
def get_zone(zone: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "dns.zone.show", lambda c: dns.get_zone(svc, c, zone), target=zone)


@router.delete("/dns/zones/{zone}", name="dns.zone.delete")
def delete_zone(zone: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "dns.zone.delete", lambda c: dns.delete_zone(svc, c, zone), target=zone)


@router.put("/dns/zones/{zone}/records", name="dns.record.set")
def set_record(zone: str, body: RecordIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "dns.record.set",
        lambda c: dns.set_record(svc, c, zone, body.name, body.type, body.values, body.ttl),
        target=f"{zone}/{body.name}/{body.type}",
    )


@router.get("/dns/zones/{zone}/records", name="dns.record.list")
def list_records(zone: str, request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "dns.record.list", lambda c: dns.list_records(svc, c, zone), target=zone)


@router.delete("/dns/zones/{zone}/records/{name}/{rtype}", name="dns.record.delete")
def delete_record(zone: str, name: str, rtype: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "dns.record.delete",
        lambda c: dns.delete_record(svc, c, zone, name, rtype),
        target=f"{zone}/{name}/{rtype}",
    )


@router.post("/dns/zones/{zone}/links", status_code=201, name="dns.link.add")
def add_link(zone: str, body: LinkIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "dns.link.add",
        lambda c: dns.add_link(svc, c, zone, body.vnet, body.name, body.fallback_to_public),
        target=f"{zone}/{body.vnet}",
    )


@router.get("/dns/zones/{zone}/links", name="dns.link.list")
def list_links(zone: str, request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "dns.link.list", lambda c: dns.list_links(svc, c, zone), target=zone)


@router.delete("/dns/zones/{zone}/links/{link}", name="dns.link.remove")
def remove_link(zone: str, link: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "dns.link.remove", lambda c: dns.remove_link(svc, c, zone, link), target=f"{zone}/{link}")


@router.get("/dns/check", name="dns.check")
def check(request: Request, source: str, name: str, type: str = "A") -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "dns.check", lambda c: dns_explain.check(svc, c, source, name, type), target=name)


@router.get("/dns/forwarders/{vault}", name="dns.forwarders")
def forwarders(vault: str, request: Request, format: str = "dnsmasq", target: str = "",
               source: str = "") -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "dns.forwarders",
                lambda c: dns_doctor.forwarders(svc, c, vault, format, target, source), target=vault, vault=vault)


@router.get("/dns/doctor/{vault}", name="dns.doctor")
def doctor(vault: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "dns.doctor", lambda c: dns_doctor.doctor(svc, c, vault), target=vault, vault=vault)


@router.get("/endpoints/{endpoint}/dns-config", name="endpoint.dns-config")
def dns_config(endpoint: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "endpoint.dns-config", lambda c: dns_explain.dns_config(svc, c, endpoint), target=endpoint)
