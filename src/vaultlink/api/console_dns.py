"""Private DNS in the console: zones (list, create), a zone's record sets (set, delete) and vnet links (add,
remove); a vault's DNS view: the DNS doctor's problems with a one-click Fix (``service/dns_fix``) and each
endpoint's DNS configuration, downloadable as a hosts file or a zone file (the CLI's ``--format``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vaultlink.api import console_html_net as N
from vaultlink.api.calls import service_of
from vaultlink.api.console_kit import Ctx, act, show, signed_in
from vaultlink.dns.config_text import hosts_text, zone_text
from vaultlink.errors import VaultlinkError
from vaultlink.service import dns, dns_doctor, dns_explain, dns_fix, endpoints

router = APIRouter(include_in_schema=False)


@router.get("/console/dns", name="console.dns")
def zones_page(request: Request) -> Response:
    def build(ctx: Ctx) -> str:
        return N.zones(ctx.run("dns.zone.list", lambda c: dns.list_zones(ctx.svc, c)), ctx.csrf)

    return show(request, "Private DNS zones", build)


@router.post("/console/dns/zones", name="console.dns.zone.create")
async def create_zone(request: Request) -> Response:
    svc = service_of(request)
    return await act(request, "dns.zone.create", lambda c, f: dns.create_zone(svc, c, f.get("name", "").strip()),
                     "/console/dns", lambda z: f"Zone {z['name']} created.")


@router.get("/console/dns/zones/{zone}", name="console.dns.zone")
def zone_page(request: Request, zone: str) -> Response:
    def build(ctx: Ctx) -> str:
        return N.zone(ctx.run("dns.zone.show", lambda c: dns.get_zone(ctx.svc, c, zone), target=zone), ctx.csrf)

    return show(request, f"Private DNS zone {zone}", build)


def values_of(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()][:100]


def ttl_of(text: str) -> Any:
    return int(text) if text.strip().isdigit() else text


@router.post("/console/dns/zones/{zone}/records", name="console.dns.record.set")
async def set_record(request: Request, zone: str) -> Response:
    svc = service_of(request)
    return await act(request, "dns.record.set", lambda c, f: dns.set_record(
        svc, c, zone, f.get("name", "").strip(), f.get("type", "A").strip(), values_of(f.get("values", "")),
        ttl_of(f.get("ttl", "10"))), f"/console/dns/zones/{zone}", "Record set saved.", zone)


@router.post("/console/dns/zones/{zone}/records/{name}/{rtype}/delete", name="console.dns.record.delete")
async def delete_record(request: Request, zone: str, name: str, rtype: str) -> Response:
    svc = service_of(request)
    return await act(request, "dns.record.delete", lambda c, f: dns.delete_record(svc, c, zone, name, rtype),
                     f"/console/dns/zones/{zone}", f"Record set {name} {rtype} deleted.", zone)


@router.post("/console/dns/zones/{zone}/links", name="console.dns.link.add")
async def add_link(request: Request, zone: str) -> Response:
    svc = service_of(request)
    return await act(request, "dns.link.add", lambda c, f: dns.add_link(svc, c, zone, f.get("vnet", "").strip()),
                     f"/console/dns/zones/{zone}", "Virtual network linked.", zone)


@router.post("/console/dns/zones/{zone}/links/{link}/delete", name="console.dns.link.remove")
async def remove_link(request: Request, zone: str, link: str) -> Response:
    svc = service_of(request)
    return await act(request, "dns.link.remove", lambda c, f: dns.remove_link(svc, c, zone, link),
                     f"/console/dns/zones/{zone}", f"Link {link} removed.", zone)


def config(ctx: Ctx, endpoint: str) -> dict[str, Any]:
    out: dict[str, Any] = ctx.run("endpoint.dns-config", lambda c: dns_explain.dns_config(ctx.svc, c, endpoint),
                                  target=endpoint)
    return out


@router.get("/console/vaults/{name}/dns", name="console.vault.dns")
def vault_dns_page(request: Request, name: str) -> Response:
    def build(ctx: Ctx) -> str:
        doc = ctx.run("dns.doctor", lambda c: dns_doctor.doctor(ctx.svc, c, name), target=name, vault=name)
        eps = ctx.run("endpoint.list", lambda c: endpoints.list_endpoints(ctx.svc, c, vault=name))
        configs = [config(ctx, ep["id"]) for ep in eps[:50]]
        return N.vault_dns(name, doc, configs, ctx.csrf)

    return show(request, f"Vault {name}: DNS", build)


@router.post("/console/vaults/{name}/dns/fix", name="console.vault.dns.fix")
async def fix(request: Request, name: str) -> Response:
    svc = service_of(request)

    def said(r: dict[str, Any]) -> str:
        done = f"Fixed {len(r['fixed'])} problem(s)."
        return done + (" Private DNS is complete." if r["ok"] else f" {len(r['left'])} left.")

    return await act(request, "dns.fix", lambda c, f: dns_fix.fix(svc, c, name, f.get("key", "")),
                     f"/console/vaults/{name}/dns", said, name, vault=name)


@router.get("/console/endpoints/{endpoint}/dns-config.{fmt}", name="console.endpoint.dns_config")
def dns_config_file(request: Request, endpoint: str, fmt: str) -> Response:
    ctx = signed_in(request)
    if isinstance(ctx, Response):
        return ctx
    if fmt not in ("hosts", "zone"):
        return ctx.page("DNS configuration", "", flash="download as .hosts or .zone", error=True, status=404)
    try:
        cfg = config(ctx, endpoint)
    except VaultlinkError as err:
        return ctx.page("DNS configuration", "", flash=f"{err.code}: {err.message}", error=True,
                        status=err.http_status)
    text = hosts_text(cfg) if fmt == "hosts" else zone_text(cfg)
    filename = f"{cfg['endpoint']}.{'hosts' if fmt == 'hosts' else 'zone'}"
    return Response(text, media_type="text/plain; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{filename}"', "cache-control": "no-store",
        "x-content-type-options": "nosniff"})
