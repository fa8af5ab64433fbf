"""Errors of backup data, private DNS, the data plane and the agent."""

from __future__ import annotations

from vaultlink.errors.base import Conflict, InvalidApiKey, InvalidInput, NotFound, VaultlinkError


# --- backup data ---------------------------------------------------------------
class PassphraseTooShort(InvalidInput):
    """The encryption passphrase must be at least 16 characters; choose a longer one and keep it safe."""

    code = "PassphraseTooShort"
    http_status = 400
    exit_code = 2


class WrongPassphrase(VaultlinkError):
    """The passphrase opens none of this machine's key versions; use the one set at first registration, or the
    newest set with `vaultlink agent passphrase` (one retired with --retire-old opens nothing: `vaultlink container
    keys VAULT MACHINE` shows the versions)."""

    code = "WrongPassphrase"
    http_status = 401
    exit_code = 3


class UnsafePath(InvalidInput):
    """A path in the backup would be written outside the restore target; the recovery point was refused."""

    code = "UnsafePath"
    http_status = 400
    exit_code = 2


class InsufficientSpace(Conflict):
    """The restore target's file system has less free space than the files to restore need; free some space, or
    restore elsewhere (--target) or a part (--include)."""

    code = "InsufficientSpace"
    http_status = 409
    exit_code = 4


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




class AgentNotSupported(InvalidInput):
    """This kind or version of agent cannot register this way; the message says which kinds and versions can
    and how to upgrade (or to register through the vault's public endpoint)."""

    code = "AgentNotSupported"
    http_status = 400
    exit_code = 2


class ImageUnreadable(VaultlinkError):
    """qemu-img could not read the VM image; the message says why and what to do."""

    code = "ImageUnreadable"
    http_status = 422
    exit_code = 2
