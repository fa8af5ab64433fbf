"""Private endpoints (resource and service), their policies, security groups and connections."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, service_of
from vaultlink.service import connections, endpoint_settings, endpoints

router = APIRouter(tags=["endpoints"])


class EndpointIn(BaseModel):
    """A resource endpoint (vault + group_id) or a service endpoint (service)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: Any = None
    region: Any = None
    vnet: Any = None
    subnet: Any = None
    vault: Any = None
    group_id: Any = None
    dns_integration: bool = True
    service: Any = None
    private_dns: bool = True
    tags: Any = None
    rules: list[Any] | None = None
    policy: Any = None
    request_message: str | None = None
    dry_run: bool = False


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    protocol: str
    ports: str
    source: str
    description: str = ""


class ConnectionAction(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    description: str = ""
    vault: str | None = None


@router.post("/endpoints", status_code=201, name="endpoint.create")
def create_endpoint(body: EndpointIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    data = body.model_dump(exclude={"dry_run"})
    action = "endpoint.validate" if body.dry_run else "endpoint.create"
    return call(
        request,
        action,
        lambda c: endpoints.create_endpoint(svc, c, data, dry_run=body.dry_run),
        target=body.name if isinstance(body.name, str) else None,
        vault=body.vault if isinstance(body.vault, str) else None,
    )


@router.get("/endpoints", name="endpoint.list")
def list_endpoints(request: Request, vnet: str | None = None, vault: str | None = None) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "endpoint.list", lambda c: endpoints.list_endpoints(svc, c, vnet, vault))


@router.get("/endpoints/{ref}", name="endpoint.show")
def get_endpoint(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "endpoint.show", lambda c: endpoints.get_endpoint(svc, c, ref), target=ref)


@router.delete("/endpoints/{ref}", name="endpoint.delete")
def delete_endpoint(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "endpoint.delete", lambda c: endpoints.delete_endpoint(svc, c, ref), target=ref)


@router.get("/endpoints/{ref}/policy", name="endpoint.policy.show")
def get_policy(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "endpoint.policy.show", lambda c: endpoint_settings.get_policy(svc, c, ref), target=ref)


@router.put("/endpoints/{ref}/policy", name="endpoint.policy.set")
def set_policy(ref: str, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "endpoint.policy.set", lambda c: endpoint_settings.set_policy(svc, c, ref, body), target=ref)


@router.delete("/endpoints/{ref}/policy", name="endpoint.policy.reset")
def reset_policy(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "endpoint.policy.reset", lambda c: endpoint_settings.reset_policy(svc, c, ref), target=ref)


@router.get("/endpoints/{ref}/security-group", name="endpoint.sg.show")
def get_sg(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "endpoint.sg.show", lambda c: endpoint_settings.get_security_group(svc, c, ref), target=ref)


@router.post("/endpoints/{ref}/security-group/rules", status_code=201, name="endpoint.sg.add_rule")
def add_rule(ref: str, body: RuleIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    rule = body.model_dump()
    return call(request, "endpoint.sg.add_rule", lambda c: endpoint_settings.add_rule(svc, c, ref, rule), target=ref)


@router.delete("/endpoints/{ref}/security-group/rules/{rule_id}", name="endpoint.sg.remove_rule")
def remove_rule(ref: str, rule_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request, "endpoint.sg.remove_rule", lambda c: endpoint_settings.remove_rule(svc, c, ref, rule_id), target=ref
    )


@router.post("/endpoints/{ref}/sync", name="endpoint.sync")
def sync_endpoint(ref: str, request: Request) -> dict[str, Any]:
    """Give the endpoint the blob and queue IPs it lacks for its vault's storage accounts (idempotent)."""
    svc = service_of(request)
    return call(request, "endpoint.sync", lambda c: endpoint_settings.sync_endpoint(svc, c, ref), target=ref)


@router.get("/vaults/{vault}/connections", name="connection.list")
def list_connections(vault: str, request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(
        request, "connection.list", lambda c: connections.list_connections(svc, c, vault), target=vault, vault=vault
    )


@router.post("/connections/{ref}/{action}", name="connection.update")
def set_connection(ref: str, action: str, body: ConnectionAction, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        f"connection.{action}",
        lambda c: connections.set_connection(svc, c, ref, action, body.description, body.vault),
        target=ref,
        vault=body.vault,
    )
