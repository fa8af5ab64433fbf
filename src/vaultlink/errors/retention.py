"""Errors of immutability and retention: soft delete, vault lock, registration scopes, prune."""

from __future__ import annotations

from vaultlink.errors.base import AccessDenied, Conflict, InvalidInput, ServiceUnavailable


class RecoveryPointLocked(Conflict):
    """The vault's lock keeps this recovery point until its retention ends; it cannot be deleted before then."""

    code = "RecoveryPointLocked"
    http_status = 409
    exit_code = 4


class VaultLocked(Conflict):
    """The vault lock is in compliance mode (its changeable window ended): nobody can remove it, loosen it or
    delete the vault while it holds recovery points."""

    code = "VaultLocked"
    http_status = 409
    exit_code = 4


class RetentionOutsideLock(InvalidInput):
    """The retention asked for is outside the vault lock's minimum and maximum retention days."""

    code = "RetentionOutsideLock"
    http_status = 400
    exit_code = 2


class SoftDeleteAlwaysOn(Conflict):
    """Soft delete is always on for this vault: it cannot be turned off or shortened."""

    code = "SoftDeleteAlwaysOn"
    http_status = 409
    exit_code = 4


class RecoveryPointSoftDeleted(Conflict):
    """The recovery point is soft-deleted; `vaultlink recovery-point undelete` it before restoring it."""

    code = "RecoveryPointSoftDeleted"
    http_status = 409
    exit_code = 4


class NotSoftDeleted(Conflict):
    """Only a soft-deleted recovery point (or protected item) can be undeleted."""

    code = "NotSoftDeleted"
    http_status = 409
    exit_code = 4


class RegistrationScopeDenied(AccessDenied):
    """The machine's registration scope (backup-only or restore-only) does not allow this call."""

    code = "RegistrationScopeDenied"
    http_status = 403
    exit_code = 3


class PruneInProgress(ServiceUnavailable):
    """The service is removing unused packs of this machine's data; the backup starts when it has finished
    (the agent retries on its own)."""

    code = "PruneInProgress"
    http_status = 503
    exit_code = 5


class PackMissing(Conflict):
    """A pack the recovery point references is not stored (pruned meanwhile); run the backup again."""

    code = "PackMissing"
    http_status = 409
    exit_code = 4


class ContainerSoftDeleted(Conflict):
    """This machine was unregistered and its data soft-deleted; the vault's owner can undelete it
    (`vaultlink container undelete VAULT MACHINE`)."""

    code = "ContainerSoftDeleted"
    http_status = 409
    exit_code = 4


class ItemSoftDeleted(Conflict):
    """This protected item's data is soft-deleted; undelete it (`vaultlink item undelete ITEM`) to protect it
    again."""

    code = "ItemSoftDeleted"
    http_status = 409
    exit_code = 4


class NotReplicated(Conflict):
    """The recovery point is not replicated to the vault's paired region yet; restore it in the primary region
    or wait for replication (`vaultlink vault show` gives the lag)."""

    code = "NotReplicated"
    http_status = 409
    exit_code = 4


class SecondaryReadOnly(AccessDenied):
    """The paired region's copy of a vault is read-only: back up through the vault's primary-region names."""

    code = "SecondaryReadOnly"
    http_status = 403
    exit_code = 3
