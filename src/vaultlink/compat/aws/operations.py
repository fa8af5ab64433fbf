"""Every AWS operation vaultlink implements, by service: the one table the front end dispatches on and
the README's conformance table is generated from (``python -m vaultlink.compat.aws.conformance``)."""

from __future__ import annotations

from vaultlink.compat.aws import backup_api as V
from vaultlink.compat.aws import backup_jobs as J
from vaultlink.compat.aws import backup_plans as P
from vaultlink.compat.aws import ec2_api as N
from vaultlink.compat.aws import ec2_groups as S
from vaultlink.compat.aws.backup_api import Handler
from vaultlink.compat.aws.gateway_api import GATEWAY_HANDLERS

BACKUP: dict[str, Handler] = {
    "CreateBackupVault": V.create_backup_vault,
    "DescribeBackupVault": V.describe_backup_vault,
    "ListBackupVaults": V.list_backup_vaults,
    "DeleteBackupVault": V.delete_backup_vault,
    "PutBackupVaultAccessPolicy": V.put_backup_vault_access_policy,
    "GetBackupVaultAccessPolicy": V.get_backup_vault_access_policy,
    "DeleteBackupVaultAccessPolicy": V.delete_backup_vault_access_policy,
    "PutBackupVaultLockConfiguration": V.put_backup_vault_lock_configuration,
    "DeleteBackupVaultLockConfiguration": V.delete_backup_vault_lock_configuration,
    "ListRecoveryPointsByBackupVault": J.list_recovery_points_by_backup_vault,
    "ListRecoveryPointsByResource": J.list_recovery_points_by_resource,
    "DescribeRecoveryPoint": J.describe_recovery_point,
    "DeleteRecoveryPoint": J.delete_recovery_point,
    "UpdateRecoveryPointLifecycle": J.update_recovery_point_lifecycle,
    "GetRecoveryPointRestoreMetadata": J.get_recovery_point_restore_metadata,
    "StartBackupJob": J.start_backup_job,
    "DescribeBackupJob": J.describe_backup_job,
    "ListBackupJobs": J.list_backup_jobs,
    "StopBackupJob": J.stop_backup_job,
    "StartRestoreJob": J.start_restore_job,
    "DescribeRestoreJob": J.describe_restore_job,
    "ListRestoreJobs": J.list_restore_jobs,
    "ListProtectedResources": J.list_protected_resources,
    "DescribeProtectedResource": J.describe_protected_resource,
    "CreateBackupPlan": P.create_backup_plan,
    "GetBackupPlan": P.get_backup_plan,
    "UpdateBackupPlan": P.update_backup_plan,
    "DeleteBackupPlan": P.delete_backup_plan,
    "ListBackupPlans": P.list_backup_plans,
    "ListBackupPlanVersions": P.list_backup_plan_versions,
    "CreateBackupSelection": P.create_backup_selection,
    "GetBackupSelection": P.get_backup_selection,
    "ListBackupSelections": P.list_backup_selections,
    "DeleteBackupSelection": P.delete_backup_selection,
    "StartCopyJob": P.start_copy_job,
    "DescribeCopyJob": P.describe_copy_job,
    "ListCopyJobs": P.list_copy_jobs,
    "ListTags": V.list_tags,
    "TagResource": V.tag_resource,
    "UntagResource": V.untag_resource,
}
EC2: dict[str, Handler] = {**N.EC2_HANDLERS, **S.HANDLERS}
STS: dict[str, Handler] = N.STS_HANDLERS
GATEWAY: dict[str, Handler] = GATEWAY_HANDLERS
