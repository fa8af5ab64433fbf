"""The error tree: every error a user can see has a stable code.

Each class carries:
- ``code``: the stable string users, scripts and tests rely on;
- ``http_status``: what the API answers;
- ``exit_code``: what the CLI exits with;
- the docstring: the default message, which says how to fix the problem.

Raise with a specific message (``raise InvalidName("vault name 'x y' ...")``) or
without one to use the docstring. Third-party exceptions are translated into
these at the adapter that meets them.
"""

from __future__ import annotations

from typing import Any, ClassVar

_REGISTRY: dict[str, type[VaultlinkError]] = {}


class VaultlinkError(Exception):
    """Something went wrong; the message says what to do."""

    code: ClassVar[str] = "InternalError"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str | None = None, *, field: str | None = None, **details: Any) -> None:
        doc = " ".join((type(self).__doc__ or "").split())  # docstrings may wrap; messages are one line
        self.message = message or doc
        self.field = field
        self.details = details
        super().__init__(self.message)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code in _REGISTRY and _REGISTRY[cls.code] is not cls:
            raise TypeError(f"duplicate error code {cls.code}")
        _REGISTRY[cls.code] = cls

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.details:
            out["details"] = self.details
        return out


def from_dict(data: dict[str, Any], http_status: int | None = None) -> VaultlinkError:
    """Rebuild an error from an API error body (used by the CLI and the agent)."""
    code = str(data.get("code", "InternalError"))
    cls = _REGISTRY.get(code)
    details = data.get("details") or {}
    if cls is None:
        err = VaultlinkError(str(data.get("message", "")), field=data.get("field"), **details)
        err.code = code  # type: ignore[misc]
        if http_status:
            err.http_status = http_status  # type: ignore[misc]
        return err
    return cls(str(data.get("message", "")) or None, field=data.get("field"), **details)


def all_codes() -> dict[str, type[VaultlinkError]]:
    return dict(_REGISTRY)


# --- input (exit 2) -------------------------------------------------------
class InvalidInput(VaultlinkError):
    """The request is not valid; fix the named field and retry."""

    code = "InvalidInput"
    http_status = 400
    exit_code = 2


class MalformedJSON(InvalidInput):
    """The request body is not valid JSON; send a JSON object."""

    code = "MalformedJSON"
    http_status = 400
    exit_code = 2


class InvalidName(InvalidInput):
    """Names are 1-63 characters: lower-case letters, digits and hyphens, starting with a letter."""

    code = "InvalidName"
    http_status = 400
    exit_code = 2


class InvalidType(InvalidInput):
    """A field has the wrong type; see the field named in the error."""

    code = "InvalidType"
    http_status = 400
    exit_code = 2


class MissingField(InvalidInput):
    """A required field is missing; add it and retry."""

    code = "MissingField"
    http_status = 400
    exit_code = 2


class UnknownRegion(InvalidInput):
    """Unknown region; run `vaultlink region list` to see the choices."""

    code = "UnknownRegion"
    http_status = 400
    exit_code = 2


class InvalidCidr(InvalidInput):
    """The address range is not a valid CIDR."""

    code = "InvalidCidr"
    http_status = 400
    exit_code = 2


class PolicyInvalid(InvalidInput):
    """The policy document is not valid; fix the problems listed."""

    code = "PolicyInvalid"
    http_status = 400
    exit_code = 2


class PolicyTooLarge(InvalidInput):
    """The policy document is over 20,480 characters; shorten it."""

    code = "PolicyTooLarge"
    http_status = 400
    exit_code = 2


class PayloadTooLarge(InvalidInput):
    """The request body is too large; send a smaller one."""

    code = "PayloadTooLarge"
    http_status = 413
    exit_code = 2


# --- authentication / authorization (exit 3) -----------------------------
class Unauthenticated(VaultlinkError):
    """No API key was sent; set VAULTLINK_API_KEY or pass --api-key."""

    code = "Unauthenticated"
    http_status = 401
    exit_code = 3


class InvalidApiKey(VaultlinkError):
    """The API key is unknown or revoked; create a new one with `vaultlink key create`."""

    code = "InvalidApiKey"
    http_status = 401
    exit_code = 3


class AccessDenied(VaultlinkError):
    """Your role does not allow this call; ask an Owner to assign a stronger role."""

    code = "AccessDenied"
    http_status = 403
    exit_code = 3


