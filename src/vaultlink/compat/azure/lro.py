"""Long-running operations as ARM does them: a 201/202 answer carries ``Azure-AsyncOperation`` (a status
document: ``InProgress`` → ``Succeeded`` / ``Failed``) and ``Location`` (202 until done, then the result)
with ``Retry-After``; azure-core's ``ARMPolling`` follows them.

An operation is a stored record (``arm_operation``). Either its work runs in the background (``run``: a
private endpoint's creation and deletion, validated first so that a refusal is an immediate ARM error
with nothing stored; the record turns ``Succeeded`` or ``Failed`` with the error when the work ends), or
the change was made before the answer and its operation is done (``start(..., "done")``: deletes of
resource groups, vaults, networks, zones). Records older than a day are swept when a new one starts; at
most ``WORKERS`` run at once (more wait their turn, still ``InProgress``). Work whose end was never recorded (the
server running it stopped or restarted, or the store could not take its outcome) is ``Failed`` with
``OperationTimedOut`` at the first poll ``LOST`` seconds after it started, on any server: a poller never waits for
ever. An ended status is final: work that ends after that is logged, never contradicts what a poller saw."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from vaultlink import errors as E
from vaultlink.compat.azure.arm import ArmCall, arm_error

PROVIDER = "Microsoft.Vaultlink"
RETRY_AFTER = "1"
KEEP = 24 * 3600.0
LOST = 600.0  # an async operation's work takes seconds (an endpoint made or removed), queued ones a little more
WORKERS = 4
log = logging.getLogger(__name__)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="vl-arm-op")
        return _pool


def run(call: ArmCall, resource_id: str, work: Callable[[], Any], status: int = 201) -> str:
    """Record an ``InProgress`` operation on ``resource_id``, answer with its LRO headers, and do ``work`` in
    the background: the record says ``Succeeded``, or ``Failed`` with the ARM error, when it ends."""
    oid = start(call, resource_id, "async", status)
    svc = call.svc

    def body() -> None:
        error = None
        try:
            work()
        except E.VaultlinkError as err:
            error = arm_error(err)[1]["error"]
        except Exception as exc:  # an operation never dies silently: its record says what happened
            log.exception("ARM operation %s failed", oid)
            error = {"code": "InternalServerError", "message": f"{type(exc).__name__}: {exc}"}
        with svc.store.transaction() as txn:
            rec = txn.get("arm_operation", oid)
            if rec is not None and rec["status"] == "InProgress":  # a status a poller saw end stays as it saw it
                rec.update(status="Failed" if error else "Succeeded", ended=svc.clock.now(), error=error)
                txn.update("arm_operation", oid, rec)
            elif rec is not None:
                log.warning("ARM operation %s ended (%s) after it was marked %s; its record is kept", oid,
                            "failed" if error else "succeeded", rec["status"])

    _workers().submit(body)
    return oid


def start(call: ArmCall, resource_id: str, until: str, status: int = 202) -> str:
    """Record an operation on ``resource_id`` that ends when ``until`` holds; set the answer's LRO headers."""
    now = call.svc.clock.now()
    oid = "op-" + secrets.token_hex(8)
    with call.svc.store.transaction() as txn:
        for old in txn.find("arm_operation", account_id=call.subscription):
            if old["created"] < now - KEEP:
                txn.delete("arm_operation", old["id"])
        txn.insert("arm_operation", oid, {"id": oid, "account_id": call.subscription, "parent_id": "",
                                          "resource": resource_id, "until": until, "status": "InProgress",
                                          "created": now, "ended": None})
    root = f"{call.base}{call.sub_id()}/providers/{PROVIDER}"
    call.headers.update({"azure-asyncoperation": f"{root}/operations/{oid}?api-version={call.api_version}",
                         "location": f"{root}/operationResults/{oid}?api-version={call.api_version}",
                         "retry-after": RETRY_AFTER})
    call.status = status
    return oid


def _holds(until: str) -> bool:
    """``done``: finished when recorded; ``async``: its background work says when."""
    return until != "async"


def _poll(call: ArmCall) -> dict[str, Any]:
    oid = call.params["op"]
    with call.svc.store.transaction() as txn:
        rec = txn.get("arm_operation", oid)
        if rec is None or rec["account_id"] != call.subscription:
            raise E.NotFound(f"operation {oid} does not exist (operations are kept a day).",
                             arm_code="OperationNotFound")
        now = call.svc.clock.now()
        if rec["status"] == "InProgress" and _holds(rec["until"]):
            rec["status"], rec["ended"] = "Succeeded", now
            txn.update("arm_operation", oid, rec)
        elif rec["status"] == "InProgress" and now - rec["created"] > LOST:
            rec.update(status="Failed", ended=now, error={
                "code": "OperationTimedOut",
                "message": f"the operation did not end within {LOST:g} seconds: the server running it stopped, "
                           "or could not record its end; check the resource, then send the request again."})
            txn.update("arm_operation", oid, rec)
    return rec


def operation_status(call: ArmCall) -> dict[str, Any]:
    rec = _poll(call)
    if rec["status"] == "InProgress":
        call.headers["retry-after"] = RETRY_AFTER
    out = {"id": f"{call.sub_id()}/providers/{PROVIDER}/operations/{rec['id']}", "name": rec["id"],
           "status": rec["status"], "startTime": _iso(rec["created"])}
    if rec.get("error"):
        out["error"] = rec["error"]
    if rec.get("ended"):
        out["endTime"] = _iso(rec["ended"])
    return out


def operation_result(call: ArmCall) -> None:
    rec = _poll(call)
    if rec["status"] == "InProgress":
        call.headers.update({"retry-after": RETRY_AFTER,
                             "location": f"{call.base}{call.sub_id()}/providers/{PROVIDER}/operationResults/"
                                         f"{rec['id']}?api-version={call.api_version}"})
        call.status = 202
        return None
    if rec["status"] == "Failed" and rec.get("error"):
        raise E.Conflict(rec["error"].get("message", "the operation failed."),
                         arm_code=rec["error"].get("code", "Failed"))
    call.status = 204
    return None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
