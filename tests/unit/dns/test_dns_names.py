from __future__ import annotations

import pytest

from vaultlink.dns import names as N
from vaultlink.errors import InvalidName

D = "vaultlink.internal"


def test_vault_names_follow_the_design_table() -> None:
    assert N.vault_public_name("v1", "ge") == f"v1.ge.backup.{D}"
    assert N.vault_privatelink_name("v1", "ge") == f"v1.privatelink.ge.backup.{D}"
    assert N.vault_privatelink_zone("ge") == f"privatelink.ge.backup.{D}"


def test_storage_names_follow_the_design_table() -> None:
    assert N.blob_public_name("acct1") == f"acct1.blob.{D}"
    assert N.blob_privatelink_name("acct1") == f"acct1.privatelink.blob.{D}"
    assert N.blob_privatelink_zone() == f"privatelink.blob.{D}"
    assert N.queue_public_name("acct1") == f"acct1.queue.{D}"
    assert N.queue_privatelink_name("acct1") == f"acct1.privatelink.queue.{D}"
    assert N.queue_privatelink_zone() == f"privatelink.queue.{D}"


def test_regional_and_endpoint_names() -> None:
    assert N.regional_service_name("backup", "local-1") == f"backup.local-1.{D}"
    assert N.regional_service_name("backup-gateway", "local-1") == f"backup-gateway.local-1.{D}"
    assert N.endpoint_service_name("vpce-0a1", "backup", "local-1") == f"vpce-0a1.backup.local-1.vpce.{D}"
    assert (
        N.endpoint_service_name("vpce-0a1", "backup-gateway", "local-1")
        == f"vpce-0a1.backup-gateway.local-1.vpce.{D}"
    )


def test_custom_domain_and_case_are_normalized() -> None:
    assert N.vault_public_name("V1", "GE", "Corp.Example.") == "v1.ge.backup.corp.example"


@pytest.mark.parametrize(
    "name",
    [
        f"v1.ge.backup.{D}",
        f"v1.privatelink.ge.backup.{D}",
        f"acct1.blob.{D}",
        f"acct1.privatelink.blob.{D}",
        f"acct1.queue.{D}",
        f"acct1.privatelink.queue.{D}",
        f"backup.local-1.{D}",
        f"backup-gateway.local-1.{D}",
        f"ep1.backup.local-1.vpce.{D}",
        f"ep1.backup-gateway.local-1.vpce.{D}",
    ],
)
def test_parse_round_trips(name: str) -> None:
    parsed = N.parse_name(name)
    assert parsed is not None
    rebuilt = {
        "vault": lambda p: N.vault_public_name(p.vault_id, p.geo),
        "vault-privatelink": lambda p: N.vault_privatelink_name(p.vault_id, p.geo),
        "blob": lambda p: N.blob_public_name(p.account),
        "blob-privatelink": lambda p: N.blob_privatelink_name(p.account),
        "queue": lambda p: N.queue_public_name(p.account),
        "queue-privatelink": lambda p: N.queue_privatelink_name(p.account),
        "regional-service": lambda p: N.regional_service_name(p.service, p.region),
        "endpoint-service": lambda p: N.endpoint_service_name(p.endpoint_id, p.service, p.region),
    }[parsed.kind](parsed)
    assert rebuilt == name
    assert N.parse_name(name.upper() + ".") == parsed


def test_parse_rejects_other_names() -> None:
    assert N.parse_name("example.com") is None
    assert N.parse_name(f"a.b.c.d.e.{D}") is None
    assert N.parse_name(f"v1.ge.backup.{D}", "other.domain") is None
    assert N.parse_name("bad..name") is None


def test_public_to_privatelink_mapping() -> None:
    assert N.privatelink_name_for(f"v1.ge.backup.{D}") == f"v1.privatelink.ge.backup.{D}"
    assert N.privatelink_name_for(f"acct1.queue.{D}") == f"acct1.privatelink.queue.{D}"
    assert N.privatelink_name_for(f"backup.local-1.{D}") is None
    assert N.zone_of(f"v1.privatelink.ge.backup.{D}") == f"privatelink.ge.backup.{D}"
    assert N.zone_of(f"acct1.privatelink.blob.{D}") == f"privatelink.blob.{D}"
    assert N.zone_of(f"acct1.blob.{D}") is None


def test_service_names() -> None:
    assert N.service_name("backup", "local-1") == "com.vaultlink.local-1.backup"
    assert N.service_name("backup-gateway", "cn-north-1", "cn.com.amazonaws") == (
        "cn.com.amazonaws.cn-north-1.backup-gateway"
    )
    assert N.parse_service_name("com.vaultlink.local-1.backup") == ("com.vaultlink", "local-1", "backup")
    with pytest.raises(InvalidName):
        N.parse_service_name("com.vaultlink.local-1.storage")


@pytest.mark.parametrize(
    "build",
    [
        lambda: N.vault_public_name("bad name", "ge"),
        lambda: N.vault_public_name("v1", "blob"),  # reserved: would be ambiguous
        lambda: N.blob_public_name("-acct"),
        lambda: N.blob_public_name("a" * 64),
        lambda: N.regional_service_name("storage", "local-1"),  # type: ignore[arg-type]
        lambda: N.regional_service_name("backup", "vpce"),
        lambda: N.vault_public_name("v1", "ge", "bad domain"),
    ],
)
def test_builders_reject_bad_labels_with_clear_errors(build: object) -> None:
    with pytest.raises(InvalidName) as err:
        build()  # type: ignore[operator]
    assert err.value.code == "InvalidName"
    assert "not" in err.value.message or "reserved" in err.value.message


def test_name_validation() -> None:
    assert N.is_valid_name("a.b")
    assert not N.is_valid_name("a." + "b" * 64)
    assert not N.is_valid_name(".".join(["abcdefgh"] * 30))  # > 253 characters
    assert (
        N.is_subdomain("a.b.c", "b.c") and N.is_subdomain("b.c", "b.c") and not N.is_subdomain("ab.c", "b.c")
    )


def test_public_name_map_covers_vaults_and_both_storage_kinds() -> None:
    mapping = N.public_name_map([("v1", "ge")], ["acct1"])
    assert mapping == {
        f"v1.ge.backup.{D}": f"v1.privatelink.ge.backup.{D}",
        f"acct1.blob.{D}": f"acct1.privatelink.blob.{D}",
        f"acct1.queue.{D}": f"acct1.privatelink.queue.{D}",
    }
