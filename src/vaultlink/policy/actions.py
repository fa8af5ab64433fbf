"""The catalog of backup actions and the resource types each one applies to.

ARN formats (``<partition>`` is ``aws``-like: the region's partition):

- vault: ``arn:<partition>:backup:<region>:<account>:backup-vault:<name>``
- recovery point: ``arn:<partition>:backup:<region>:<account>:recovery-point:<id>``
- backup plan: ``arn:<partition>:backup:<region>:<account>:backup-plan:<id>``

Actions whose resource types are empty apply to ``"*"`` only (list/describe
calls that are not about one resource). Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vaultlink.policy.matching import glob_to_regex

SERVICE = "backup"
VAULT = "backupVault"
RECOVERY_POINT = "recoveryPoint"
BACKUP_PLAN = "backupPlan"

RESOURCE_TYPES: dict[str, str] = {
    VAULT: "backup-vault",
    RECOVERY_POINT: "recovery-point",
    BACKUP_PLAN: "backup-plan",
}


@dataclass(frozen=True, slots=True)
class ActionInfo:
    name: str  # e.g. "backup:StartBackupJob"
    resource_types: tuple[str, ...]
    access: str  # Read, List, Write, Permissions management, Tagging


def _a(name: str, access: str, *types: str) -> ActionInfo:
    return ActionInfo(f"{SERVICE}:{name}", tuple(types), access)


_CATALOG: tuple[ActionInfo, ...] = (
    # vaults
    _a("CreateBackupVault", "Write", VAULT),
    _a("UpdateBackupVault", "Write", VAULT),
    _a("GetVaultCredentials", "Write", VAULT),  # issues a registration secret
    _a("ListRegions", "List"),
    _a("GetCallerIdentity", "Read"),
    _a("DeleteBackupVault", "Write", VAULT),
    _a("DescribeBackupVault", "Read", VAULT),
    _a("ListBackupVaults", "List"),
    _a("PutBackupVaultAccessPolicy", "Permissions management", VAULT),
    _a("GetBackupVaultAccessPolicy", "Read", VAULT),
    _a("DeleteBackupVaultAccessPolicy", "Permissions management", VAULT),
    _a("PutBackupVaultNotifications", "Write", VAULT),
    _a("GetBackupVaultNotifications", "Read", VAULT),
    _a("DeleteBackupVaultNotifications", "Write", VAULT),
    _a("PutBackupVaultLockConfiguration", "Write", VAULT),
    _a("DeleteBackupVaultLockConfiguration", "Write", VAULT),
    _a("ListRecoveryPointsByBackupVault", "List", VAULT),
    # jobs
    _a("StartBackupJob", "Write", VAULT),
    _a("StopBackupJob", "Write"),
    _a("DescribeBackupJob", "Read"),
    _a("ListBackupJobs", "List"),
    _a("StartRestoreJob", "Write", RECOVERY_POINT),
    _a("DescribeRestoreJob", "Read"),
    _a("ListRestoreJobs", "List"),
    _a("StartCopyJob", "Write", RECOVERY_POINT),
    _a("DescribeCopyJob", "Read"),
    _a("ListCopyJobs", "List"),
    # recovery points
    _a("DescribeRecoveryPoint", "Read", RECOVERY_POINT),
    _a("DeleteRecoveryPoint", "Write", RECOVERY_POINT),
    _a("UpdateRecoveryPointLifecycle", "Write", RECOVERY_POINT),
    _a("GetRecoveryPointRestoreMetadata", "Read", RECOVERY_POINT),
    _a("DisassociateRecoveryPoint", "Write", RECOVERY_POINT),
    _a("ListRecoveryPointsByResource", "List"),
    # protected resources, containers and items (vaultlink's data plane)
    _a("ListProtectedResources", "List"),
    _a("DescribeProtectedResource", "Read"),
    _a("RegisterContainer", "Write", VAULT),
    _a("DeregisterContainer", "Write", VAULT),
    _a("ReRegisterContainer", "Write", VAULT),
    _a("ListContainers", "List", VAULT),
    _a("DescribeContainer", "Read", VAULT),
    _a("CreateProtectedItem", "Write", VAULT),
    _a("DeleteProtectedItem", "Write", VAULT),
    _a("ListProtectedItems", "List", VAULT),
    _a("DescribeProtectedItem", "Read", VAULT),
    _a("PutBackupData", "Write", VAULT),
    _a("GetBackupData", "Read", VAULT, RECOVERY_POINT),
    _a("QueryChunkIndex", "Read", VAULT),
    _a("RetireKeyVersions", "Write", VAULT),  # a machine's agent hides its old key versions (a passphrase change)
    # the agent's work-item queue (receiving hides items from other readers: a write)
    _a("PutWorkItem", "Write", VAULT),
    _a("ReceiveWorkItems", "Write", VAULT),
    _a("DeleteWorkItem", "Write", VAULT),
    # plans and selections
    _a("CreateBackupPlan", "Write", BACKUP_PLAN),
    _a("DeleteBackupPlan", "Write", BACKUP_PLAN),
    _a("GetBackupPlan", "Read", BACKUP_PLAN),
    _a("UpdateBackupPlan", "Write", BACKUP_PLAN),
    _a("ListBackupPlans", "List"),
    _a("ListBackupPlanVersions", "List", BACKUP_PLAN),
    _a("CreateBackupSelection", "Write", BACKUP_PLAN),
    _a("DeleteBackupSelection", "Write", BACKUP_PLAN),
    _a("GetBackupSelection", "Read", BACKUP_PLAN),
    _a("ListBackupSelections", "List", BACKUP_PLAN),
    # tags and settings
    _a("TagResource", "Tagging", VAULT, RECOVERY_POINT, BACKUP_PLAN),
    _a("UntagResource", "Tagging", VAULT, RECOVERY_POINT, BACKUP_PLAN),
    _a("ListTags", "Read", VAULT, RECOVERY_POINT, BACKUP_PLAN),
    _a("DescribeRegionSettings", "Read"),
    _a("UpdateRegionSettings", "Write"),
    _a("GetSupportedResourceTypes", "Read"),
)

GATEWAY_SERVICE = "backup-gateway"


def _g(name: str, access: str) -> ActionInfo:
    return ActionInfo(f"{GATEWAY_SERVICE}:{name}", (), access)


# the backup gateway's operations (boto3's backup-gateway), and the appliance's own three (vaultlink's)
_GATEWAY_CATALOG: tuple[ActionInfo, ...] = (
    _g("CreateGateway", "Write"), _g("ListGateways", "List"), _g("GetGateway", "Read"),
    _g("DeleteGateway", "Write"), _g("UpdateGatewayInformation", "Write"),
    _g("AssociateGatewayToServer", "Write"), _g("DisassociateGatewayFromServer", "Write"),
    _g("PutMaintenanceStartTime", "Write"), _g("ImportHypervisorConfiguration", "Write"),
    _g("ListHypervisors", "List"), _g("GetHypervisor", "Read"), _g("UpdateHypervisor", "Write"),
    _g("DeleteHypervisor", "Write"), _g("ListVirtualMachines", "List"), _g("GetVirtualMachine", "Read"),
    _g("ListTagsForResource", "Read"), _g("TagResource", "Tagging"), _g("UntagResource", "Tagging"),
    _g("ActivateGateway", "Write"), _g("ClaimGateway", "Write"), _g("SendHeartbeat", "Write"),
)

ACTIONS: dict[str, ActionInfo] = {a.name.lower(): a for a in (*_CATALOG, *_GATEWAY_CATALOG)}
SERVICES: frozenset[str] = frozenset({SERVICE, GATEWAY_SERVICE})


def lookup(action: str) -> ActionInfo | None:
    """The catalog entry for an action name (case-insensitive)."""
    return ACTIONS.get(action.lower())


def actions_matching(pattern: str) -> list[ActionInfo]:
    """Catalog actions a policy Action pattern (``backup:Start*``) covers."""
    rx = re.compile(glob_to_regex(pattern.lower()), re.DOTALL)
    return [a for k, a in ACTIONS.items() if rx.fullmatch(k)]


def resource_arn(partition: str, region: str, account: str, rtype: str, name: str) -> str:
    return f"arn:{partition}:{SERVICE}:{region}:{account}:{RESOURCE_TYPES[rtype]}:{name}"


def vault_arn(partition: str, region: str, account: str, name: str) -> str:
    return resource_arn(partition, region, account, VAULT, name)


def recovery_point_arn(partition: str, region: str, account: str, rp_id: str) -> str:
    return resource_arn(partition, region, account, RECOVERY_POINT, rp_id)


@dataclass(frozen=True, slots=True)
class BackupArn:
    partition: str
    region: str
    account: str
    resource_type: str  # catalog name, e.g. "backupVault"
    name: str


_BY_PREFIX = {v: k for k, v in RESOURCE_TYPES.items()}


def parse_backup_arn(arn: str) -> BackupArn | None:
    """Split a backup ARN into its parts; None when it is not one."""
    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != SERVICE:
        return None
    rtype = _BY_PREFIX.get(parts[5])
    if rtype is None or not parts[6]:
        return None
    return BackupArn(parts[1], parts[3], parts[4], rtype, parts[6])
