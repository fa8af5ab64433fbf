"""The one list of API route modules; each exports ``router`` (mounted under /v1)."""

from __future__ import annotations

ROUTE_MODULES: tuple[str, ...] = (
    "vaultlink.api.routes_identity",
    "vaultlink.api.routes_vaults",
    "vaultlink.api.routes_audit",
    "vaultlink.api.routes_policies",
    "vaultlink.api.routes_networks",
    "vaultlink.api.routes_endpoints",
    "vaultlink.api.routes_dns",
    "vaultlink.api.routes_recovery",
)
