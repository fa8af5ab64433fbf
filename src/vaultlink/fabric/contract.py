"""What the fabric hands to data-plane handlers, and how handlers declare their actions.

Data-plane requests reach handlers only after the request pipeline
(DESIGN.md §5) has passed every check. The pipeline:

1. finds the endpoint from the local address and the source vnet from the peer;
2. finds the *service* from the Host header (``vault backup service``, ``blob``,
   ``queue`` or the ``regional`` service of a service endpoint);
3. matches the request against the data-plane routes: each route's ``name`` is
   the IAM action it performs (e.g. ``backup:RegisterContainer``);
4. runs the checks and, when all pass, stores a ``DataContext`` in
   ``request.scope["state"]["dp"]``; handlers read it with ``data_context``.

Data-plane route modules export ``router`` (an ``APIRouter``) and are listed in
``DATA_ROUTE_MODULES`` below, keyed by service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from vaultlink.errors import VaultlinkError

Service = Literal["backup", "blob", "queue", "regional"]


@dataclass(frozen=True)
class DataContext:
    service: Service
    host: str  # the name the client asked for (Host header, without port)
    vault_id: str | None  # the vault the name belongs to (None for the regional service)
    storage_account: str | None  # for blob/queue names
    region: str | None
    endpoint_id: str | None  # None: arrived on the public endpoint
    vnet_id: str | None  # the source network; None: the internet
    source_ip: str
    principal_arn: str | None  # authenticated principal (API key), or the container's owner
    principal_id: str | None
    account_id: str | None  # the principal's account
    container_id: str | None  # set when authenticated with a container credential
    action: str  # the IAM action the pipeline authorized
    resource: str  # the resource ARN it authorized on


def data_context(request: Request) -> DataContext:
    """FastAPI dependency: the context the pipeline attached."""
    dp = request.scope.get("state", {}).get("dp")
    if not isinstance(dp, DataContext):
        raise VaultlinkError("data-plane request reached a handler without passing the pipeline")
    return dp


# service -> modules exporting ``router``; paths are relative to the service's host name.
DATA_ROUTE_MODULES: dict[str, tuple[str, ...]] = {
    "backup": ("vaultlink.api.routes_data_backup",),
    "blob": ("vaultlink.api.routes_data_blob",),
    "queue": ("vaultlink.api.routes_data_queue",),
}


@dataclass(frozen=True)
class DataIdentity:
    """Who a data-plane token authenticates (an agent's container or registration credential)."""

    principal_arn: str  # the principal the credential acts for (who issued the vault credentials)
    principal_id: str
    account_id: str
    vault_id: str  # the only vault the credential is good for
    kind: Literal["container", "registration"]
    container_id: str | None = None
    reregistration_required: bool = False


# Data-plane token authenticators: ``fn(svc, token) -> DataIdentity | None`` (None: not my kind of token;
# raise InvalidApiKey for a token of its kind that is unknown, expired or revoked). The data-plane
# services register theirs here at import time of their ``install``.
DATA_AUTHENTICATORS: list[object] = []
