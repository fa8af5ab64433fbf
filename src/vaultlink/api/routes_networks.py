"""Virtual networks, subnets and peerings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, service_of
from vaultlink.service import networks

router = APIRouter(tags=["networks"])


class SubnetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    cidr: str


class VnetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    region: str
    address_spaces: list[str]
    subnets: list[SubnetIn] | None = None
    tags: dict[str, str] | None = None
    account_id: str | None = None


class VnetUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    add_address_spaces: list[str]


class PeerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    peer: str


@router.post("/vnets", status_code=201, name="vnet.create")
def create_vnet(body: VnetIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    subs = [s.model_dump() for s in body.subnets or []]
    return call(
        request,
        "vnet.create",
        lambda c: networks.create_vnet(
            svc, c, body.name, body.region, body.address_spaces, subs, body.tags, body.account_id
        ),
        target=body.name,
    )


@router.get("/vnets", name="vnet.list")
def list_vnets(request: Request, account_id: str | None = None) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "vnet.list", lambda c: networks.list_vnets(svc, c, account_id))


@router.get("/vnets/{ref}", name="vnet.show")
def get_vnet(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vnet.show", lambda c: networks.get_vnet(svc, c, ref), target=ref)


@router.patch("/vnets/{ref}", name="vnet.update")
def update_vnet(ref: str, body: VnetUpdateIn, request: Request) -> dict[str, Any]:
    """Add address spaces (same range and overlap checks as creation)."""
    svc = service_of(request)
    return call(
        request, "vnet.update", lambda c: networks.update_vnet(svc, c, ref, body.add_address_spaces), target=ref
    )


@router.delete("/vnets/{ref}", name="vnet.delete")
def delete_vnet(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vnet.delete", lambda c: networks.delete_vnet(svc, c, ref), target=ref)


@router.post("/vnets/{ref}/subnets", status_code=201, name="vnet.subnet.add")
def add_subnet(ref: str, body: SubnetIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "vnet.subnet.add",
        lambda c: networks.add_subnet(svc, c, ref, body.name, body.cidr),
        target=f"{ref}/{body.name}",
    )


@router.get("/vnets/{ref}/subnets", name="vnet.subnet.list")
def list_subnets(ref: str, request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "vnet.subnet.list", lambda c: networks.list_subnets(svc, c, ref), target=ref)


@router.delete("/vnets/{ref}/subnets/{name}", name="vnet.subnet.delete")
def delete_subnet(ref: str, name: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "vnet.subnet.delete",
        lambda c: networks.delete_subnet(svc, c, ref, name),
        target=f"{ref}/{name}",
    )


@router.post("/vnets/{ref}/peerings", status_code=201, name="vnet.peer")
def peer(ref: str, body: PeerIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vnet.peer", lambda c: networks.peer(svc, c, ref, body.peer), target=ref)


@router.delete("/vnets/{ref}/peerings/{other}", name="vnet.unpeer")
def unpeer(ref: str, other: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vnet.unpeer", lambda c: networks.unpeer(svc, c, ref, other), target=ref)
