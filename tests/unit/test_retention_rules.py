"""The pure rules of soft delete, vault lock and lifecycles (``domain/retention.py``), table by table."""

from __future__ import annotations

from typing import Any

import pytest

from vaultlink.domain import retention as R
from vaultlink.domain.records import RecoveryPointRecord, VaultLock
from vaultlink.errors import (
    InvalidInput,
    InvalidType,
    NotSoftDeleted,
    RecoveryPointLocked,
    RetentionOutsideLock,
    SoftDeleteAlwaysOn,
    VaultlinkError,
    VaultLocked,
)

DAY = R.DAY
T0 = 1_000_000_000.0


def lock(lo: int | None = None, hi: int | None = None, until: float | None = None) -> VaultLock:
    return {"min_retention_days": lo, "max_retention_days": hi, "changeable_until": until, "created": T0}


def point(time: float = T0, expires: float | None = None, status: str = "Completed") -> RecoveryPointRecord:
    return {"id": "rp-1", "time": time, "expires": expires, "status": status}  # type: ignore[typeddict-item]


@pytest.mark.parametrize(("current", "state", "days", "want"), [
    ({"state": "Enabled", "days": 14}, "Disabled", None, {"state": "Disabled", "days": 14}),
    ({"state": "Enabled", "days": 14}, "alwayson", 30, {"state": "AlwaysOn", "days": 30}),
    ({"state": "AlwaysOn", "days": 30}, None, 60, {"state": "AlwaysOn", "days": 60}),
    ({"state": "AlwaysOn", "days": 30}, "Disabled", None, SoftDeleteAlwaysOn),
    ({"state": "AlwaysOn", "days": 30}, "Enabled", None, SoftDeleteAlwaysOn),
    ({"state": "AlwaysOn", "days": 30}, None, 14, SoftDeleteAlwaysOn),
    ({"state": "Enabled", "days": 14}, None, 13, InvalidInput),
    ({"state": "Enabled", "days": 14}, None, 181, InvalidInput),
    ({"state": "Enabled", "days": 14}, None, 14.5, InvalidType),
    ({"state": "Enabled", "days": 14}, None, True, InvalidType),
    ({"state": "Enabled", "days": 14}, "Sometimes", None, InvalidInput),
])
def test_soft_delete_settings(current: Any, state: Any, days: Any, want: Any) -> None:
    if isinstance(want, type):
        with pytest.raises(want):
            R.change_soft_delete(current, state, days)
    else:
        assert R.change_soft_delete(current, state, days) == want


def test_soft_delete_and_undelete_a_point() -> None:
    rp = point()
    assert not R.soft_delete(rp, {"state": "Disabled", "days": 14}, T0)  # off: the caller deletes for good
    assert R.soft_delete(rp, {"state": "Enabled", "days": 14}, T0)
    assert rp["status"] == "SoftDeleted" and rp["purge_after"] == T0 + 14 * DAY and R.is_soft_deleted(rp)
    R.undelete(rp)
    assert rp["status"] == "Completed" and rp["purge_after"] is None
    with pytest.raises(NotSoftDeleted):
        R.undelete(rp)


@pytest.mark.parametrize(("lk", "now", "mode"), [
    (lock(until=None), T0 + 1000 * DAY, "governance"),  # no changeable window: governance forever
    (lock(until=T0 + 3 * DAY), T0 + 3 * DAY - 1, "governance"),
    (lock(until=T0 + 3 * DAY), T0 + 3 * DAY, "compliance"),
])
def test_lock_mode(lk: VaultLock, now: float, mode: str) -> None:
    assert R.lock_mode(lk, now) == mode


@pytest.mark.parametrize(("args", "err"), [
    ((None, None, 2), InvalidInput),  # ChangeableForDays is at least 3 (AWS)
    ((10, 5, None), InvalidInput),  # min above max
    ((0, None, None), InvalidInput),
    ((None, 36501, None), InvalidInput),
    (("7", None, None), InvalidType),
])
def test_put_lock_refuses_bad_input(args: tuple[Any, Any, Any], err: type[VaultlinkError]) -> None:
    with pytest.raises(err):
        R.put_lock(None, T0, *args)


