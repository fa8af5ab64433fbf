"""Vault rules (pure): properties, validation, protection history."""

from __future__ import annotations

from typing import Any

from vaultlink.errors import InvalidInput, InvalidType

TOGGLES = ("Enabled", "Disabled")


def check_toggle(value: object, field: str) -> str:
    if isinstance(value, bool):
        return "Enabled" if value else "Disabled"
    if not isinstance(value, str):
        raise InvalidType(f"{field} must be 'Enabled' or 'Disabled', not {type(value).__name__}.", field=field)
    for t in TOGGLES:
        if value.lower() == t.lower():
            return t
    raise InvalidInput(f"{field} must be 'Enabled' or 'Disabled', not {value!r}.", field=field)


def vault_arn(partition: str, region: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:backup:{region}:{account_id}:backup-vault:{name}"


def new_protection_history() -> dict[str, bool]:
    return {"container_registered": False, "item_protected": False, "attempted": False}


def has_protection_history(vault: dict[str, Any]) -> bool:
    h = vault.get("protection_history") or {}
    return bool(h.get("container_registered") or h.get("item_protected") or h.get("attempted"))


def public_view(vault: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in vault.items() if k not in ("parent_id",)}
    out["has_protection_history"] = has_protection_history(vault)
    return out
