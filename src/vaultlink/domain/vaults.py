"""Vault rules (pure): properties, validation, protection history."""

from __future__ import annotations

from typing import Any, cast

from vaultlink.domain.records import ProtectionHistory, Toggle, VaultRecord
from vaultlink.errors import InvalidInput, InvalidType

TOGGLES = ("Enabled", "Disabled")


def check_toggle(value: object, field: str) -> Toggle:
    if isinstance(value, bool):
        return "Enabled" if value else "Disabled"
    if not isinstance(value, str):
        raise InvalidType(f"{field} must be 'Enabled' or 'Disabled', not {type(value).__name__}.", field=field)
    for t in TOGGLES:
        if value.lower() == t.lower():
            return cast(Toggle, t)
    raise InvalidInput(f"{field} must be 'Enabled' or 'Disabled', not {value!r}.", field=field)


def vault_arn(partition: str, region: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:backup:{region}:{account_id}:backup-vault:{name}"


def new_protection_history() -> ProtectionHistory:
    return {"container_registered": False, "item_protected": False, "attempted": False}


def has_protection_history(vault: VaultRecord) -> bool:
    h = vault.get("protection_history") or new_protection_history()
    return bool(h.get("container_registered") or h.get("item_protected") or h.get("attempted"))


def mark_history(vault: VaultRecord, container_registered: bool = False, item_protected: bool = False) -> bool:
    """Record protection history on the vault (an attempt, a registered container, a protected item);
    True when the record changed and must be written."""
    old = vault.get("protection_history") or new_protection_history()
    new: ProtectionHistory = {
        "container_registered": bool(old.get("container_registered")) or container_registered,
        "item_protected": bool(old.get("item_protected")) or item_protected,
        "attempted": True,
    }
    if new == old:
        return False
    vault["protection_history"] = new
    return True


def public_view(vault: VaultRecord) -> dict[str, Any]:
    out = {k: v for k, v in vault.items() if k not in ("parent_id",)}
    out["has_protection_history"] = has_protection_history(vault)
    return out