def test_a_compliance_lock_cannot_be_changed_removed_or_unlocked() -> None:
    lk = R.put_lock(None, T0, 7, 30, 3)
    assert lk["changeable_until"] == T0 + 3 * DAY
    R.remove_lock(lk, T0 + DAY)  # governance: allowed
    assert R.put_lock(lk, T0 + DAY, 1)["min_retention_days"] == 1
    later = T0 + 4 * DAY
    for call in (lambda: R.remove_lock(lk, later), lambda: R.put_lock(lk, later, 1),
                 lambda: R.set_immutability("Unlocked", lk, later), lambda: R.set_immutability("Disabled", lk, later)):
        with pytest.raises(VaultLocked):
            call()
    assert R.set_immutability("Locked", lk, later) is lk


def test_azure_immutability_maps_onto_the_lock() -> None:
    assert R.immutability(None, T0) == "Disabled"
    unlocked = R.set_immutability("unlocked", None, T0)
    assert unlocked is not None and R.immutability(unlocked, T0) == "Unlocked"
    assert R.set_immutability("Disabled", unlocked, T0) is None
    locked = R.set_immutability("Locked", unlocked, T0)
    assert locked is not None and R.immutability(locked, T0) == "Locked"
    with pytest.raises(InvalidInput):
        R.set_immutability("Frozen", None, T0)


@pytest.mark.parametrize(("days", "lk", "err"), [
    (None, None, None),
    (None, lock(lo=7), None),  # no lifecycle: kept, which a minimum allows
    (None, lock(hi=30), RetentionOutsideLock),  # kept forever exceeds a maximum
    (5, lock(lo=7), RetentionOutsideLock),
    (31, lock(hi=30), RetentionOutsideLock),
    (7, lock(lo=7, hi=30), None),
    (30, lock(lo=7, hi=30), None),
])
def test_retention_against_the_lock(days: int | None, lk: VaultLock | None, err: Any) -> None:
    if err is None:
        R.check_retention(days, lk)
    else:
        with pytest.raises(err):
            R.check_retention(days, lk)


@pytest.mark.parametrize(("rp", "lk", "now", "allowed"), [
    (point(), None, T0, True),
    (point(), lock(lo=7), T0 + 6 * DAY, False),
    (point(), lock(lo=7), T0 + 7 * DAY, True),
    (point(expires=T0 + 10 * DAY), lock(lo=7), T0 + 8 * DAY, False),  # its lifecycle is its retention
    (point(expires=T0 + 10 * DAY), lock(lo=7), T0 + 10 * DAY, True),
    (point(), lock(), T0, True),  # an immutable vault without a minimum: points without a lifecycle may go
])
def test_delete_under_a_lock(rp: RecoveryPointRecord, lk: VaultLock | None, now: float, allowed: bool) -> None:
    if allowed:
        R.check_delete(rp, lk, now)
    else:
        with pytest.raises(RecoveryPointLocked):
            R.check_delete(rp, lk, now)


def test_lifecycle_changes_under_compliance_only_grow() -> None:
    lk = lock(lo=1, hi=100, until=T0)
    rp = point(expires=T0 + 10 * DAY)
    R.check_lifecycle_change(rp, 20, lk, T0 + DAY)
    with pytest.raises(VaultLocked):
        R.check_lifecycle_change(rp, 5, lk, T0 + DAY)
    with pytest.raises(RetentionOutsideLock):
        R.check_lifecycle_change(rp, 200, lk, T0 + DAY)
    R.check_lifecycle_change(rp, 5, lock(lo=1, hi=100), T0 + DAY)  # governance: may shorten within range


def test_settings_apply_and_view() -> None:
    vault: Any = {"id": "v1"}
    R.apply_settings(vault, {"soft_delete": "AlwaysOn", "default_retention_days": 30, "immutability": "Unlocked"}, T0)
    view = R.protection_view(vault, T0)
    assert view["soft_delete"] == {"state": "AlwaysOn", "days": 14}
    assert view["immutability"] == "Unlocked" and view["lock"]["mode"] == "governance"
    assert view["default_retention_days"] == 30
    vault["lock"] = lock(hi=20)
    with pytest.raises(RetentionOutsideLock):
        R.apply_settings(vault, {"default_retention_days": 30}, T0)
