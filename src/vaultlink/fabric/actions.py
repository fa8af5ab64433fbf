"""IAM action names for management routes reached through a service endpoint.

A service endpoint serves its own service's API only (as AWS's ``backup`` and ``backup-gateway`` interface
endpoints do): the routes listed here whose action names that service, each under its catalog action.
Every other management route (identity, networks, DNS, audit) is answered on the public endpoint only.
"""

from __future__ import annotations

from vaultlink.policy.actions import lookup

_MANAGEMENT_ACTIONS = {
    "vault.create": "backup:CreateBackupVault",
    "vault.list": "backup:ListBackupVaults",
    "vault.show": "backup:DescribeBackupVault",
    "vault.update": "backup:UpdateBackupVault",
    "vault.delete": "backup:DeleteBackupVault",
    "vault.credentials": "backup:GetVaultCredentials",
    "recovery.list": "backup:ListRecoveryPointsByBackupVault",
    "recovery.show": "backup:DescribeRecoveryPoint",
    "recovery.delete": "backup:DeleteRecoveryPoint",
    "recovery.update": "backup:UpdateRecoveryPointLifecycle",
    "recovery.restore": "backup:StartRestoreJob",
    "recovery.copy": "backup:StartCopyJob",
    "vault.lock.show": "backup:DescribeBackupVault",
    "vault.lock.put": "backup:PutBackupVaultLockConfiguration",
    "vault.lock.delete": "backup:DeleteBackupVaultLockConfiguration",
    "plan.create": "backup:CreateBackupPlan",
    "plan.list": "backup:ListBackupPlans",
    "plan.show": "backup:GetBackupPlan",
    "plan.delete": "backup:DeleteBackupPlan",
    "job.list": "backup:ListBackupJobs",
    "job.show": "backup:DescribeBackupJob",
    "region.list": "backup:ListRegions",
    "identity.whoami": "backup:GetCallerIdentity",
    "container.list": "backup:ListContainers",
    # the backup gateway (a backup-gateway endpoint serves these; a backup endpoint the ones above)
    "gateway.activate": "backup-gateway:ActivateGateway",
    "gateway.claim": "backup-gateway:ClaimGateway",
    "gateway.heartbeat": "backup-gateway:SendHeartbeat",
    "gateway.create": "backup-gateway:CreateGateway",
    "gateway.list": "backup-gateway:ListGateways",
    "gateway.show": "backup-gateway:GetGateway",
    "gateway.update": "backup-gateway:UpdateGatewayInformation",
    "gateway.delete": "backup-gateway:DeleteGateway",
    "gateway.associate": "backup-gateway:AssociateGatewayToServer",
    "gateway.disassociate": "backup-gateway:DisassociateGatewayFromServer",
    "hypervisor.import": "backup-gateway:ImportHypervisorConfiguration",
    "hypervisor.list": "backup-gateway:ListHypervisors",
    "hypervisor.show": "backup-gateway:GetHypervisor",
    "hypervisor.delete": "backup-gateway:DeleteHypervisor",
    "vm.list": "backup-gateway:ListVirtualMachines",
    "vm.show": "backup-gateway:GetVirtualMachine",
}

# what needs no credential: an appliance asking for an activation key and claiming its gateway (each call
# takes from the source address's anonymous bucket); and what only a gateway's own credential may do
ANONYMOUS_ACTIONS = frozenset({"backup-gateway:ActivateGateway", "backup-gateway:ClaimGateway"})
GATEWAY_ACTIONS = frozenset({"backup-gateway:SendHeartbeat"})

READ_PREFIXES = ("get", "list", "describe", "head")


def management_action(route_name: str) -> str:
    """``vault.create`` → ``backup:CreateBackupVault``; "" for a route the backup API does not have."""
    return _MANAGEMENT_ACTIONS.get(route_name, "")


def is_read(action: str) -> bool:
    """Does ``action`` only read (its catalog access level is Read or List)?"""
    info = lookup(action)
    if info is not None:
        return info.access in ("Read", "List")
    name = action.split(":", 1)[-1].lower()
    return name.startswith(READ_PREFIXES)
