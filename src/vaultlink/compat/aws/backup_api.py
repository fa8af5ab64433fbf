"""AWS Backup operations over the same service handlers the native API and CLI use.

Each handler takes the checked call (``AwsCall``: service, caller, signing region, the endpoint's
per-resource policy check) and the operation's input members (checked against botocore's shapes), and
returns the output members. A vault made here is the vault ``vaultlink vault list`` shows. Vaults are
regional, as in AWS: a vault of another region than the one the request was signed for is not found.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vaultlink import errors as E
from vaultlink.domain.cursor import cursor_of, parse_cursor
from vaultlink.domain.vaults import vault_arn
from vaultlink.service import policies, retention, vaults
from vaultlink.service.core import Caller, Service

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AwsCall:
    svc: Service
    caller: Caller
    region: str
    partition: str
    check_resource: Callable[[str, str], None] | None = None  # the endpoint policy, for one more resource

    def allow(self, action: str, arn: str) -> None:
        if self.check_resource is not None:
            self.check_resource(action, arn)


Handler = Callable[[AwsCall, dict[str, Any]], dict[str, Any] | None]


# --- vaults ---------------------------------------------------------------------------------------------
def regional_vault(call: AwsCall, name: str) -> dict[str, Any]:
    v = vaults.get_vault(call.svc, call.caller, name)
    if v["region"] != call.region:
        raise E.NotFound(f"backup vault {name} does not exist in {call.region} (it is in {v['region']}).",
                         field="BackupVaultName")
    return v


def _vault_out(v: dict[str, Any]) -> dict[str, Any]:
    lock = v.get("lock") or {}
    out = {"BackupVaultName": v["name"], "BackupVaultArn": v["arn"], "VaultType": "BACKUP_VAULT",
           "VaultState": "AVAILABLE", "CreationDate": v.get("created"), "CreatorRequestId": v.get("creator_request_id"),
           "NumberOfRecoveryPoints": v.get("recovery_points", 0), "Locked": bool(v.get("lock"))}
    if lock:
        out.update(MinRetentionDays=lock.get("min_retention_days"), MaxRetentionDays=lock.get("max_retention_days"),
                   LockDate=lock.get("changeable_until"))
    return out


def create_backup_vault(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    name = p["BackupVaultName"]
    call.allow("backup:CreateBackupVault", vault_arn(call.partition, call.region, call.caller.account_id, name))
    v = vaults.create_vault(call.svc, call.caller, name, call.region, tags=p.get("BackupVaultTags"))
    return {"BackupVaultName": v["name"], "BackupVaultArn": v["arn"], "CreationDate": v["created"]}


def describe_backup_vault(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    return _vault_out(regional_vault(call, p["BackupVaultName"]))


def list_backup_vaults(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    listed = [v for v in vaults.list_vaults(call.svc, call.caller) if v["region"] == call.region]
    page, token = page_of(sorted(listed, key=lambda v: v["name"]), p)
    return {"BackupVaultList": [_vault_out(v) for v in page], "NextToken": token}


def delete_backup_vault(call: AwsCall, p: dict[str, Any]) -> None:
    v = regional_vault(call, p["BackupVaultName"])
    vaults.delete_vault(call.svc, call.caller, v["id"])
    return None


# --- access policy and lock -------------------------------------------------------------------------------
def put_backup_vault_access_policy(call: AwsCall, p: dict[str, Any]) -> None:
    v = regional_vault(call, p["BackupVaultName"])
    try:
        doc = json.loads(p.get("Policy") or "")
    except ValueError:
        raise E.PolicyInvalid("Policy must be a JSON policy document.", field="Policy") from None
    policies.set_vault_policy(call.svc, call.caller, v["id"], doc)
    return None


def get_backup_vault_access_policy(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    v = regional_vault(call, p["BackupVaultName"])
    doc = policies.get_vault_policy(call.svc, call.caller, v["id"])["policy"]
    if doc is None:
        raise E.NotFound(f"backup vault {v['name']} has no access policy.", field="BackupVaultName")
    return {"BackupVaultName": v["name"], "BackupVaultArn": v["arn"], "Policy": json.dumps(doc)}


def delete_backup_vault_access_policy(call: AwsCall, p: dict[str, Any]) -> None:
    v = regional_vault(call, p["BackupVaultName"])
    policies.delete_vault_policy(call.svc, call.caller, v["id"])
    return None


def put_backup_vault_lock_configuration(call: AwsCall, p: dict[str, Any]) -> None:
    v = regional_vault(call, p["BackupVaultName"])
    retention.put_lock(call.svc, call.caller, v["id"], {
        "min_retention_days": p.get("MinRetentionDays"), "max_retention_days": p.get("MaxRetentionDays"),
        "changeable_for_days": p.get("ChangeableForDays")})
    return None


def delete_backup_vault_lock_configuration(call: AwsCall, p: dict[str, Any]) -> None:
    v = regional_vault(call, p["BackupVaultName"])
    retention.delete_lock(call.svc, call.caller, v["id"])
    return None


# --- tags ---------------------------------------------------------------------------------------------------
def _tagged_vault(call: AwsCall, arn: str) -> dict[str, Any]:
    if ":backup-vault:" not in arn:
        raise E.InvalidInput("tags are kept on backup vaults (arn:…:backup-vault:NAME) here.", field="ResourceArn")
    v = vaults.get_vault(call.svc, call.caller, arn)
    return v


def list_tags(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": dict(_tagged_vault(call, p["ResourceArn"]).get("tags") or {})}


def tag_resource(call: AwsCall, p: dict[str, Any]) -> None:
    v = _tagged_vault(call, p["ResourceArn"])
    vaults.update_vault(call.svc, call.caller, v["id"], {"tags": {**(v.get("tags") or {}), **p["Tags"]}})
    return None


def untag_resource(call: AwsCall, p: dict[str, Any]) -> None:
    v = _tagged_vault(call, p["ResourceArn"])
    keep = {k: t for k, t in (v.get("tags") or {}).items() if k not in set(p["TagKeyList"])}
    vaults.update_vault(call.svc, call.caller, v["id"], {"tags": keep})
    return None


def page_size(p: dict[str, Any]) -> int:
    return min(int(p.get("MaxResults") or MAX_PAGE), MAX_PAGE)


def page_of(items: list[dict[str, Any]], p: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    size = page_size(p)
    start = 0
    if p.get("NextToken"):
        token = str(p["NextToken"])
        if not (token.isascii() and token.isdigit()) or len(token) > 12:  # "-5" read the last five
            raise E.InvalidInput("NextToken is not one this service issued.", field="NextToken")
        start = int(token)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


Fetch = Callable[[tuple[float, str], int], list[dict[str, Any]]]  # (after, limit) -> records, in (field, id) order


def cursor_from(p: dict[str, Any], since: float) -> tuple[float, str]:
    """Where a page starts: after the record ``NextToken`` names (one this service gave), never before ``since``."""
    if not p.get("NextToken"):
        return since, ""
    return max(parse_cursor(p["NextToken"], "NextToken"), (since, ""))


def cursor_page(fetches: list[Fetch], by: str, start: tuple[float, str], until: float | None,
                shown: Callable[[dict[str, Any]], dict[str, Any] | None],
                p: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """A page of records, oldest ``by`` first, merged from ``fetches`` (one a vault: the database answers each in
    ``(by, id)`` order from ``start``, a page at a time), up to ``until``, as ``shown`` shows them (None: left out);
    and the ``NextToken`` of the next page: the ``(by, id)`` of its last record. A page reads about itself (not the
    whole listing), and a record added or removed between two pages never makes the next one repeat or skip one."""
    size = page_size(p)

    def stream(fetch: Fetch) -> Iterator[tuple[float, str, dict[str, Any]]]:
        after = start
        for _ in range(1_000_000):  # the database's answer a page at a time: bounded by the listing's records
            rows = fetch(after, size + 1)
            for r in rows:
                if until is not None and float(r[by]) > until:
                    return
                out = shown(r)
                if out is not None:
                    yield float(r[by]), str(r["id"]), out
            if len(rows) <= size:
                return
            after = (float(rows[-1][by]), str(rows[-1]["id"]))

    taken = list(itertools.islice(heapq.merge(*(stream(f) for f in fetches)), size + 1))
    page = taken[:size]
    return [out for _, _, out in page], (cursor_of(page[-1][0], page[-1][1]) if len(taken) > size else None)

