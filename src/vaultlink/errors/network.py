"""Errors of networks, endpoints and the request pipeline (the data path)."""

from __future__ import annotations

from vaultlink.errors.base import AccessDenied, Conflict, InvalidInput, NotFound, VaultlinkError


# --- networks and endpoints ---------------------------------------------------
class CidrOutOfRange(InvalidInput):
    """In loopback mode address spaces lie inside 127.0.0.0/8 and outside 127.0.0.0/16 (the internet); pick e.g.
    127.10.0.0/16."""

    code = "CidrOutOfRange"
    http_status = 400
    exit_code = 2


class CidrOverlap(InvalidInput):
    """The address range overlaps another one; pick a range that overlaps no other vnet or subnet."""

    code = "CidrOverlap"
    http_status = 400
    exit_code = 2


class SubnetOutsideVnet(InvalidInput):
    """The subnet is not inside any of the vnet's address spaces; pick a range inside one of them."""

    code = "SubnetOutsideVnet"
    http_status = 400
    exit_code = 2


class SubnetTooSmall(InvalidInput):
    """A subnet needs at least 8 addresses (/29 or larger): its first four and its last are reserved."""

    code = "SubnetTooSmall"
    http_status = 400
    exit_code = 2


class SubnetFull(Conflict):
    """The subnet has no free addresses left; use another subnet, add a larger one, or delete unused endpoints."""

    code = "SubnetFull"
    http_status = 409
    exit_code = 4


class SubnetInUse(Conflict):
    """The subnet still holds endpoint addresses; delete those endpoints first."""

    code = "SubnetInUse"
    http_status = 409
    exit_code = 4


class VnetInUse(Conflict):
    """The virtual network still holds private endpoints; delete them first (`vaultlink endpoint list --vnet`)."""

    code = "VnetInUse"
    http_status = 409
    exit_code = 4


class RegionMismatch(InvalidInput):
    """The regions do not match: an AzureBackup endpoint and its vnet must be in the vault's region, a secondary one in
    the vault's paired region."""

    code = "RegionMismatch"
    http_status = 400
    exit_code = 2


class UnknownGroupId(InvalidInput):
    """Unknown target sub-resource (group id); use AzureBackup or AzureBackup_secondary."""

    code = "UnknownGroupId"
    http_status = 400
    exit_code = 2


class UnknownService(InvalidInput):
    """Unknown endpoint service; use backup or backup-gateway."""

    code = "UnknownService"
    http_status = 400
    exit_code = 2


class ServiceNotAvailableInRegion(InvalidInput):
    """The service has no endpoints in that region; pick a region that offers it (`vaultlink region list`)."""

    code = "ServiceNotAvailableInRegion"
    http_status = 400
    exit_code = 2


class InvalidSecurityRule(InvalidInput):
    """A security-group rule is not valid: use protocol tcp, udp or all, ports N or N-M (1-65535) and a source CIDR."""

    code = "InvalidSecurityRule"
    http_status = 400
    exit_code = 2


class GatewayPortsRequired(InvalidInput):
    """A backup-gateway endpoint's security group must allow TCP 443, 1026, 1027, 1028, 1031 and 2222; add rules for
    the missing ports."""

    code = "GatewayPortsRequired"
    http_status = 400
    exit_code = 2


class SecondaryEndpointLimit(Conflict):
    """A vault has at most 12 AzureBackup_secondary private endpoints; delete one before creating another."""

    code = "SecondaryEndpointLimit"
    http_status = 409
    exit_code = 4


class VaultHasProtectionHistory(Conflict):
    """AzureBackup private endpoints can be created only on a vault that has never had items protected or containers
    registered (unless it already has AzureBackup endpoints); create a new vault for private endpoints."""

    code = "VaultHasProtectionHistory"
    http_status = 409
    exit_code = 4


class CrossRegionRestoreDisabled(Conflict):
    """AzureBackup_secondary endpoints need cross-region restore; enable it with `vaultlink vault update V
    --cross-region-restore Enabled`."""

    code = "CrossRegionRestoreDisabled"
    http_status = 409
    exit_code = 4


class InvalidConnectionTransition(Conflict):
    """The connection's state does not allow that: Pending can be approved or rejected, Approved can be rejected, any
    live connection can be removed."""

    code = "InvalidConnectionTransition"
    http_status = 409
    exit_code = 4


class EndpointDisconnected(Conflict):
    """The endpoint's connection was removed by the vault owner; it can only be deleted
    (`vaultlink endpoint delete`)."""


    code = "EndpointDisconnected"
    http_status = 409
    exit_code = 4


class VaultHasEndpoints(Conflict):
    """The vault still has private endpoints; delete them first (`vaultlink endpoint connection list --vault V`)."""

    code = "VaultHasEndpoints"
    http_status = 409
    exit_code = 4


class PrivateDnsConflict(Conflict):
    """Another endpoint for the same service already has private DNS enabled in this vnet; disable private DNS on one
    of them."""

    code = "PrivateDnsConflict"
    http_status = 409
    exit_code = 4


