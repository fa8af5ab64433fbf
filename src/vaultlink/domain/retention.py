"""Immutability and retention rules (pure): soft delete, vault lock, recovery-point lifecycles.

Soft delete (Azure Backup terms): deleting a recovery point keeps it, marked ``SoftDeleted``, for the
vault's ``days`` (14-180, default 14); ``undelete`` brings it back; the service removes it for good
after. ``AlwaysOn`` can be set and never turned off or shortened.

Vault lock (AWS Backup terms): ``MinRetentionDays``/``MaxRetentionDays`` bound every recovery point's
lifecycle; the lock is in governance mode (changeable, removable) until ``ChangeableForDays`` pass,
then in compliance mode: nobody, the account root included, can delete a point before its retention
ends, shorten a retention, loosen or remove the lock. Azure's immutable vault maps onto the same
mechanism: ``Unlocked`` is a lock that stays changeable, ``Locked`` is compliance from now.

Every time here comes from the service's clock, never from an agent.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from vaultlink.domain.records import RecoveryPointRecord, SoftDeleteSettings, VaultLock, VaultRecord
from vaultlink.errors import (
    InvalidInput,
    InvalidType,
    NotSoftDeleted,
    RecoveryPointLocked,
    RetentionOutsideLock,
    SoftDeleteAlwaysOn,
    VaultLocked,
)

DAY = 86400.0
SOFT_DELETE_STATES = ("Enabled", "Disabled", "AlwaysOn")
SOFT_DELETE_DAYS = (14, 180)  # Azure's bounds
MAX_DAYS = 36500  # AWS's bound on retention and lock days
MIN_CHANGEABLE_DAYS = 3  # AWS: ChangeableForDays is at least 3
IMMUTABILITY = ("Disabled", "Unlocked", "Locked")
Mode = Literal["governance", "compliance"]


def _days(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise InvalidType(f"{field} must be a whole number of days.", field=field)
    if not low <= int(value) <= high:
        raise InvalidInput(f"{field} must be between {low} and {high} days, not {int(value)}.", field=field)
    return int(value)


# --- soft delete -----------------------------------------------------------------------------------
def soft_delete_of(vault: VaultRecord) -> SoftDeleteSettings:
    return vault.get("soft_delete") or {"state": "Enabled", "days": SOFT_DELETE_DAYS[0]}


def change_soft_delete(current: SoftDeleteSettings, state: object = None, days: object = None) -> SoftDeleteSettings:
    """The vault's soft-delete settings after a change; ``AlwaysOn`` is never turned off or shortened."""
    new_state = current["state"] if state is None else state
    if not isinstance(new_state, str) or new_state.lower() not in [s.lower() for s in SOFT_DELETE_STATES]:
        raise InvalidInput(f"soft_delete must be one of {', '.join(SOFT_DELETE_STATES)}, not {new_state!r}.",
                           field="soft_delete")
    new_state = next(s for s in SOFT_DELETE_STATES if s.lower() == new_state.lower())
    new_days = current["days"] if days is None else _days(days, "soft_delete_days", *SOFT_DELETE_DAYS)
    if current["state"] == "AlwaysOn":
        if new_state != "AlwaysOn":
            raise SoftDeleteAlwaysOn("soft delete is AlwaysOn for this vault: it can never be turned off.",
                                     field="soft_delete")
        if new_days < current["days"]:
            raise SoftDeleteAlwaysOn(
                f"soft delete is AlwaysOn for this vault: its {current['days']} days can grow, never shrink.",
                field="soft_delete_days")
    return {"state": cast(Any, new_state), "days": new_days}


def soft_delete(rp: RecoveryPointRecord, settings: SoftDeleteSettings, now: float) -> bool:
    """Mark ``rp`` soft-deleted; False when soft delete is off (the caller deletes it for good)."""
    if settings["state"] == "Disabled":
        return False
    rp["status"] = "SoftDeleted"
    rp["deleted"] = now
    rp["purge_after"] = now + settings["days"] * DAY
    return True


def undelete(rp: RecoveryPointRecord) -> None:
    if rp.get("status") != "SoftDeleted":
        raise NotSoftDeleted(f"recovery point {rp['id']} is not soft-deleted (it is {rp.get('status')}).")
    rp["status"] = "Completed"
    rp["deleted"] = None
    rp["purge_after"] = None
    rp["deleted_with"] = None


def is_soft_deleted(rp: RecoveryPointRecord) -> bool:
    return rp.get("status") == "SoftDeleted"


# --- vault lock ------------------------------------------------------------------------------------
def lock_mode(lock: VaultLock, now: float) -> Mode:
    until = lock.get("changeable_until")
    return "compliance" if until is not None and now >= until else "governance"


def _refuse_if_compliance(lock: VaultLock | None, now: float, what: str) -> None:
    if lock is not None and lock_mode(lock, now) == "compliance":
        raise VaultLocked(f"the vault lock is in compliance mode since {lock['changeable_until']:.0f}: {what}.")


def put_lock(current: VaultLock | None, now: float, min_days: object = None, max_days: object = None,
             changeable_for_days: object = None) -> VaultLock:
    """A new lock (AWS ``PutBackupVaultLockConfiguration``); refused once the current one is in compliance."""
    _refuse_if_compliance(current, now, "it cannot be changed")
    lo = None if min_days is None else _days(min_days, "min_retention_days", 1, MAX_DAYS)
    hi = None if max_days is None else _days(max_days, "max_retention_days", 1, MAX_DAYS)
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput(f"min_retention_days ({lo}) is larger than max_retention_days ({hi}).",
                           field="min_retention_days")
    until = None
    if changeable_for_days is not None:
        until = now + _days(changeable_for_days, "changeable_for_days", MIN_CHANGEABLE_DAYS, MAX_DAYS) * DAY
    return {"min_retention_days": lo, "max_retention_days": hi, "changeable_until": until, "created": now}


