"""What the request pipeline hands to a data-plane handler once every check passed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

from vaultlink.service.core import Caller

ServiceKind = Literal["backup", "blob", "queue", "regional"]


class DataContext(NamedTuple):
    """Immutable; a tuple, so one is made in a fraction of a frozen dataclass's time (one per request)."""

    service: ServiceKind
    host: str  # the name the client asked for (Host header, without port)
    vault_id: str | None  # the vault the name belongs to (None for the regional service)
    storage_account: str | None  # for blob/queue names
    region: str | None
    endpoint_id: str | None  # None: arrived on the public endpoint
    vnet_id: str | None  # the source network; None: the internet
    source_ip: str
    caller: Caller  # the identity the pipeline authenticated and checked: the only one the handler uses
    action: str  # the IAM action the pipeline authorized
    resource: str  # the resource ARN it authorized on
    # For the regional service: check the endpoint policy again for the resource the handler acts on,
    # when only the handler knows it (e.g. the ARN of a vault named in the body). None: no policy.
    check_resource: Callable[[str, str], None] | None = None
    secondary: bool = False  # through a paired-region name: reads the replica (cross-region restore), writes nothing

    @property
    def principal_arn(self) -> str:
        return self.caller.arn

    @property
    def container_id(self) -> str | None:
        return self.caller.container_id
