"""The data-plane apps, one per service (backup, blob, queue), built from the route modules
(``api/data_kit.py`` serves them; each route's name is the IAM action the pipeline authorizes).

The backup service always has one built-in route, ``GET /`` (``backup:DescribeBackupVault``): it
answers with the vault and what the fabric saw of the request (endpoint, source network, principal),
so an agent or a person can check that a vault's name reaches it through the right endpoint.
"""

from __future__ import annotations

from typing import Any

from vaultlink.api import routes_data_backup, routes_data_blob, routes_data_queue
from vaultlink.api.data_kit import DataApp, DataRequest, DataRouter
from vaultlink.service.core import Service

builtin = DataRouter()


@builtin.route("GET", "/", "backup:DescribeBackupVault", inline=True)
def describe_vault(r: DataRequest) -> dict[str, Any]:
    """The vault this name designates, and how the request reached it (a connectivity check; no I/O, so
    on the event loop)."""
    ctx = r.ctx
    return {
        "vault_id": ctx.vault_id,
        "region": ctx.region,
        "host": ctx.host,
        "endpoint_id": ctx.endpoint_id,
        "vnet_id": ctx.vnet_id,
        "source_ip": ctx.source_ip,
        "principal": ctx.principal_arn,
        "action": ctx.action,
    }


# service -> its routers; paths are relative to the service's host name
DATA_ROUTERS: dict[str, tuple[DataRouter, ...]] = {
    "backup": (routes_data_backup.router, builtin),
    "blob": (routes_data_blob.router,),
    "queue": (routes_data_queue.router,),
}


def build_data_apps(svc: Service) -> dict[str, DataApp]:
    """One ASGI app per data-plane service."""
    return {service: DataApp(svc, routers) for service, routers in DATA_ROUTERS.items()}