# --- state (exit 4) --------------------------------------------------------
class NotFound(VaultlinkError):
    """The resource does not exist; list them to see what exists."""

    code = "NotFound"
    http_status = 404
    exit_code = 4


class Conflict(VaultlinkError):
    """The request conflicts with the current state of the resource."""

    code = "Conflict"
    http_status = 409
    exit_code = 4


class AlreadyExists(Conflict):
    """A resource with that name already exists; pick another name."""

    code = "AlreadyExists"
    http_status = 409
    exit_code = 4


class VaultNotEmpty(Conflict):
    """The vault holds recovery points; delete them (or the protected items) before deleting the vault."""

    code = "VaultNotEmpty"
    http_status = 409
    exit_code = 4


# --- service (exit 5) ------------------------------------------------------
class ServiceUnavailable(VaultlinkError):
    """The vaultlink service cannot be reached; start it with `vaultlink serve` or check VAULTLINK_URL."""

    code = "ServiceUnavailable"
    http_status = 503
    exit_code = 5


class RequestLimitExceeded(VaultlinkError):
    """Too many requests; slow down and retry after a short wait."""

    code = "RequestLimitExceeded"
    http_status = 429
    exit_code = 5


class StoreError(VaultlinkError):
    """The metadata store failed; check the service log."""

    code = "StoreError"
    http_status = 500
    exit_code = 5


# --- backup data ---------------------------------------------------------------
class PassphraseTooShort(InvalidInput):
    """The encryption passphrase must be at least 16 characters; choose a longer one and keep it safe."""

    code = "PassphraseTooShort"
    http_status = 400
    exit_code = 2


class WrongPassphrase(VaultlinkError):
    """The passphrase does not open this vault's key file; use the passphrase set at first registration."""

    code = "WrongPassphrase"
    http_status = 401
    exit_code = 3


class UnsafePath(InvalidInput):
    """A path in the backup would be written outside the restore target; the recovery point was refused."""

    code = "UnsafePath"
    http_status = 400
    exit_code = 2


class CorruptData(VaultlinkError):
    """Stored backup data is damaged; run `vaultlink agent check --read-data` to list the affected files."""

    code = "CorruptData"
    http_status = 500
    exit_code = 5


# --- dns ------------------------------------------------------------------
class InvalidRecord(InvalidInput):
    """The DNS record set is not valid: check its name, type (A, AAAA, CNAME, TXT), TTL and values."""

    code = "InvalidRecord"
    http_status = 400
    exit_code = 2


class CnameConflict(InvalidInput):
    """A CNAME record set must be alone at its name (and never at the zone apex); remove the other records or pick
    another name."""

    code = "CnameConflict"
    http_status = 400
    exit_code = 2


class RecordOutsideZone(InvalidInput):
    """The record's name is not inside the zone; use a name relative to the zone (or '@' for its apex)."""

    code = "RecordOutsideZone"
    http_status = 400
    exit_code = 2


class ZoneLinkConflict(Conflict):
    """The virtual network is already linked to a private DNS zone with that name; remove the other link first."""

    code = "ZoneLinkConflict"
    http_status = 409
    exit_code = 4


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


# --- data plane and agent ---


class CredentialsExpired(InvalidApiKey):
    """The vault credentials file has expired; download a new one (`vaultlink vault credentials VAULT -o FILE`)
    and run `vaultlink agent register` again."""

    code = "CredentialsExpired"
    http_status = 401
    exit_code = 3


class NotRegistered(Conflict):
    """This machine is not registered with a vault yet; run `vaultlink agent register --credentials FILE
    --source-ip IP --dns HOST:PORT` first."""

    code = "NotRegistered"
    http_status = 409
    exit_code = 4


class NameNotResolved(Conflict):
    """A vault name does not resolve through the DNS server this machine uses; add the record that the
    message names (`vaultlink endpoint dns-config ENDPOINT` lists them), or enable DNS zone integration."""

    code = "NameNotResolved"
    http_status = 409
    exit_code = 4


class RecoveryPointNotFound(NotFound):
    """No such recovery point; `vaultlink recovery-point list VAULT` shows the vault's recovery points."""

    code = "RecoveryPointNotFound"
    http_status = 404
    exit_code = 4


# --- private dns (service) --------------------------------------------------
class DnsZoneInUse(Conflict):
    """The private DNS zone still has virtual network links; remove them (`vaultlink dns link remove`) first."""

    code = "DnsZoneInUse"
    http_status = 409
    exit_code = 4


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
