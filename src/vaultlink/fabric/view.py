"""A read-only snapshot of networks, endpoints and service names, for the hot path (pure).

Built from the store whenever endpoints, networks or vaults change; requests
only read it (dict lookups), never the database.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from vaultlink.domain.security_groups import SgRule
from vaultlink.prefixes import DEFAULT_DOMAIN, PrefixIndex, vnet_entries

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: str
    account_id: str
    kind: str  # resource | service
    vault_id: str | None
    group_id: str | None  # AzureBackup | AzureBackup_secondary
    service: str | None  # backup | backup-gateway (service endpoints)
    region: str
    vnet_id: str
    ips: frozenset[str]
    status: str  # Approved | Pending | Rejected | Disconnected
    sg_rules: tuple[SgRule, ...]
    policy: Any  # a compiled endpoint policy, or None for the default full access
    private_dns: bool = False
    domain: str = DEFAULT_DOMAIN  # the routing domain its IPs live in (its vnet's; netns mode: the namespace)


@dataclass(frozen=True, slots=True)
class VnetView:
    id: str
    account_id: str
    region: str
    networks: tuple[IPNet, ...]
    peers: frozenset[str]
    routing_domain: str = DEFAULT_DOMAIN  # an address space of its own (network-namespace mode)


@dataclass(frozen=True, slots=True)
class Target:
    """What a host name designates."""

    service: str  # backup | blob | queue | regional
    vault_id: str | None = None
    storage_account: str | None = None
    region: str | None = None
    endpoint_id: str | None = None  # for endpoint-specific regional names
    regional_service: str | None = None  # backup | backup-gateway
    secondary: bool = False  # a paired-region name: served from the vault's replica, read-only


@dataclass(frozen=True, slots=True)
class VaultView:
    id: str
    account_id: str
    name: str
    arn: str
    region: str
    public_network_access: str
    storage_accounts: tuple[str, ...]
    access_policy: Any = None  # compiled resource policy or None


@dataclass
class NetworkView:
    vnets: dict[str, VnetView] = field(default_factory=dict)
    endpoints: dict[str, EndpointView] = field(default_factory=dict)
    vaults: dict[str, VaultView] = field(default_factory=dict)
    names: dict[str, Target] = field(default_factory=dict)
    public_address: str = "127.0.0.1"
    generation: int = 0

    prebuilt_by_ip: dict[tuple[str, str], EndpointView] | None = field(default=None, repr=False, compare=False)
    prebuilt_gateways: dict[tuple[str, str], EndpointView] | None = field(default=None, repr=False, compare=False)
    # the builder's vaults by (account, name) and by ARN (``build._vault_part``)
    prebuilt_vault_index: tuple[dict[tuple[str, str], VaultView], dict[str, VaultView]] | None = field(
        default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # ``prebuilt_by_ip``: the builder's own index of these endpoints' addresses (``build._endpoints``)
        self.by_ip: dict[tuple[str, str], EndpointView] = self.prebuilt_by_ip if self.prebuilt_by_ip is not None \
            else {(ep.domain, ip): ep for ep in self.endpoints.values() for ip in ep.ips}
        self.prebuilt_by_ip = None
        # the backup-gateway endpoints' addresses (the listener manager opens their extra ports)
        self.gateway_ips: dict[tuple[str, str], EndpointView] = self.prebuilt_gateways \
            if self.prebuilt_gateways is not None else \
            {key: ep for key, ep in self.by_ip.items() if ep.service == "backup-gateway"}
        self.prebuilt_gateways = None
        self._index = PrefixIndex.build(
            vnet_entries((v.id, v.routing_domain, v.networks, v.peers) for v in self.vnets.values())
        )
        self.vaults_by_name: dict[tuple[str, str], VaultView]
        self.vaults_by_arn: dict[str, VaultView]
        if self.prebuilt_vault_index is not None:
            self.vaults_by_name, self.vaults_by_arn = self.prebuilt_vault_index
            self.prebuilt_vault_index = None
        else:
            self.vaults_by_name = {(v.account_id, v.name): v for v in self.vaults.values()}
            self.vaults_by_arn = {v.arn: v for v in self.vaults.values()}

    def endpoint_at(self, local_ip: str, domain: str = DEFAULT_DOMAIN) -> EndpointView | None:
        return self.by_ip.get((domain, local_ip))

    def classify(self, source_ip: str, domain: str = DEFAULT_DOMAIN) -> VnetView | None:
        """The source network of an address (the one prefix index, ``prefixes.py``); None is the internet."""
        vnet_id = self._index.lookup(source_ip, domain)
        return self.vnets.get(vnet_id) if vnet_id is not None else None

    def reachable(self, ep: EndpointView, vnet: VnetView | None) -> bool:
        """A private endpoint answers its own vnet and vnets peered with it."""
        if vnet is None:
            return False
        return vnet.id == ep.vnet_id or ep.vnet_id in vnet.peers

    def target(self, host: str) -> Target | None:
        return self.names.get(host)
