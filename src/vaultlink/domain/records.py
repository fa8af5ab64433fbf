"""The stored records the service passes around, as types (pure).

The metadata store stays generic underneath (``ports.Txn``: a kind, an id, a JSON object), so these are
``TypedDict``s: the record *is* the stored object, no copy or conversion on the hot path, and mypy checks
every key a handler reads or writes. The common columns (``id``, ``account_id``, ``parent_id``,
``name``) are what the store indexes; the rest is the record's own. A kind's accessor in the service
(``find_vault``, ``find_vnet``, ``find_endpoint``, ``find_zone``…) returns its type.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, cast

from vaultlink.ports import Txn

Toggle = Literal["Enabled", "Disabled"]


class _Common(TypedDict):
    id: str
    account_id: str
    parent_id: str


# --- identity ------------------------------------------------------------------------------------
class AccountRecord(_Common, total=False):
    """Kind ``account`` (``account_id`` and ``parent_id`` ""; the id is the 12-digit account number)."""

    name: str
    root: bool
    created: float


class PrincipalRecord(_Common, total=False):
    """Kind ``principal`` (a user or service of an account; ``name`` unique per account)."""

    name: str
    type: str  # user | service | managed-identity
    arn: str
    created: float
    policies: list[dict[str, Any]]  # identity policies
    vault_id: str  # a vault's managed identity


class ApiKeyRecord(_Common, total=False):
    """Kind ``api_key`` (``parent_id`` = the principal); only the secret's hash is stored, except for an AWS
    access key (``aws``), whose secret SigV4 needs: kept sealed (``service/sealing.py``)."""

    name: None
    principal: str
    description: str
    secret_hash: str
    status: Literal["Active", "Revoked"]
    created: float
    revoked: float
    aws: bool
    secret_sealed: str
    expires: float  # a bearer token (``key create --arm-token``): its end


class RoleAssignmentRecord(_Common, total=False):
    """Kind ``role_assignment`` (``parent_id`` = the principal; ``account_id`` = the scope's account)."""

    name: str
    principal: str
    principal_id: str
    role: str
    scope: str
    created: float


# --- vaults ----------------------------------------------------------------------------------------
class ProtectionHistory(TypedDict):
    container_registered: bool
    item_protected: bool
    attempted: bool


class VaultRecord(_Common, total=False):
    """Kind ``vault`` (``parent_id`` ""; ``name`` unique per account)."""

    name: str
    arn: str
    region: str
    geo: str
    secondary_region: str | None
    public_network_access: Toggle
    cross_region_restore: Toggle
    protection_history: ProtectionHistory
    storage_accounts: list[Any]  # names (older records: {"name": …})
    tags: dict[str, str]
    created: float
    owner: str
    access_policy: dict[str, Any] | None
    identity: dict[str, Any]
    had_private_endpoint: bool
    soft_delete: SoftDeleteSettings
    lock: VaultLock | None
    default_retention_days: int | None  # lifecycle of points no plan rule governs (None: kept until deleted)
    resource_group: str  # the ARM resource group (absent: "default")


class SoftDeleteSettings(TypedDict):
    state: Literal["Enabled", "Disabled", "AlwaysOn"]
    days: int


class VaultLock(TypedDict):
    """AWS Backup vault lock: governance mode until ``changeable_until`` (None: always governance),
    compliance after."""

    min_retention_days: int | None
    max_retention_days: int | None
    changeable_until: float | None
    created: float


# --- networks --------------------------------------------------------------------------------------
class SubnetRecord(TypedDict):
    """A subnet inside its vnet record; its allocated addresses are records of their own (kind ``address``)."""

    name: str
    cidr: str


class VnetRecord(_Common, total=False):
    """Kind ``vnet`` (``parent_id`` ""; ``name`` unique per account). Peerings are symmetric."""

    name: str
    arn: str
    region: str
    address_spaces: list[str]
    subnets: list[SubnetRecord]
    peerings: list[str]
    tags: dict[str, str]
    created: float
    created_by: str
    resource_group: str  # the ARM resource group (absent: "default")


# --- endpoints -------------------------------------------------------------------------------------
class IpConfig(TypedDict, total=False):
    fqdn: str
    public_name: str
    zone: str | None  # the privatelink zone (None: a service endpoint's name)
    ip: str
    purpose: Literal["backup", "blob", "queue", "service"]
    storage_account: str | None


class Connection(TypedDict, total=False):
    status: str  # Pending | Approved | Rejected | Disconnected
    description: str
    actions_required: str
    changed_by: str  # who last approved, rejected or removed it, and when
    changed: float


class SgRuleRecord(TypedDict, total=False):
    id: str
    direction: str
    protocol: str
    from_port: int
    to_port: int
    source: str  # a CIDR or "VirtualNetwork" (the endpoint's vnet and every vnet peered with it)
    description: str


class SecurityGroup(TypedDict):
    rules: list[SgRuleRecord]


class EndpointRecord(_Common, total=False):
    """Kind ``endpoint`` (``parent_id`` = the vnet id; ``name`` unique per account)."""

    name: str
    arn: str
    kind: Literal["resource", "service"]
    region: str
    vnet_id: str
    subnet: str
    vault_id: str | None  # resource endpoints
    vault_name: str | None
    group_id: str | None  # AzureBackup | AzureBackup_secondary
    service: Literal["backup", "backup-gateway"] | None  # service endpoints
    service_name: str | None
    ip_configs: list[IpConfig]
    dns_integration: bool
    private_dns_enabled: bool
    policy: dict[str, Any]
    security_group: SecurityGroup
    security_group_ids: list[str]  # EC2 security groups attached (their rules make up security_group)
    connection: Connection
    tags: dict[str, str]
    created: float
    created_by: str
    created_by_id: str
    resource_group: str  # the ARM resource group (absent: "default")
    manual: bool  # asked for manual approval (ARM manualPrivateLinkServiceConnections)
    zone_group: dict[str, Any] | None  # ARM private DNS zone group: {"name", "zones"}


# --- private DNS -----------------------------------------------------------------------------------
class RecordSetRecord(TypedDict, total=False):
    name: str  # fqdn
    type: Literal["A", "AAAA", "CNAME", "TXT"]
    ttl: int
    values: list[str]
    managed_by: str | None  # the endpoint that wrote it


class ZoneLinkRecord(TypedDict, total=False):
    name: str
    vnet_id: str
    fallback_to_public: bool
    managed_by: str | None
    registration: bool  # the zone holds an A record per machine registered from the vnet


class DnsZoneRecord(_Common, total=False):
    """Kind ``dns_zone`` (``parent_id`` = the instance's resource group, "" for the default one)."""

    name: str
    serial: int
    records: list[RecordSetRecord]
    links: list[ZoneLinkRecord]
    auto_created: bool
    tags: dict[str, str]
    created: float
    created_by: str


# --- the data plane --------------------------------------------------------------------------------
class ContainerRecord(_Common, total=False):
    """Kind ``container`` (a registered machine; ``parent_id`` = the vault id)."""

    name: None
    vault_id: str
    hostname: str
    agent_kind: str  # self-reported at registration (domain/agents.py)
    agent_version: str
    status: str
    endpoint_ids: list[str]
    vnet_id: str | None
    source_ip: str
    reregistration_required: bool
    reregistration_reason: str
    secret_hash: str
    next_hash: str | None  # issued by a re-registration or rotation, current from its first use (credentials.py)
    retired_hash: str | None  # the credential the last rotation replaced: refused, and said so, once unused
    rotated: float  # when the last issued credential became current
    owner_id: str
    owner: str
    created: float
    registered: float
    registrations: int
    scope: Literal["backup-restore", "backup", "restore"]
    tags: dict[str, str]
    retired_keys: list[str]  # key versions its agent retired (``keys/key``, ``keys/key.N``): hidden from every reader
    grant: dict[str, Any]  # never stored: set on the source machine's record for a request under a restore grant
    secondary: bool  # registered through the vault's paired-region names (cross-region restore, restore only)
    read_region: str | None  # never stored: a request through the paired region's names reads that replica


class JobRecord(_Common, total=False):
    """Kind ``job`` (``parent_id`` = the vault id)."""

    name: None
    type: Literal["Backup", "Restore"]
    status: str
    vault_id: str
    container_id: str
    hostname: str | None
    protected_item_id: str | None
    recovery_point_id: str | None
    start: float
    end: float | None


class RecoveryPointRecord(_Common, total=False):
    """Kind ``recovery_point`` (``parent_id`` = the vault id)."""

    name: None
    arn: str
    vault_id: str
    vault_name: str
    container_id: str
    hostname: str | None
    protected_item_id: str
    protected_item: str
    paths: list[str]
    time: float
    created: float
    manifest: str
    storage_account: str
    job_id: str
    status: str  # Completed | SoftDeleted
    packs_referenced: int | None  # how many packs its chunks live in (``point_packs``; None: its agent did not say)
    wal_from: str | None  # a database base backup: the first WAL segment it needs (older ones may go)
    expires: float | None  # lifecycle end: the service deletes the point then (None: kept)
    deleted: float | None  # when it was soft-deleted
    purge_after: float | None  # soft-deleted: when the service removes it for good
    deleted_with: str | None  # soft-deleted with its protected item or machine (this id): undeleted with it


# --- typed reads of the generic store --------------------------------------------------------------
def read_vault(txn: Txn, id: str) -> VaultRecord | None:
    return cast("VaultRecord | None", txn.get("vault", id))


def require_vault(txn: Txn, id: str) -> VaultRecord:
    return cast(VaultRecord, txn.require("vault", id))


def read_vnet(txn: Txn, id: str) -> VnetRecord | None:
    return cast("VnetRecord | None", txn.get("vnet", id))


def require_vnet(txn: Txn, id: str) -> VnetRecord:
    return cast(VnetRecord, txn.require("vnet", id))


def read_endpoint(txn: Txn, id: str) -> EndpointRecord | None:
    return cast("EndpointRecord | None", txn.get("endpoint", id))


def require_endpoint(txn: Txn, id: str) -> EndpointRecord:
    return cast(EndpointRecord, txn.require("endpoint", id))


def find_endpoints(txn: Txn, **eq: Any) -> list[EndpointRecord]:
    return cast("list[EndpointRecord]", txn.find("endpoint", **eq))


def find_vnets(txn: Txn, **eq: Any) -> list[VnetRecord]:
    return cast("list[VnetRecord]", txn.find("vnet", **eq))


def find_vaults(txn: Txn, **eq: Any) -> list[VaultRecord]:
    return cast("list[VaultRecord]", txn.find("vault", **eq))


def find_zones(txn: Txn, **eq: Any) -> list[DnsZoneRecord]:
    return cast("list[DnsZoneRecord]", txn.find("dns_zone", **eq))


def require_container(txn: Txn, id: str) -> ContainerRecord:
    return cast(ContainerRecord, txn.require("container", id))


def read_container(txn: Txn, id: str) -> ContainerRecord | None:
    return cast("ContainerRecord | None", txn.get("container", id))


def read_zone(txn: Txn, id: str) -> DnsZoneRecord | None:
    return cast("DnsZoneRecord | None", txn.get("dns_zone", id))


def require_zone(txn: Txn, id: str) -> DnsZoneRecord:
    return cast(DnsZoneRecord, txn.require("dns_zone", id))


def find_containers(txn: Txn, **eq: Any) -> list[ContainerRecord]:
    return cast("list[ContainerRecord]", txn.find("container", **eq))


def find_points(txn: Txn, vault_id: str, key: str, value: str) -> list[RecoveryPointRecord]:
    """The vault's points whose ``key`` (a machine's or an item's id) is ``value``, oldest first: the database picks
    them among the vault's (no other machine's point is read)."""
    rows = txn.newest("recovery_point", "time", 1 << 40, match={key: value}, parent_id=vault_id)
    return cast("list[RecoveryPointRecord]", rows[::-1])


def read_principal(txn: Txn, id: str) -> PrincipalRecord | None:
    return cast("PrincipalRecord | None", txn.get("principal", id))


def require_principal(txn: Txn, id: str) -> PrincipalRecord:
    return cast(PrincipalRecord, txn.require("principal", id))


def find_principals(txn: Txn, **eq: Any) -> list[PrincipalRecord]:
    return cast("list[PrincipalRecord]", txn.find("principal", **eq))


def read_api_key(txn: Txn, id: str) -> ApiKeyRecord | None:
    return cast("ApiKeyRecord | None", txn.get("api_key", id))


def find_api_keys(txn: Txn, **eq: Any) -> list[ApiKeyRecord]:
    return cast("list[ApiKeyRecord]", txn.find("api_key", **eq))
