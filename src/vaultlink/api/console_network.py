"""Virtual networks in the console: list and create; a vnet's subnets (add, delete), peerings (peer, remove)
and the private endpoints in it. Each action is the API's service call, audited under the API's name."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vaultlink.api import console_html_net as N
from vaultlink.api.calls import service_of
from vaultlink.api.console_kit import Ctx, act, show
from vaultlink.errors import InvalidInput
from vaultlink.service import endpoints, networks

router = APIRouter(include_in_schema=False)


@router.get("/console/vnets", name="console.vnets")
def vnets_page(request: Request) -> Response:
    def build(ctx: Ctx) -> str:
        items = ctx.run("vnet.list", lambda c: networks.list_vnets(ctx.svc, c))
        return N.vnets(items, list(ctx.svc.catalog.regions), ctx.csrf)

    return show(request, "Virtual networks", build)


def subnet_of(text: str) -> list[dict[str, str]]:
    """``NAME=CIDR`` (the CLI's ``--subnet``), or nothing when left as ``default=``."""
    name, _, cidr = text.strip().partition("=")
    if not cidr.strip():
        return []
    if not name.strip():
        raise InvalidInput("a subnet is NAME=CIDR, e.g. default=127.20.1.0/24.", field="subnet")
    return [{"name": name.strip(), "cidr": cidr.strip()}]


@router.post("/console/vnets", name="console.vnet.create")
async def create_vnet(request: Request) -> Response:
    svc = service_of(request)
    return await act(request, "vnet.create", lambda c, f: networks.create_vnet(
        svc, c, f.get("name", ""), f.get("region", ""), [f.get("address_space", "").strip()],
        subnet_of(f.get("subnet", ""))), "/console/vnets",
        lambda v: f"Virtual network {v['name']} created.")


@router.get("/console/vnets/{name}", name="console.vnet")
def vnet_page(request: Request, name: str) -> Response:
    def build(ctx: Ctx) -> str:
        v = ctx.run("vnet.show", lambda c: networks.get_vnet(ctx.svc, c, name), target=name)
        eps = ctx.run("endpoint.list", lambda c: endpoints.list_endpoints(ctx.svc, c, vnet=v["id"]))
        return N.vnet(v, eps, ctx.csrf)

    return show(request, f"Virtual network {name}", build)


@router.post("/console/vnets/{name}/subnets", name="console.vnet.subnet.add")
async def add_subnet(request: Request, name: str) -> Response:
    svc = service_of(request)
    return await act(request, "vnet.subnet.add", lambda c, f: networks.add_subnet(
        svc, c, name, f.get("name", "").strip(), f.get("cidr", "").strip()),
        f"/console/vnets/{name}", "Subnet added.", name)


@router.post("/console/vnets/{name}/subnets/{subnet}/delete", name="console.vnet.subnet.delete")
async def delete_subnet(request: Request, name: str, subnet: str) -> Response:
    svc = service_of(request)
    return await act(request, "vnet.subnet.delete", lambda c, f: networks.delete_subnet(svc, c, name, subnet),
                     f"/console/vnets/{name}", f"Subnet {subnet} deleted.", name)


@router.post("/console/vnets/{name}/peerings", name="console.vnet.peer")
async def peer(request: Request, name: str) -> Response:
    svc = service_of(request)
    return await act(request, "vnet.peer", lambda c, f: networks.peer(svc, c, name, f.get("other", "").strip()),
                     f"/console/vnets/{name}", "Peered.", name)


@router.post("/console/vnets/{name}/peerings/{other}/delete", name="console.vnet.unpeer")
async def unpeer(request: Request, name: str, other: str) -> Response:
    svc = service_of(request)
    return await act(request, "vnet.unpeer", lambda c, f: networks.unpeer(svc, c, name, other),
                     f"/console/vnets/{name}", f"Peering with {other} removed.", name)
