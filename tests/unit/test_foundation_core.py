"""Pure core and service handlers of the foundation, on the in-memory store."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import load_config
from vaultlink.domain.identity import Scope, check_name, role_allows
from vaultlink.domain.regions import load_catalog
from vaultlink.errors import (
    AccessDenied,
    InvalidApiKey,
    InvalidInput,
    InvalidName,
    Unauthenticated,
    UnknownRegion,
    VaultNotEmpty,
    all_codes,
    from_dict,
)
from vaultlink.service import identity, vaults
from vaultlink.service.core import Service


@pytest.fixture
def svc(tmp_path: Path) -> Service:
    cfg = load_config(None, data_dir=str(tmp_path), blob_url="memory://")
    return build_service(cfg, store=MemoryStore())


def owner(svc: Service) -> identity.Caller:
    created = identity.bootstrap(svc)
    assert created is not None
    return identity.authenticate(svc, created[1])


def test_scope_parse_and_cover() -> None:
    acct = Scope.parse("/accounts/123456789012")
    vault = Scope.parse("/accounts/123456789012/vaults/vabc")
    other = Scope.parse("/accounts/210987654321/vaults/vabc")
    assert acct.covers(vault) and not vault.covers(acct) and not acct.covers(other)
    assert str(vault) == "/accounts/123456789012/vaults/vabc"
    for bad in ("/accounts/1", "accounts", "/accounts/123456789012/disks/x", ""):
        with pytest.raises(InvalidInput):
            Scope.parse(bad)


def test_roles() -> None:
    assert role_allows("Owner", "role.write") and not role_allows("Contributor", "role.write")
    assert role_allows("Backup Operator", "backup.operate") and not role_allows("Reader", "backup.operate")
    assert role_allows("Network Contributor", "network.write") and not role_allows("Network Contributor", "vault.write")


@pytest.mark.parametrize("name", ["", "A", "1abc", "a" * 64, "a_b", "a b", None, 5])
def test_bad_names(name: object) -> None:
    with pytest.raises(InvalidName):
        check_name(name)


def test_catalog_presets() -> None:
    aws = load_catalog("aws")
    assert aws.get("cn-northwest-1").service_name("backup") == "cn.com.amazonaws.cn-northwest-1.backup"
    assert not aws.get("ap-southeast-3").offers("backup-gateway")
    assert aws.get("us-gov-east-1").partition.name == "aws-us-gov"
    with pytest.raises(UnknownRegion):
        aws.get("moon-1")
    az = load_catalog("azure")
    assert az.get("eastus").geo == "eus" and az.get("eastus").paired == "westus"


def test_error_codes_are_unique_and_round_trip() -> None:
    codes = all_codes()
    assert len(codes) > 40
    for code, cls in codes.items():
        assert cls.code == code and (cls.__doc__ or "").strip(), code
        err = from_dict(cls().to_dict())
        assert type(err) is cls and err.http_status == cls.http_status


def test_bootstrap_once_and_authentication(svc: Service) -> None:
    created = identity.bootstrap(svc)
    assert created is not None and identity.bootstrap(svc) is None
    caller = identity.authenticate(svc, created[1])
    assert caller.arn.endswith(":user/owner")
    with pytest.raises(Unauthenticated):
        identity.authenticate(svc, None)
    with pytest.raises(InvalidApiKey):
        identity.authenticate(svc, created[1] + "x")


def test_keys_are_stored_hashed(svc: Service) -> None:
    caller = owner(svc)
    k = identity.create_key(svc, caller, None, "ci")
    with svc.store.transaction() as txn:
        rec = txn.require("api_key", k["id"])
    assert k["api_key"].split("_", 2)[2] not in str(rec)


def test_vault_with_recovery_points_cannot_be_deleted(svc: Service) -> None:
    caller = owner(svc)
    v = vaults.create_vault(svc, caller, "keep", "local-1")
    with svc.store.transaction() as txn:
        txn.insert("recovery_point", "rp-1", {"account_id": v["account_id"], "parent_id": v["id"], "name": None})
    with pytest.raises(VaultNotEmpty) as exc:
        vaults.delete_vault(svc, caller, "keep")
    assert "recovery point" in exc.value.message
    assert vaults.get_vault(svc, caller, "keep")["recovery_points"] == 1


def test_vault_rules(svc: Service) -> None:
    caller = owner(svc)
    with pytest.raises(InvalidInput):
        vaults.update_vault(svc, caller, vaults.create_vault(svc, caller, "v1", "local-1")["id"],
                            {"protection_history": {}})
    p = identity.create_principal(svc, caller, "reader")
    reader = identity.authenticate(svc, p["api_key"])
    with pytest.raises(AccessDenied):
        vaults.create_vault(svc, reader, "v2", "local-1")
    assert vaults.list_vaults(svc, reader) == []
