"""The native API's job and point listings (``vaultlink job list``, ``vaultlink recovery-point list``) page from a
cursor: each page reads only itself from the database, the pages give every record once in order (also when records
come and go between two pages), and a listing without ``limit`` answers at most ``MAX_UNPAGED`` records instead of
reading a vault's 100,000 jobs into one answer. Before, both read every record of the vault on every call; so did
``ListCopyJobs`` and ``ListProtectedResources`` on every page (and ``DescribeProtectedResource`` once a call)."""

from __future__ import annotations

from typing import Any

import pytest
from dp_world import DataPlane
from test_dp_jobs_at_scale import decodes

from vaultlink import errors as E
from vaultlink.domain import cursor
from vaultlink.domain.cursor import cursor_after
from vaultlink.errors import InvalidInput
from vaultlink.service.dataplane import manage

JOBS = 1500


def _job(dp: DataPlane, jid: str, created: float, kind: str = "Backup", status: str = "Completed") -> None:
    v = dp.vault
    with dp.svc.store.transaction() as txn:
        txn.insert("job", jid, {"id": jid, "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                                "type": kind, "status": status, "vault_id": v["id"], "created": created,
                                "start": created, "end": created + 1})


def _pages(list_page: Any, by: str, size: int, between: Any = None) -> list[str]:
    out: list[str] = []
    after = None
    for n in range(10_000):
        rows = list_page(limit=size, after=after)
        out += [r["id"] for r in rows]
        if len(rows) < size:
            return out
        after = cursor_after(rows[-1], by)
        if between is not None and n == 2:
            between(out)
    raise AssertionError("no end")


def test_job_list_pages_from_a_cursor_and_refuses_an_unbounded_answer(dp: DataPlane,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(JOBS):  # a scheduler pass makes 50 at one time
        _job(dp, f"j{i:05d}", 1000.0 + i // 50, "Restore" if i % 4 == 0 else "Backup",
             "Failed" if i % 10 == 0 else "Completed")
    name = dp.vault["name"]
    want = [f"j{i:05d}" for i in range(JOBS)]
    assert [j["id"] for j in manage.list_jobs(dp.svc, dp.owner, name)] == want

    def page(**kw: Any) -> list[dict[str, Any]]:
        return manage.list_jobs(dp.svc, dp.owner, name, **kw)

    with decodes(monkeypatch) as decoded:
        assert _pages(page, "created", 100) == want
    assert len(decoded) <= 16 * 101, f"{len(decoded)} records decoded for {JOBS} jobs in pages of 100"

    def churn(seen: list[str]) -> None:  # one before the cursor and one after it come; a listed one and one not go
        _job(dp, "jearly", 10.0)
        _job(dp, "jlate", 9999.0)
        with dp.svc.store.transaction() as txn:
            txn.delete("job", seen[10])
            txn.delete("job", want[-1])

    assert _pages(page, "created", 100, churn) == [*want[:-1], "jlate"], "none repeated or skipped"
    restores = [j for j in want[:-1] if int(j[1:]) % 4 == 0 and int(j[1:]) % 10 != 0 and j != want[10]]
    assert _pages(lambda **kw: page(status="completed", job_type="restore", **kw), "created", 50) == restores

    monkeypatch.setattr(cursor, "MAX_UNPAGED", 1000)
    with pytest.raises(InvalidInput, match="page the listing") as refused:
        page()
    assert refused.value.field == "limit"
    assert len(page(status="Failed")) == 149, "an answer under the bound is whole (j00010 went)"
    for bad, field in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"after": "1.0~j1"}, "after"),
                       ({"limit": 5, "after": "40"}, "after"), ({"limit": 5, "after": "1e3~a/b"}, "after"),
                       ({"limit": 5, "newest": 3}, "newest")):
        with pytest.raises(InvalidInput) as err:
            page(**bad)
        assert err.value.field == field, bad


