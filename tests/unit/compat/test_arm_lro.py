"""ARM long-running operations (``compat/azure/lro.py``) over the in-memory store: work in the background is
``InProgress`` while it runs, then ``Succeeded`` or ``Failed`` with the ARM error; the answer carries
Azure-AsyncOperation, Location and Retry-After pointing back at the caller's base URL."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from vaultlink import errors as E
from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.compat.azure import lro
from vaultlink.compat.azure.arm import ArmCall
from vaultlink.config import Config
from vaultlink.service.identity import authenticate, bootstrap


@pytest.fixture
def call(tmp_path: Path) -> ArmCall:
    svc = build_service(Config(data_dir=tmp_path), store=MemoryStore())
    boot = bootstrap(svc)
    assert boot is not None
    caller = authenticate(svc, boot[1])
    return ArmCall(svc, caller, caller.account_id, "https://127.0.0.1:8470", "2026-03-01", {}, {})


def poll(call: ArmCall, oid: str) -> dict[str, Any]:
    probe = ArmCall(call.svc, call.caller, call.subscription, call.base, call.api_version, {}, {"op": oid})
    return lro.operation_status(probe)


def wait_for(call: ArmCall, oid: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = poll(call, oid)
        if got["status"] == status:
            return got
        time.sleep(0.01)
    raise AssertionError(f"{oid} never reached {status}")


def test_background_work_is_in_progress_until_it_ends(call: ArmCall) -> None:
    gate = threading.Event()
    oid = lro.run(call, "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe",
                  gate.wait)
    assert call.status == 201
    assert call.headers["azure-asyncoperation"].startswith("https://127.0.0.1:8470/subscriptions/")
    assert call.headers["retry-after"] == lro.RETRY_AFTER and "operationResults" in call.headers["location"]
    assert poll(call, oid)["status"] == "InProgress"
    gate.set()
    assert "endTime" in wait_for(call, oid, "Succeeded")


def test_a_failed_operation_carries_its_arm_error(call: ArmCall) -> None:
    def work() -> None:
        raise E.SubnetFull("subnet s has no free address.")

    oid = lro.run(call, "/x", work)
    failed = wait_for(call, oid, "Failed")
    assert failed["error"]["code"] == "SubnetFull" and "no free address" in failed["error"]["message"]
    result = ArmCall(call.svc, call.caller, call.subscription, call.base, call.api_version, {}, {"op": oid})
    with pytest.raises(E.Conflict):
        lro.operation_result(result)


def test_an_unknown_or_foreign_operation_is_not_found(call: ArmCall) -> None:
    oid = lro.start(call, "/x", "done")
    other = ArmCall(call.svc, call.caller, "999999999999", call.base, call.api_version, {}, {"op": oid})
    with pytest.raises(E.NotFound):
        lro.operation_status(other)
    with pytest.raises(E.NotFound):
        poll(call, "op-nope")


class _Later:
    """The service's clock moved on by ``by`` seconds."""

    def __init__(self, clock: Any, by: float) -> None:
        self.clock, self.by = clock, by

    def now(self) -> float:
        return float(self.clock.now()) + self.by


def test_work_whose_end_was_never_recorded_fails_after_a_while(call: ArmCall) -> None:
    """The server running the work stopped (here: the work never started): the record is not ``InProgress`` for
    ever, and an azure-core poller following it ends with the error."""
    oid = lro.start(call, "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe",
                    "async")
    assert poll(call, oid)["status"] == "InProgress"
    call.svc.clock = _Later(call.svc.clock, lro.LOST - 5)
    assert poll(call, oid)["status"] == "InProgress"  # still within its time
    call.svc.clock = _Later(call.svc.clock, 10)
    failed = poll(call, oid)
    assert failed["status"] == "Failed" and failed["error"]["code"] == "OperationTimedOut"
    assert "send the request again" in failed["error"]["message"] and "endTime" in failed
    result = ArmCall(call.svc, call.caller, call.subscription, call.base, call.api_version, {}, {"op": oid})
    with pytest.raises(E.Conflict):
        lro.operation_result(result)


def test_an_operation_a_poller_saw_fail_stays_failed_when_its_work_ends_later(call: ArmCall) -> None:
    """A terminal status is final: a poller that stopped at ``OperationTimedOut`` is never contradicted."""
    gate, ended = threading.Event(), threading.Event()

    def work() -> None:
        try:
            assert gate.wait(10)
        finally:
            ended.set()

    oid = lro.run(call, "/x", work)
    clock = call.svc.clock
    call.svc.clock = _Later(clock, lro.LOST + 1)
    assert poll(call, oid)["error"]["code"] == "OperationTimedOut"
    gate.set()
    assert ended.wait(10)
    deadline = time.monotonic() + 1  # the worker's own write comes right after the work: give it time to (not) land
    while time.monotonic() < deadline:
        got = poll(call, oid)
        assert got["status"] == "Failed" and got["error"]["code"] == "OperationTimedOut", got
        time.sleep(0.05)
