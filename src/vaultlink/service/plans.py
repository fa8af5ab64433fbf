"""Backup plans (management API): create, list, show, delete; new versions of the rules, selections
replaced. The rules are in ``domain/plans.py``; the scheduler that runs them is ``service/scheduler.py``."""

from __future__ import annotations

import secrets
from typing import Any

from vaultlink.domain import plans as P
from vaultlink.domain.records import VaultRecord, read_vault
from vaultlink.errors import InvalidInput, InvalidType, NotFound
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, allowed, authorize
from vaultlink.service.vaults import find_vault, vault_scope

MAX_VERSIONS = 100  # earlier versions of a plan's rules kept for ListBackupPlanVersions


def _vaults_of(txn: Txn, plan: dict[str, Any]) -> list[VaultRecord]:
    out = []
    for rule in plan["rules"]:
        v = read_vault(txn, rule["vault"])
        if v is not None:
            out.append(v)
    return out


def create_plan(svc: Service, caller: Caller, name: str, doc: Any) -> dict[str, Any]:
    """A plan from ``{"rules": [...], "selections": [...]}``; needs ``backup.operate`` on every rule's vault."""
    P._name(name, "name")
    if not isinstance(doc, dict) or set(doc) - {"rules", "selections"}:
        raise InvalidType("a plan is {\"rules\": [...], \"selections\": [...]}.", field="plan")
    raw_rules, raw_sel = doc.get("rules"), doc.get("selections", [])
    if not isinstance(raw_rules, list) or not 1 <= len(raw_rules) <= P.MAX_RULES:
        raise InvalidInput(f"a plan has 1-{P.MAX_RULES} rules.", field="rules")
    if not isinstance(raw_sel, list) or len(raw_sel) > P.MAX_SELECTIONS:
        raise InvalidInput(f"a plan has at most {P.MAX_SELECTIONS} selections.", field="selections")
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        rules, regions = _rules(txn, caller, raw_rules)
        selections = [P.parse_selection(s) for s in raw_sel]
        pid = "bp-" + secrets.token_hex(6)
        region = svc.catalog.regions.get(regions[0])
        part = region.partition.name if region else "aws"
        rec = {"id": pid, "account_id": caller.account_id, "parent_id": "", "name": name,
               "arn": f"arn:{part}:backup:{regions[0]}:{caller.account_id}:backup-plan:{pid}",
               "rules": rules, "selections": selections, "created": now, "scanned": now, "owner": caller.arn,
               "version_id": secrets.token_hex(16)}
        txn.insert("backup_plan", pid, rec)
    return rec


def _rules(txn: Txn, caller: Caller, raw_rules: list[Any]) -> tuple[list[P.Rule], list[str]]:
    """Parse a plan's rules, resolving (and authorizing ``backup.operate`` on) each target and copy vault."""
    rules: list[P.Rule] = []
    regions: list[str] = []
    for raw in raw_rules:
        ref = raw.get("vault") if isinstance(raw, dict) else None
        if not isinstance(ref, str):
            raise InvalidInput("each rule names its target vault (name, id or ARN).", field="rules.vault")
        vault = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "backup.operate", vault_scope(vault))
        rule = P.parse_rule(raw, vault["id"])
        for copy in rule["copy_to"]:  # the plan's owner must be able to copy into each destination
            dest = find_vault(txn, copy["vault"], caller.account_id)
            authorize(txn, caller, "backup.operate", vault_scope(dest))
            if dest["id"] == vault["id"]:
                raise InvalidInput("a copy rule copies to another vault.", field="rules.copy_to")
            copy["vault"] = dest["id"]
        rules.append(rule)
        regions.append(vault["region"])
    if len({r["name"] for r in rules}) != len(rules):
        raise InvalidInput("rule names must be unique within a plan.", field="rules.name")
    return rules, regions


def update_rules(svc: Service, caller: Caller, ref: str, raw_rules: Any) -> dict[str, Any]:
    """Replace the plan's rules: a new version (AWS ``UpdateBackupPlan``); the earlier ones stay listed."""
    if not isinstance(raw_rules, list) or not 1 <= len(raw_rules) <= P.MAX_RULES:
        raise InvalidInput(f"a plan has 1-{P.MAX_RULES} rules.", field="rules")
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        plan = _find(txn, caller, ref)
        for v in _vaults_of(txn, plan):
            authorize(txn, caller, "backup.operate", vault_scope(v))
        rules, _ = _rules(txn, caller, raw_rules)
        history = [*plan.get("versions", []), {"version_id": plan.get("version_id") or plan["id"],
                                               "created": plan.get("updated", plan["created"]),
                                               "rules": plan["rules"]}][-MAX_VERSIONS:]
        plan.update(rules=rules, versions=history, version_id=secrets.token_hex(16), updated=now)
        txn.update("backup_plan", plan["id"], plan)
    return plan


def set_selections(svc: Service, caller: Caller, ref: str, selections: list[Any],
                   aws_selections: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Replace the plan's selections (each checked as ``create_plan`` checks them); ``aws_selections``: what the
    AWS API's selections were (each stands for the selections named ``<its id>-<n>``)."""
    if len(selections) > P.MAX_SELECTIONS:
        raise InvalidInput(f"a plan has at most {P.MAX_SELECTIONS} selections.", field="selections")
    parsed = [P.parse_selection(s) for s in selections]
    with svc.store.transaction() as txn:
        plan = _find(txn, caller, ref)
        for v in _vaults_of(txn, plan):
            authorize(txn, caller, "backup.operate", vault_scope(v))
        plan["selections"] = parsed
        if aws_selections is not None:
            plan["aws_selections"] = aws_selections
        txn.update("backup_plan", plan["id"], plan)
    return plan


def _find(txn: Txn, caller: Caller, ref: str) -> dict[str, Any]:
    rec = txn.get("backup_plan", ref)
    if rec is None:
        found = txn.find("backup_plan", account_id=caller.account_id, name=ref)
        rec = found[0] if found else None
    if rec is None or rec["account_id"] != caller.account_id:
        raise NotFound(f"backup plan {ref!r} does not exist; `vaultlink plan list`.", field="plan")
    return rec


def list_plans(svc: Service, caller: Caller) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        return [p for p in txn.find("backup_plan", account_id=caller.account_id)
                if all(allowed(txn, caller, "backup.read", vault_scope(v)) for v in _vaults_of(txn, p))]


def get_plan(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        plan = _find(txn, caller, ref)
        for v in _vaults_of(txn, plan):
            authorize(txn, caller, "backup.read", vault_scope(v))
        return plan


def delete_plan(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    """Delete the plan; jobs it queued and not yet started expire with their start windows."""
    with svc.store.transaction() as txn:
        plan = _find(txn, caller, ref)
        for v in _vaults_of(txn, plan):
            authorize(txn, caller, "backup.operate", vault_scope(v))
        txn.delete("backup_plan", plan["id"])
    return {"id": plan["id"], "name": plan["name"], "deleted": True}
