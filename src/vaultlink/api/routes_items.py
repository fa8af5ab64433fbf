"""Protected items and machines: soft delete and undelete (management API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, paged, service_of
from vaultlink.service import retention_items
from vaultlink.service.dataplane import key_versions

router = APIRouter(tags=["items"])


class ContainerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    tags: dict[str, str]


@router.get("/vaults/{ref}/items", name="item.list")
def list_items(ref: str, request: Request, response: Response, container: str | None = None,
               limit: int | None = None, after: str | None = None) -> list[dict[str, Any]]:
    """Oldest first; with ``limit`` (at most 1,000) a page, the next one from ``after`` (``X-Next-After``)."""
    svc = service_of(request)
    rows = call(request, "item.list", lambda c: retention_items.list_items(svc, c, ref, container, limit, after),
                target=ref, vault=ref)
    return paged(response, rows, limit, "created")


@router.delete("/protected-items/{item_id}", name="item.delete")
def delete_item(item_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "item.delete", lambda c: retention_items.delete_item(svc, c, item_id), target=item_id)


@router.post("/protected-items/{item_id}/undelete", name="item.undelete")
def undelete_item(item_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "item.undelete", lambda c: retention_items.undelete_item(svc, c, item_id), target=item_id)


@router.delete("/vaults/{ref}/containers/{container}", name="container.delete")
def delete_container(ref: str, container: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "container.delete", lambda c: retention_items.delete_container(svc, c, ref, container),
                target=container, vault=ref)


@router.post("/vaults/{ref}/containers/{container}/undelete", name="container.undelete")
def undelete_container(ref: str, container: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "container.undelete",
                lambda c: retention_items.undelete_container(svc, c, ref, container), target=container, vault=ref)


@router.patch("/vaults/{ref}/containers/{container}", name="container.update")
def tag_container(ref: str, container: str, body: ContainerPatch, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "container.update",
                lambda c: retention_items.tag_container(svc, c, ref, container, body.tags), target=container, vault=ref)


@router.get("/vaults/{ref}/containers/{container}/keys", name="container.keys")
def list_key_versions(ref: str, container: str, request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "container.keys", lambda c: key_versions.list_versions(svc, c, ref, container),
                target=container, vault=ref)


@router.post("/vaults/{ref}/containers/{container}/keys/restore", name="container.keys.restore")
def restore_key_versions(ref: str, container: str, request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "container.keys.restore",
                lambda c: key_versions.restore_versions(svc, c, ref, container), target=container, vault=ref)
