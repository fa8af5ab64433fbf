"""Every ARM operation vaultlink serves: (method, path pattern, handler, Azure action, provider). Paths match
case-insensitively (the SDKs write ``resourcegroups`` and ``resourceGroups``); each provider accepts the
api-versions of the pinned SDKs and a few earlier GA ones (``API_VERSIONS``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vaultlink.compat.azure import lro, network, privatedns, recovery, resources
from vaultlink.compat.azure.arm import Handler

API_VERSIONS: dict[str, frozenset[str]] = {
    "Microsoft.Resources": frozenset({"2025-04-01", "2024-11-01", "2024-03-01", "2023-07-01", "2022-09-01",
                                      "2021-04-01"}),
    "Microsoft.RecoveryServices": frozenset({"2026-11-01", "2026-10-01", "2025-08-01", "2025-02-01", "2024-10-01",
                                             "2024-04-01", "2023-04-01", "2023-01-01"}),
    "Microsoft.Network": frozenset({"2026-03-01", "2025-05-01", "2024-05-01", "2024-01-01", "2023-09-01",
                                    "2023-05-01", "2024-06-01", "2020-06-01"}),  # the last two: privateDnsZones
}
API_VERSIONS[lro.PROVIDER] = frozenset().union(*API_VERSIONS.values())

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
_VAULTS = r"/providers/microsoft\.recoveryservices/vaults"
_VAULT = _RG + _VAULTS + r"/(?P<name>[^/]+)"
_NETS = r"/providers/microsoft\.network/virtualnetworks"
_VNET = _RG + _NETS + r"/(?P<vnet>[^/]+)"
_PES = r"/providers/microsoft\.network/privateendpoints"
_PE = _RG + _PES + r"/(?P<name>[^/]+)"
_ZONES = r"/providers/microsoft\.network/privatednszones"
_ZONE = _RG + _ZONES + r"/(?P<zone>[^/]+)"
_RTYPE = r"/(?P<rtype>a|aaaa|cname|txt|mx|ptr|srv|soa)"
DZ = "Microsoft.Network/privateDnsZones"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    action: str
    provider: str


def _r(method: str, pattern: str, handler: Handler, action: str, provider: str) -> Route:
    return Route(method, re.compile(f"^{pattern}/?$", re.IGNORECASE), handler, action, provider)


RG, RS, NW = "Microsoft.Resources", "Microsoft.RecoveryServices", "Microsoft.Network"
VN, PEA = "Microsoft.Network/virtualNetworks", "Microsoft.Network/privateEndpoints"
ROUTES: tuple[Route, ...] = (
    _r("PUT", _RG, resources.put_group, "Microsoft.Resources/subscriptions/resourceGroups/write", RG),
    _r("PATCH", _RG, resources.patch_group, "Microsoft.Resources/subscriptions/resourceGroups/write", RG),
    _r("GET", _RG, resources.get_group, "Microsoft.Resources/subscriptions/resourceGroups/read", RG),
    _r("HEAD", _RG, resources.head_group, "Microsoft.Resources/subscriptions/resourceGroups/read", RG),
    _r("DELETE", _RG, resources.delete_group, "Microsoft.Resources/subscriptions/resourceGroups/delete", RG),
    _r("GET", _SUB + r"/resourcegroups", resources.list_groups, "Microsoft.Resources/subscriptions/resourceGroups/read",
       RG),
    _r("PUT", _RG + _VAULTS + r"/(?P<name>[^/]+)", recovery.put_vault, "Microsoft.RecoveryServices/vaults/write", RS),
    _r("PATCH", _RG + _VAULTS + r"/(?P<name>[^/]+)", recovery.patch_vault, "Microsoft.RecoveryServices/vaults/write",
       RS),
    _r("GET", _RG + _VAULTS + r"/(?P<name>[^/]+)", recovery.get_vault, "Microsoft.RecoveryServices/vaults/read", RS),
    _r("DELETE", _RG + _VAULTS + r"/(?P<name>[^/]+)", recovery.delete_vault,
       "Microsoft.RecoveryServices/vaults/delete", RS),
    _r("GET", _RG + _VAULTS, recovery.list_by_group, "Microsoft.RecoveryServices/vaults/read", RS),
    _r("GET", _SUB + _VAULTS, recovery.list_by_subscription, "Microsoft.RecoveryServices/vaults/read", RS),
    _r("PUT", _VAULT + r"/privateendpointconnections/(?P<conn>[^/]+)", recovery.put_connection,
       "Microsoft.RecoveryServices/vaults/privateEndpointConnections/write", RS),
    _r("GET", _VAULT + r"/privateendpointconnections/(?P<conn>[^/]+)", recovery.get_connection,
       "Microsoft.RecoveryServices/vaults/privateEndpointConnections/read", RS),
    _r("DELETE", _VAULT + r"/privateendpointconnections/(?P<conn>[^/]+)", recovery.delete_connection,
       "Microsoft.RecoveryServices/vaults/privateEndpointConnections/delete", RS),
    _r("GET", _VAULT + r"/privatelinkresources", recovery.list_link_resources,
       "Microsoft.RecoveryServices/vaults/privateLinkResources/read", RS),
    _r("GET", _VAULT + r"/privatelinkresources/(?P<group>[^/]+)", recovery.get_link_resource,
       "Microsoft.RecoveryServices/vaults/privateLinkResources/read", RS),
    _r("PUT", _VNET, network.put_vnet, f"{VN}/write", NW),
    _r("GET", _VNET, network.get_vnet, f"{VN}/read", NW),
    _r("DELETE", _VNET, network.delete_vnet, f"{VN}/delete", NW),
    _r("GET", _RG + _NETS, network.list_vnets, f"{VN}/read", NW),
    _r("GET", _SUB + _NETS, network.list_vnets, f"{VN}/read", NW),
    _r("PUT", _VNET + r"/subnets/(?P<subnet>[^/]+)", network.put_subnet, f"{VN}/subnets/write", NW),
    _r("GET", _VNET + r"/subnets/(?P<subnet>[^/]+)", network.get_subnet, f"{VN}/subnets/read", NW),
    _r("DELETE", _VNET + r"/subnets/(?P<subnet>[^/]+)", network.delete_subnet, f"{VN}/subnets/delete", NW),
    _r("GET", _VNET + r"/subnets", network.list_subnets, f"{VN}/subnets/read", NW),
    _r("PUT", _VNET + r"/virtualnetworkpeerings/(?P<peering>[^/]+)", network.put_peering,
       f"{VN}/virtualNetworkPeerings/write", NW),
    _r("GET", _VNET + r"/virtualnetworkpeerings/(?P<peering>[^/]+)", network.get_peering,
       f"{VN}/virtualNetworkPeerings/read", NW),
    _r("DELETE", _VNET + r"/virtualnetworkpeerings/(?P<peering>[^/]+)", network.delete_peering,
       f"{VN}/virtualNetworkPeerings/delete", NW),
    _r("GET", _VNET + r"/virtualnetworkpeerings", network.list_peerings, f"{VN}/virtualNetworkPeerings/read", NW),
    _r("PUT", _PE, network.put_private_endpoint, f"{PEA}/write", NW),
    _r("GET", _PE, network.get_private_endpoint, f"{PEA}/read", NW),
    _r("DELETE", _PE, network.delete_private_endpoint, f"{PEA}/delete", NW),
    _r("GET", _RG + _PES, network.list_private_endpoints, f"{PEA}/read", NW),
    _r("GET", _SUB + _PES, network.list_private_endpoints, f"{PEA}/read", NW),
    _r("PUT", _PE + r"/privatednszonegroups/(?P<group>[^/]+)", network.put_zone_group,
       f"{PEA}/privateDnsZoneGroups/write", NW),
    _r("GET", _PE + r"/privatednszonegroups/(?P<group>[^/]+)", network.get_zone_group,
       f"{PEA}/privateDnsZoneGroups/read", NW),
    _r("DELETE", _PE + r"/privatednszonegroups/(?P<group>[^/]+)", network.delete_zone_group,
       f"{PEA}/privateDnsZoneGroups/delete", NW),
    _r("GET", _PE + r"/privatednszonegroups", network.list_zone_groups, f"{PEA}/privateDnsZoneGroups/read", NW),
    _r("PUT", _ZONE, privatedns.put_zone, f"{DZ}/write", NW),
    _r("GET", _ZONE, privatedns.get_zone, f"{DZ}/read", NW),
    _r("DELETE", _ZONE, privatedns.delete_zone, f"{DZ}/delete", NW),
    _r("GET", _RG + _ZONES, privatedns.list_zones, f"{DZ}/read", NW),
    _r("GET", _SUB + _ZONES, privatedns.list_zones, f"{DZ}/read", NW),
    _r("PUT", _ZONE + _RTYPE + r"/(?P<rname>[^/]+)", privatedns.put_record, f"{DZ}/recordsets/write", NW),
    _r("GET", _ZONE + _RTYPE + r"/(?P<rname>[^/]+)", privatedns.get_record, f"{DZ}/recordsets/read", NW),
    _r("DELETE", _ZONE + _RTYPE + r"/(?P<rname>[^/]+)", privatedns.delete_record, f"{DZ}/recordsets/delete", NW),
    _r("GET", _ZONE + r"/all", privatedns.list_records, f"{DZ}/recordsets/read", NW),
    _r("GET", _ZONE + _RTYPE, privatedns.list_records, f"{DZ}/recordsets/read", NW),
    _r("PUT", _ZONE + r"/virtualnetworklinks/(?P<link>[^/]+)", privatedns.put_link, f"{DZ}/virtualNetworkLinks/write",
       NW),
    _r("GET", _ZONE + r"/virtualnetworklinks/(?P<link>[^/]+)", privatedns.get_link, f"{DZ}/virtualNetworkLinks/read",
       NW),
    _r("DELETE", _ZONE + r"/virtualnetworklinks/(?P<link>[^/]+)", privatedns.delete_link,
       f"{DZ}/virtualNetworkLinks/delete", NW),
    _r("GET", _ZONE + r"/virtualnetworklinks", privatedns.list_links, f"{DZ}/virtualNetworkLinks/read", NW),
    _r("GET", _SUB + rf"/providers/{re.escape(lro.PROVIDER)}/operations/(?P<op>[^/]+)", lro.operation_status,
       "Microsoft.Vaultlink/operations/read", lro.PROVIDER),
    _r("GET", _SUB + rf"/providers/{re.escape(lro.PROVIDER)}/operationResults/(?P<op>[^/]+)", lro.operation_result,
       "Microsoft.Vaultlink/operations/read", lro.PROVIDER),
)


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path parameters, whether the path exists under another method)."""
    other = False
    for r in ROUTES:
        m = r.regex.match(path)
        if m is None:
            continue
        if r.method == method:
            return r, m.groupdict(), True
        other = True
    return None, {}, other
