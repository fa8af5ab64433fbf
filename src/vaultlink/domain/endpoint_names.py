"""The names a private endpoint serves (pure): its backup-service name and, per storage account of its
vault, a blob and a queue name; a service endpoint's regional name. IPs are allocated by the service."""

from __future__ import annotations

from collections.abc import Iterable

from vaultlink.dns import names
from vaultlink.domain.records import IpConfig, VaultRecord


def storage_configs(account: str, domain: str, secondary: bool = False) -> list[IpConfig]:
    """A storage account's blob and queue names; ``secondary``: its paired-region copy's (``<a>-secondary``),
    which an ``AzureBackup_secondary`` endpoint serves."""
    label = names.secondary_account(account) if secondary else account
    out: list[IpConfig] = []
    for kind in ("blob", "queue"):
        out.append(
            {
                "fqdn": names.storage_privatelink_name(label, kind, domain),
                "public_name": names.storage_public_name(label, kind, domain),
                "zone": names.storage_privatelink_zone(kind, domain),
                "purpose": kind,
                "storage_account": account,
            }
        )
    return out


def resource_configs(vault_id: str, geo: str, storage_accounts: Iterable[str], domain: str,
                     secondary: bool = False) -> list[IpConfig]:
    """The names a resource endpoint serves (without IPs): backup service, then blob+queue per account (of
    the secondary copies, for a ``secondary`` endpoint: ``geo`` is then the paired region's)."""
    out: list[IpConfig] = [
        {
            "fqdn": names.vault_privatelink_name(vault_id, geo, domain),
            "public_name": names.vault_public_name(vault_id, geo, domain),
            "zone": names.vault_privatelink_zone(geo, domain),
            "purpose": "backup",
            "storage_account": None,
        }
    ]
    for acct in storage_accounts:
        out += storage_configs(acct, domain, secondary)
    return out


def service_configs(endpoint_id: str, service: str, region: str, domain: str) -> list[IpConfig]:
    return [
        {
            "fqdn": names.endpoint_service_name(endpoint_id, service, region, domain),  # type: ignore[arg-type]
            "public_name": names.regional_service_name(service, region, domain),  # type: ignore[arg-type]
            "zone": None,
            "purpose": "service",
            "storage_account": None,
        }
    ]


def storage_account_names(vault: VaultRecord) -> list[str]:
    """The vault's storage account names (entries may be names or dicts with a ``name``)."""
    out = []
    for sa in vault.get("storage_accounts") or []:
        out.append(str(sa["name"]) if isinstance(sa, dict) else str(sa))
    return out