# --- data path (the request pipeline) ---------------------------------------------
class EndpointUnreachable(AccessDenied):
    """This private endpoint is not reachable from your network: call it from its own virtual network or a
    peered one (`vaultlink vnet peer`)."""

    code = "EndpointUnreachable"
    http_status = 403
    exit_code = 3


class SecurityGroupDenied(AccessDenied):
    """The endpoint's security group does not allow this traffic; add an inbound rule for your address
    (`vaultlink endpoint sg add-rule`)."""

    code = "SecurityGroupDenied"
    http_status = 403
    exit_code = 3


class EndpointConnectionPending(AccessDenied):
    """The private endpoint connection is Pending: the vault's owner must approve it
    (`vaultlink endpoint connection approve`)."""

    code = "EndpointConnectionPending"
    http_status = 403
    exit_code = 3


class EndpointConnectionRejected(AccessDenied):
    """The private endpoint connection was Rejected by the vault's owner; ask them to approve it or use
    another endpoint."""

    code = "EndpointConnectionRejected"
    http_status = 403
    exit_code = 3


class EndpointConnectionDisconnected(AccessDenied):
    """The private endpoint connection was removed (Disconnected); delete this endpoint and create a new one."""

    code = "EndpointConnectionDisconnected"
    http_status = 403
    exit_code = 3


class EndpointTargetMismatch(AccessDenied):
    """This private endpoint serves another vault or service; resolve the name through DNS so you reach the
    endpoint that serves it."""

    code = "EndpointTargetMismatch"
    http_status = 403
    exit_code = 3


class UnknownServiceName(NotFound):
    """No vault, storage account or regional service has that name; check the name (or the vault id) you
    asked for."""

    code = "UnknownServiceName"
    http_status = 404
    exit_code = 4


class PublicNetworkAccessDisabled(AccessDenied):
    """The vault denies public network access: move data through one of its private endpoints, or enable
    public access (`vaultlink vault update --public-network-access Enabled`)."""

    code = "PublicNetworkAccessDisabled"
    http_status = 403
    exit_code = 3


class EndpointPolicyDenied(AccessDenied):
    """The endpoint policy does not allow this request; change it (`vaultlink endpoint policy set`)."""

    code = "EndpointPolicyDenied"
    http_status = 403
    exit_code = 3


class ContainerReregistrationRequired(AccessDenied):
    """The private endpoint this machine registered through was removed; register it again
    (`vaultlink agent register`). Protection and recovery points are kept."""

    code = "ContainerReregistrationRequired"
    http_status = 403
    exit_code = 3


class RequestTimeout(InvalidInput):
    """The request body arrived too slowly; retry on a faster connection."""

    code = "RequestTimeout"
    http_status = 408
    exit_code = 2


# --- data path hardening (HTTP layer) ---
class MalformedHttpRequest(InvalidInput):
    """The request is not valid HTTP/1.1; send a well-formed request (check the client or proxy in between)."""

    code = "MalformedHttpRequest"
    http_status = 400
    exit_code = 2


class RequestHeaderTooLarge(InvalidInput):
    """The request line and headers are larger than the server accepts; send fewer or shorter headers."""

    code = "RequestHeaderTooLarge"
    http_status = 431
    exit_code = 2


# --- checks that found problems (exit 6) ---
class DnsProblemsFound(VaultlinkError):
    """`vaultlink dns doctor` found missing or wrong private DNS zones, links or records; apply the fixes it
    lists, then run it again."""

    code = "DnsProblemsFound"
    http_status = 200
    exit_code = 6


class VaultIdentityNotAuthorized(AccessDenied):
    """The vault's managed identity lacks a role it needs to grow the vault's private endpoints (network.write
    on the vnet, dns.write on the private DNS zones); grant it with `vaultlink role assign`."""

    code = "VaultIdentityNotAuthorized"
    http_status = 403
    exit_code = 3


class AmbiguousCredentials(VaultlinkError):
    """The request carries more than one credential; send exactly one (Authorization: Bearer TOKEN, or
    X-Api-Key: TOKEN)."""

    code = "AmbiguousCredentials"
    http_status = 401
    exit_code = 3


class BackupInProgress(Conflict):
    """Another backup of this machine is running; wait for it to finish, then run this one again."""

    code = "BackupInProgress"
    http_status = 409
    exit_code = 4


class BlobExists(Conflict):
    """A blob of that name is stored already with other bytes; stored data is write-once: nobody overwrites
    it (write the new data under a new name)."""

    code = "BlobExists"
    http_status = 409
    exit_code = 4


class ContentMismatch(InvalidInput):
    """The blob's name is not the BLAKE3 hash of its bytes; packs/, index/ and snapshots/ are named by their
    content."""

    code = "ContentMismatch"
    http_status = 400
    exit_code = 2


class GatewayNotCreated(Conflict):
    """No gateway was created with this activation key yet: give the key to CreateGateway, then claim again."""

    code = "GatewayNotCreated"
    http_status = 409
    exit_code = 4


class GatewayPortsBlocked(VaultlinkError):
    """`vaultlink gateway health` found a port of the backup-gateway endpoint that the appliance cannot reach;
    allow it in the endpoint's security group (`vaultlink endpoint sg add-rule`), then run it again."""

    code = "GatewayPortsBlocked"
    http_status = 200
    exit_code = 6