def test_recovery_point_list_pages_by_machine_and_item(dp: DataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    v = dp.vault
    with dp.svc.store.transaction() as txn:
        for c, host in (("c1", "vm1"), ("c2", "vm2")):
            txn.insert("container", c, {"id": c, "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                                        "vault_id": v["id"], "hostname": host, "status": "Registered"})
        for i in range(900):
            rid = f"rp-{i:05d}"
            txn.insert("recovery_point", rid, {
                "id": rid, "account_id": v["account_id"], "parent_id": v["id"], "name": None, "vault_id": v["id"],
                "container_id": f"c{1 + i % 2}", "hostname": f"vm{1 + i % 2}", "protected_item_id": f"i{i % 3}",
                "time": 5000.0 + i // 3, "status": "Completed", "manifest": "snapshots/x"})
    name = v["name"]
    every = [f"rp-{i:05d}" for i in range(900)]

    def page(**kw: Any) -> Any:
        return lambda **p: manage.list_recovery_points(dp.svc, dp.owner, name, **kw, **p)

    assert [r["id"] for r in page()()] == every
    with decodes(monkeypatch) as decoded:
        assert _pages(page(), "time", 100) == every
    assert len(decoded) <= 10 * 101, f"{len(decoded)} records decoded for 900 points in pages of 100"
    vm2 = [r for i, r in enumerate(every) if i % 2 == 1]
    assert _pages(page(container="vm2"), "time", 40) == vm2 == _pages(page(container="c2"), "time", 40)
    assert _pages(page(container="vm2", item="i0"), "time", 40) == [r for r in vm2 if int(r[3:]) % 3 == 0]
    assert page(container="nowhere")() == []
    monkeypatch.setattr(cursor, "MAX_UNPAGED", 500)
    with pytest.raises(InvalidInput, match="more than 500 recovery points"):
        page()()
    assert len(page(container="vm1")()) == 450


def test_list_copy_jobs_pages_from_a_cursor(dp: DataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ListCopyJobs`` a page at a time over the region's vaults (every page read every copy job before), and into
    one vault of another region with ``ByDestinationVaultArn``."""
    from vaultlink.compat.aws import backup_plans
    from vaultlink.compat.aws.backup_api import AwsCall
    from vaultlink.service.vaults import create_vault

    away = create_vault(dp.svc, dp.owner, "away", "local-2")
    for i in range(300):
        _job(dp, f"j{i:05d}", 100.0 + i // 7, "Copy" if i % 5 else "Backup")
    with dp.svc.store.transaction() as txn:
        txn.insert("job", "jaway", {"id": "jaway", "account_id": away["account_id"], "parent_id": away["id"],
                                    "name": None, "type": "Copy", "status": "Created", "vault_id": away["id"],
                                    "created": 150.0, "start": None, "end": None})
    call = AwsCall(dp.svc, dp.owner, "local-1", "aws")

    def listing(**p: Any) -> list[str]:
        out, token = [], None
        for _ in range(100):
            page = backup_plans.list_copy_jobs(call, {"MaxResults": 25, **p, **({"NextToken": token} if token else {})})
            out += [j["CopyJobId"] for j in page["CopyJobs"]]
            token = page["NextToken"]
            if token is None:
                return out
        raise AssertionError("no end")

    with decodes(monkeypatch) as decoded:
        assert listing() == [f"j{i:05d}" for i in range(300) if i % 5]
    assert len(decoded) <= 10 * 2 * 30, f"{len(decoded)} records decoded for 240 copy jobs in pages of 25"
    assert listing(ByDestinationVaultArn=away["arn"]) == ["jaway"]


def test_list_protected_resources_pages_from_a_cursor_and_describe_reads_one(dp: DataPlane,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``ListProtectedResources`` a page at a time (every page counted every point and read every item of the region
    before), soft-deleted items left out, another region's vault not listed; ``DescribeProtectedResource`` reads the
    one item its ARN names (it listed the whole region to find it)."""
    from vaultlink.compat.aws import backup_jobs
    from vaultlink.compat.aws.backup_api import AwsCall
    from vaultlink.service.vaults import create_vault

    v, away = dp.vault, create_vault(dp.svc, dp.owner, "away", "local-2")
    with dp.svc.store.transaction() as txn:
        for vault, c in ((v, "c1"), (away, "c2")):
            txn.insert("container", c, {"id": c, "account_id": v["account_id"], "parent_id": vault["id"],
                                        "name": None, "vault_id": vault["id"], "hostname": f"vm-{c}",
                                        "status": "Registered"})
        for i in range(260):
            iid = f"i{i:05d}"
            txn.insert("protected_item", iid, {
                "id": iid, "account_id": v["account_id"], "parent_id": "c1" if i % 13 else "c2", "name": None,
                "vault_id": v["id"] if i % 13 else away["id"], "container_id": "c1", "hostname": "vm-c1",
                "paths": [f"/srv/{i}"], "created": 10.0 + i // 4, "last_backup": 99.0, "last_recovery_point_id": "rp1",
                **({"status": "SoftDeleted"} if i % 11 == 0 else {})})
            for n in range(i % 3):
                txn.insert("recovery_point", f"rp-{iid}-{n}", {
                    "id": f"rp-{iid}-{n}", "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                    "vault_id": v["id"], "protected_item_id": iid, "time": 1.0 + n, "status": "Completed"})
    call = AwsCall(dp.svc, dp.owner, "local-1", "aws")
    arn = f"arn:aws:backup:local-1:{v['account_id']}:protected-item:"
    want = [f"{arn}i{i:05d}" for i in range(260) if i % 13 and i % 11]
    out, token = [], None
    with decodes(monkeypatch) as decoded:
        for _ in range(100):
            page = backup_jobs.list_protected_resources(call, {"MaxResults": 20, **({"NextToken": token} if token
                                                                                     else {})})
            out += [r["ResourceArn"] for r in page["Results"]]
            token = page["NextToken"]
            if token is None:
                break
    assert out == want
    assert len(decoded) <= 14 * 60, f"{len(decoded)} records decoded for {len(want)} resources in pages of 20"
    one = backup_jobs.describe_protected_resource(call, {"ResourceArn": want[7]})
    assert one["LastRecoveryPointArn"] == f"arn:aws:backup:local-1:{v['account_id']}:recovery-point:rp1"
    assert one == backup_jobs.list_protected_resources(call, {"MaxResults": 8})["Results"][7]
    for gone in (f"{arn}i00011", f"{arn}i00013", f"{arn}nothing", want[7].replace("local-1", "local-2"),
                 want[7].replace(v["account_id"], "000000000000")):
        with pytest.raises(E.NotFound) as err:
            backup_jobs.describe_protected_resource(call, {"ResourceArn": gone})
        assert err.value.field == "ResourceArn", gone


def test_container_list_pages_from_a_cursor(dp: DataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    v = dp.vault
    with dp.svc.store.transaction() as txn:
        for i in range(120):
            txn.insert("container", f"c{i:04d}", {
                "id": f"c{i:04d}", "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                "vault_id": v["id"], "hostname": f"vm{i}", "status": "Registered", "created": 10.0 + i // 9,
                "secret_hash": "0" * 64, "next_hash": "1" * 64})

    def page(**kw: Any) -> list[dict[str, Any]]:
        return manage.list_containers(dp.svc, dp.owner, v["name"], **kw)

    want = [f"c{i:04d}" for i in range(120)]
    assert [c["id"] for c in page()] == want
    assert not any(k.endswith("_hash") for c in page() for k in c), "no credential hash is shown"
    with decodes(monkeypatch) as decoded:
        assert _pages(page, "created", 25) == want
    assert len(decoded) <= 5 * 26
    monkeypatch.setattr(cursor, "MAX_UNPAGED", 100)
    with pytest.raises(InvalidInput, match="more than 100 machines"):
        page()


def test_item_list_pages_from_a_cursor_in_one_query_per_page(dp: DataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaultlink.service import retention_items

    v = dp.vault
    with dp.svc.store.transaction() as txn:
        for c in ("c1", "c2"):
            txn.insert("container", c, {"id": c, "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                                        "vault_id": v["id"], "hostname": f"vm-{c}", "status": "Registered",
                                        "created": 1.0})
        for i in range(90):
            c = f"c{1 + i % 2}"
            txn.insert("protected_item", f"i{i:04d}", {
                "id": f"i{i:04d}", "account_id": v["account_id"], "parent_id": c, "name": None, "vault_id": v["id"],
                "container_id": c, "hostname": f"vm-{c}", "paths": [f"/p{i}"], "created": 5.0 + i // 4})
        txn.insert("recovery_point", "rp1", {"id": "rp1", "account_id": v["account_id"], "parent_id": v["id"],
                                             "name": None, "vault_id": v["id"], "protected_item_id": "i0007",
                                             "time": 9.0, "status": "Completed"})

    def page(**kw: Any) -> list[dict[str, Any]]:
        return retention_items.list_items(dp.svc, dp.owner, v["name"], **kw)

    want = [f"i{i:04d}" for i in range(90)]
    assert [i["id"] for i in page()] == want
    assert _pages(page, "created", 20) == want
    assert _pages(lambda **kw: page(container="vm-c2", **kw), "created", 20) == want[1::2]
    assert [i["recovery_points"] for i in page() if i["id"] == "i0007"] == [1]
    assert page(container="nowhere") == []
    monkeypatch.setattr(cursor, "MAX_UNPAGED", 50)
    with pytest.raises(InvalidInput, match="more than 50 items"):
        page()
    assert len(page(container="c1")) == 45
