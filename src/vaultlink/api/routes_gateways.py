"""The backup gateway (management API and the appliance's own calls): ``service/gateways.py``.

The appliance's calls (``/gateway/activations…``, ``/gateway/heartbeat``) are what a backup-gateway
endpoint carries from an on-premises appliance; activation and claim take no credential (each takes from
the source address's anonymous bucket), the heartbeat takes the gateway's own ``vlgw_…`` credential.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, service_of
from vaultlink.service import gateways
from vaultlink.service.dataplane.context import DataContext

router = APIRouter(tags=["gateways"])
ANONYMOUS = frozenset({"anonymous", "api_key"})
GATEWAY = frozenset({"gateway"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ActivationIn(_Strict):
    claim_hash: str
    region: str | None = None


class ClaimIn(_Strict):
    claim_secret: str


class HeartbeatIn(_Strict):
    vms: list[dict[str, Any]] = []
    version: str | None = None


class GatewayIn(_Strict):
    activation_key: str
    name: str
    type: str = "BACKUP_VM"
    region: str | None = None


class GatewayPatch(_Strict):
    name: str | None = None
    maintenance: dict[str, Any] | None = None


class AssociateIn(_Strict):
    hypervisor: str


class HypervisorIn(_Strict):
    name: str
    host: str
    region: str
    username: str | None = None


def _dp(request: Request) -> DataContext | None:
    dp = request.scope.get("state", {}).get("dp")
    return dp if isinstance(dp, DataContext) else None


# --- the appliance ------------------------------------------------------------------------------------------
@router.post("/gateway/activations", status_code=201, name="gateway.activate")
def activate(body: ActivationIn, request: Request) -> dict[str, Any]:
    svc, dp = service_of(request), _dp(request)
    region = dp.region if dp is not None else body.region
    return call(request, "gateway.activate",
                lambda c: gateways.start_activation(svc, body.claim_hash, region, c.source_ip,
                                                    dp.endpoint_id if dp else None), kinds=ANONYMOUS)


@router.post("/gateway/activations/{key}/claim", name="gateway.claim")
def claim(key: str, body: ClaimIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "gateway.claim", lambda c: gateways.claim(svc, key, body.claim_secret), target=key,
                kinds=ANONYMOUS)


@router.post("/gateway/heartbeat", name="gateway.heartbeat")
def heartbeat(body: HeartbeatIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "gateway.heartbeat", lambda c: gateways.heartbeat(svc, c, body.vms, body.version),
                kinds=GATEWAY)


# --- gateways -----------------------------------------------------------------------------------------------
@router.post("/gateways", status_code=201, name="gateway.create")
def create_gateway(body: GatewayIn, request: Request) -> dict[str, Any]:
    svc, dp = service_of(request), _dp(request)
    region = dp.region if dp is not None else body.region
    return call(request, "gateway.create", lambda c: gateways.create_gateway(
        svc, c, body.activation_key, body.name, body.type, region), target=body.name)


@router.get("/gateways", name="gateway.list")
def list_gateways(request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "gateway.list", lambda c: gateways.list_gateways(svc, c))


@router.get("/gateways/{ref}", name="gateway.show")
def get_gateway(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "gateway.show", lambda c: gateways.get_gateway(svc, c, ref), target=ref)


@router.patch("/gateways/{ref}", name="gateway.update")
def update_gateway(ref: str, body: GatewayPatch, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "gateway.update",
                lambda c: gateways.update_gateway(svc, c, ref, body.name, body.maintenance), target=ref)


@router.delete("/gateways/{ref}", name="gateway.delete")
def delete_gateway(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "gateway.delete", lambda c: gateways.delete_gateway(svc, c, ref), target=ref)


@router.post("/gateways/{ref}/associate", name="gateway.associate")
def associate(ref: str, body: AssociateIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "gateway.associate", lambda c: gateways.associate(svc, c, ref, body.hypervisor), target=ref)


@router.post("/gateways/{ref}/disassociate", name="gateway.disassociate")
def disassociate(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "gateway.disassociate", lambda c: gateways.disassociate(svc, c, ref), target=ref)


# --- hypervisors and virtual machines -----------------------------------------------------------------------
@router.post("/hypervisors", status_code=201, name="hypervisor.import")
def import_hypervisor(body: HypervisorIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "hypervisor.import", lambda c: gateways.import_hypervisor(
        svc, c, body.name, body.host, body.region, body.username), target=body.name)


@router.get("/hypervisors", name="hypervisor.list")
def list_hypervisors(request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "hypervisor.list", lambda c: gateways.list_hypervisors(svc, c))


@router.get("/hypervisors/{ref}", name="hypervisor.show")
def get_hypervisor(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "hypervisor.show", lambda c: gateways.get_hypervisor(svc, c, ref), target=ref)


@router.delete("/hypervisors/{ref}", name="hypervisor.delete")
def delete_hypervisor(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "hypervisor.delete", lambda c: gateways.delete_hypervisor(svc, c, ref), target=ref)


@router.get("/virtual-machines", name="vm.list")
def list_vms(request: Request, hypervisor: str | None = None) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "vm.list", lambda c: gateways.list_vms(svc, c, hypervisor))


@router.get("/virtual-machines/{ref}", name="vm.show")
def get_vm(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vm.show", lambda c: gateways.get_vm(svc, c, ref), target=ref)