def remove_lock(current: VaultLock | None, now: float) -> None:
    """Check that the lock may be removed (governance mode only)."""
    _refuse_if_compliance(current, now, "it cannot be removed")


def immutability(lock: VaultLock | None, now: float) -> str:
    """Azure's immutable-vault state of this lock."""
    if lock is None:
        return "Disabled"
    return "Locked" if lock_mode(lock, now) == "compliance" else "Unlocked"


def set_immutability(value: object, current: VaultLock | None, now: float) -> VaultLock | None:
    """Azure's immutable vault on the lock: Disabled removes it, Unlocked keeps it changeable, Locked makes it
    compliance from now (irreversible)."""
    if not isinstance(value, str) or value.lower() not in [s.lower() for s in IMMUTABILITY]:
        raise InvalidInput(f"immutability must be one of {', '.join(IMMUTABILITY)}, not {value!r}.",
                           field="immutability")
    state = next(s for s in IMMUTABILITY if s.lower() == value.lower())
    if current is not None and lock_mode(current, now) == "compliance":
        if state == "Locked":
            return current
        raise VaultLocked("the vault is Locked (immutable, compliance mode): that cannot be undone.")
    if state == "Disabled":
        return None
    base: VaultLock = current or {"min_retention_days": None, "max_retention_days": None,
                                  "changeable_until": None, "created": now}
    return {**base, "changeable_until": now if state == "Locked" else None}


def public_lock(lock: VaultLock | None, now: float) -> dict[str, Any] | None:
    if lock is None:
        return None
    return {**lock, "mode": lock_mode(lock, now)}


def check_retention(days: int | None, lock: VaultLock | None) -> None:
    """A lifecycle of ``days`` (None: keep until deleted) must fit the lock's minimum and maximum."""
    if lock is None:
        return
    lo, hi = lock.get("min_retention_days"), lock.get("max_retention_days")
    if days is None:
        if hi is not None:
            raise RetentionOutsideLock(
                f"the vault lock keeps recovery points at most {hi} days, so every point needs a lifecycle: "
                f"set one (`vaultlink vault update VAULT --default-retention-days N`, N <= {hi}).",
                field="retention_days")
        return
    if (lo is not None and days < lo) or (hi is not None and days > hi):
        raise RetentionOutsideLock(
            f"a retention of {days} days is outside the vault lock's range "
            f"({lo or 1}-{hi or MAX_DAYS} days).", field="retention_days")


def retention_days(value: object) -> int | None:
    return None if value is None else _days(value, "retention_days", 1, MAX_DAYS)


def expires_at(time: float, days: int | None) -> float | None:
    return None if days is None else time + days * DAY


def earliest_delete(rp: RecoveryPointRecord, lock: VaultLock | None) -> float:
    """When a lock lets ``rp`` be deleted: at the end of its lifecycle, or of the lock's minimum retention."""
    if lock is None:
        return 0.0
    if rp.get("expires") is not None:
        return float(rp["expires"] or 0.0)
    lo = lock.get("min_retention_days")
    return float(rp["time"]) + lo * DAY if lo else 0.0


def check_delete(rp: RecoveryPointRecord, lock: VaultLock | None, now: float) -> None:
    until = earliest_delete(rp, lock)
    if now < until:
        raise RecoveryPointLocked(
            f"the vault lock keeps recovery point {rp['id']} until {until:.0f} "
            f"({(until - now) / DAY:.1f} more days); it cannot be deleted before then.",
            until=until)


def check_lifecycle_change(rp: RecoveryPointRecord, days: int | None, lock: VaultLock | None, now: float) -> None:
    """A new lifecycle for ``rp``: inside the lock's range, and never shorter under a compliance lock."""
    check_retention(days, lock)
    if lock is not None and lock_mode(lock, now) == "compliance":
        old, new = rp.get("expires"), expires_at(float(rp["time"]), days)
        if (old is None and new is not None) or (old is not None and new is not None and new < old):
            raise VaultLocked("the vault lock is in compliance mode: a retention can grow, never shrink.")


# --- the vault's settings ---------------------------------------------------------------------------
def protection_view(vault: VaultRecord, now: float) -> dict[str, Any]:
    """The vault's immutability settings as users see them (AWS and Azure terms side by side)."""
    lock = vault.get("lock")
    return {
        "soft_delete": soft_delete_of(vault),
        "lock": public_lock(lock, now),
        "immutability": immutability(lock, now),
        "default_retention_days": vault.get("default_retention_days"),
    }


def apply_settings(vault: VaultRecord, changes: dict[str, Any], now: float) -> None:
    """Soft delete, default retention and Azure immutability changes of ``vault_update`` (checked first)."""
    if "soft_delete" in changes or "soft_delete_days" in changes:
        vault["soft_delete"] = change_soft_delete(soft_delete_of(vault), changes.get("soft_delete"),
                                                    changes.get("soft_delete_days"))
    if "immutability" in changes:
        vault["lock"] = set_immutability(changes["immutability"], vault.get("lock"), now)
    if "default_retention_days" in changes:
        days = retention_days(changes["default_retention_days"])
        check_retention(days, vault.get("lock"))
        vault["default_retention_days"] = days
