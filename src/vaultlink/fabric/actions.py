"""IAM action names for management routes reached through a service endpoint."""

from __future__ import annotations

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
    "job.list": "backup:ListBackupJobs",
    "job.show": "backup:DescribeBackupJob",
    "region.list": "backup:ListRegions",
    "identity.whoami": "backup:GetCallerIdentity",
    "container.list": "backup:ListContainers",
}

READ_PREFIXES = ("get", "list", "describe", "head")


def management_action(route_name: str) -> str:
    """``vault.create`` → ``backup:CreateBackupVault``; others → ``backup:<Verb><Noun>``."""
    if route_name in _MANAGEMENT_ACTIONS:
        return _MANAGEMENT_ACTIONS[route_name]
    noun, _, verb = route_name.partition(".")
    camel = "".join(p.capitalize() for p in verb.replace("-", "_").split("_")) + "".join(
        p.capitalize() for p in noun.replace("-", "_").split("_")
    )
    return f"backup:{camel or 'Unknown'}"


def is_read(action: str) -> bool:
    name = action.split(":", 1)[-1].lower()
    return name.startswith(READ_PREFIXES)
