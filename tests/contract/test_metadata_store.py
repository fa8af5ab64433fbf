"""One contract suite for every MetadataStore adapter (in-memory, SQLite, PostgreSQL when available)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.contract.conftest import alembic_to, fresh_sql_store

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.adapters.sqlstore import SqlStore
from vaultlink.errors import AlreadyExists, NotFound
from vaultlink.runtime.audit_worker import AuditProcess


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        s: Any = MemoryStore()
        s.migrate()
    else:
        s = fresh_sql_store(request.param, tmp_path)
    yield s
    s.close()


class WorkerWritten:
    """A store whose audit is written by the audit writer process (``runtime/audit_worker.py``), as in
    ``vaultlink serve``, and read by the store itself, as the service does."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.worker = AuditProcess(store.url, timeout=60)

    def append_audit(self, events: list[dict[str, Any]]) -> None:
        self.worker.append_audit(events)

    def trim_audit(self, before_time: float, max_events: int) -> int:
        return self.worker.trim_audit(before_time, max_events)

    def query_audit(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return self.store.query_audit(*args, **kwargs)

    def close(self) -> None:
        self.worker.close()
        self.store.close()


@pytest.fixture(params=["memory", "sqlite", "postgres", "sqlite+worker", "postgres+worker"])
def audit_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Every way the audit log is written: each adapter in-process, and each SQL one through the worker."""
    kind, _, worker = str(request.param).partition("+")
    if kind == "memory":
        s: Any = MemoryStore()
        s.migrate()
    else:
        s = fresh_sql_store(kind, tmp_path)
        if worker:
            s = WorkerWritten(s)
    yield s
    s.close()


def rec(name: str | None, account: str = "111111111111", parent: str = "", **kw: Any) -> dict[str, Any]:
    return {"account_id": account, "parent_id": parent, "name": name, **kw}


def test_insert_get_find_in_creation_order(store: Any) -> None:
    with store.transaction() as t:
        t.insert("vault", "v2", rec("b"))
        t.insert("vault", "v1", rec("a"))
        t.insert("vnet", "n1", rec("a"))
    with store.transaction() as t:
        assert t.get("vault", "v1")["name"] == "a"
        assert t.get("vault", "missing") is None
        assert [r["name"] for r in t.find("vault")] == ["b", "a"]
        assert [r["name"] for r in t.find("vault", name="a")] == ["a"]
        assert t.find("vault", account_id="222222222222") == []


def test_unique_name_per_scope_and_duplicate_id(store: Any) -> None:
    with store.transaction() as t:
        t.insert("vault", "v1", rec("a"))
        t.insert("vault", "v3", rec("a", account="222222222222"))  # other account: fine
        t.insert("vault", "v4", rec(None))
        t.insert("vault", "v5", rec(None))  # unnamed records never clash
    with pytest.raises(AlreadyExists), store.transaction() as t:
        t.insert("vault", "v2", rec("a"))
    with pytest.raises(AlreadyExists), store.transaction() as t:
        t.insert("vault", "v1", rec("z"))


def test_failed_transaction_rolls_back_everything(store: Any) -> None:
    with pytest.raises(RuntimeError), store.transaction() as t:
        t.insert("vault", "v1", rec("a"))
        raise RuntimeError("boom")
    with store.transaction() as t:
        assert t.get("vault", "v1") is None
    # an AlreadyExists inside a transaction must not keep the earlier writes either
    with pytest.raises(AlreadyExists), store.transaction() as t:
        t.insert("vault", "v1", rec("a"))
        t.insert("vault", "v2", rec("a"))
    with store.transaction() as t:
        assert t.find("vault") == []


def test_update_delete_require(store: Any) -> None:
    with store.transaction() as t:
        t.insert("vault", "v1", rec("a", x=1))
        t.update("vault", "v1", rec("a", x=2))
        assert t.require("vault", "v1")["x"] == 2
        with pytest.raises(NotFound):
            t.update("vault", "nope", rec("q"))
        t.delete("vault", "v1")
        with pytest.raises(NotFound):
            t.delete("vault", "v1")
        with pytest.raises(NotFound):
            t.require("vault", "v1")


def test_returned_records_are_copies(store: Any) -> None:
    with store.transaction() as t:
        t.insert("vault", "v1", rec("a", tags={"k": "v"}))
        r = t.get("vault", "v1")
        r["tags"]["k"] = "changed"
        assert t.get("vault", "v1")["tags"] == {"k": "v"}


def test_audit_append_and_query(audit_store: Any) -> None:
    events = [
        {
            "time": 100.0 + i,
            "action": "vault.create",
            "decision": "allowed" if i % 2 else "denied",
            "principal": f"p{i % 3}",
            "code": None if i % 2 else "AccessDenied",
            "vault": "v1" if i < 5 else "v2",
        }
        for i in range(10)
    ]
    audit_store.append_audit(events[:4])
    audit_store.append_audit(events[4:])
    allev = audit_store.query_audit({})
    assert [e["time"] for e in allev] == [e["time"] for e in events]
    seqs = [e["seq"] for e in allev]
    assert seqs == sorted(seqs) and len(set(seqs)) == 10
    assert len(audit_store.query_audit({"decision": "denied"})) == 5
    assert len(audit_store.query_audit({"vault": "v2", "code": "AccessDenied"})) == 2
    assert [e["time"] for e in audit_store.query_audit({"since": 103, "until": 105})] == [103.0, 104.0, 105.0]
    assert len(audit_store.query_audit({}, after_seq=seqs[6])) == 3
    assert len(audit_store.query_audit({}, limit=2)) == 2


def test_audit_newest_first_paging_and_retention(audit_store: Any) -> None:
    audit_store.append_audit([{"time": 100.0 + i, "action": "a", "decision": "allowed", "account_id": f"{i % 2}"}
                        for i in range(10)])
    seqs = [e["seq"] for e in audit_store.query_audit({})]
    newest = audit_store.query_audit({}, limit=3, newest_first=True)
    assert [e["seq"] for e in newest] == seqs[::-1][:3]
    older = audit_store.query_audit({}, limit=3, newest_first=True, before_seq=newest[-1]["seq"])
    assert [e["seq"] for e in older] == seqs[::-1][3:6]
    assert {e["account_id"] for e in audit_store.query_audit({"account_id": "1"})} == {"1"}
    # retention: by age, then by count; seq values are never reused
    assert audit_store.trim_audit(102.0, 1000) == 2
    assert audit_store.trim_audit(0.0, 5) == 3
    left = audit_store.query_audit({})
    assert [e["seq"] for e in left] == seqs[5:]
    audit_store.append_audit([{"time": 200.0, "action": "a", "decision": "allowed"}])
    assert audit_store.query_audit({})[-1]["seq"] > seqs[-1]


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    s = SqlStore(url)
    s.migrate()
    with s.transaction() as t:
        t.insert("vault", "v1", rec("a"))
    s.close()
    s2 = SqlStore(url)
    s2.migrate()  # idempotent
    with s2.transaction() as t:
        assert t.require("vault", "v1")["name"] == "a"
    s2.close()


def test_audit_events_come_back_as_they_were_written(audit_store: Any) -> None:
    ev = {"time": 5.0, "plane": "data", "action": "backup:PutBackupData", "decision": "allowed",
          "principal": "arn:aws:iam::111111111111:user/x", "account_id": "111111111111", "vault": "v1",
          "endpoint": "pe-1", "source_ip": "127.10.1.9", "vnet": "vnet-1", "host": "v1.privatelink.l1.backup.d",
          "method": "PUT", "path": "/packs/" + "ab" * 32, "target": "arn:aws:backup:l1:1:backup-vault:v", "resource":
          "arn:aws:backup:l1:1:backup-vault:v", "status": 200, "latency_ms": 1.5, "container": "c1", "code": None,
          "p": "a one-letter key", "~odd": 1, "message": "m" * 3000}
    other = dict(ev, resource="arn:aws:backup:l1:1:recovery-point:rp-1", time=6.0)
    audit_store.append_audit([ev, other])
    got = audit_store.query_audit({"vault": "v1"})
    assert len(got) == 2
    for want, have in zip((ev, other), got, strict=True):
        for k, v in want.items():
            if v is not None:
                assert have[k] == v, k
    assert audit_store.query_audit({"vault": "never-seen"}) == []
    assert len(audit_store.query_audit({"account_id": "111111111111", "plane": "data", "action": "backup:PutBackupData",
                                  "endpoint": "pe-1", "principal": ev["principal"], "decision": "allowed"})) == 2


def test_audit_events_of_one_batch_share_fields_each_their_own(audit_store: Any) -> None:
    """Events of one batch with the same named fields (one client's requests), one whose named field is not text
    (stored as its text), one with few fields: each stored with its own fields, none taken from a neighbour."""
    base = {"plane": "data", "action": "backup:DescribeBackupVault", "decision": "allowed", "vault": "v7",
            "account_id": "222222222222", "principal": "arn:x:iam::222222222222:user/a", "path": "/", "status": 200}
    evs = [dict(base, time=10.0 + i, latency_ms=float(i)) for i in range(5)]
    evs.insert(2, dict(base, time=11.5, vault=["v7", "odd"], status=500))
    evs.append({"time": 20.0, "account_id": "222222222222", "vault": "v7", "code": "X"})  # few fields
    audit_store.append_audit(evs)
    got = sorted(audit_store.query_audit({"account_id": "222222222222"}), key=lambda e: e["time"])
    assert [e["time"] for e in got] == [10.0, 11.0, 11.5, 12.0, 13.0, 14.0, 20.0]
    assert [e.get("latency_ms") for e in got] == [0.0, 1.0, None, 2.0, 3.0, 4.0, None]
    assert str(got[2]["vault"]) == str(["v7", "odd"]) and got[2]["status"] == 500
    assert all(e["vault"] == "v7" for i, e in enumerate(got) if i != 2)
    assert got[-1]["code"] == "X" and got[-1].get("path") is None and all(e.get("code") is None for e in got[:-1])
    assert len(audit_store.query_audit({"vault": "v7"})) == 6


def test_the_sql_audit_log_keeps_events_written_before_its_upgrade(tmp_path: Path) -> None:
    """0001's audit_events rows are carried into the compact log by migration 0002."""
    import json as _json

    from sqlalchemy import text

    s = SqlStore(f"sqlite:///{tmp_path / 'old.db'}")
    alembic_to(s, "upgrade", "0001")
    with s.engine.begin() as conn:
        body = {"time": 7.0, "action": "vault.create", "decision": "denied", "code": "AccessDenied",
                "principal": "p1", "vault": "v9", "message": "no"}
        conn.execute(text("INSERT INTO audit_events (time, plane, action, decision, code, principal, vault, body) "
                          "VALUES (7.0, 'management', 'vault.create', 'denied', 'AccessDenied', 'p1', 'v9', :b)"),
                     {"b": _json.dumps(body)})
    s.migrate()
    got = s.query_audit({"vault": "v9"})
    assert len(got) == 1 and got[0]["code"] == "AccessDenied" and got[0]["message"] == "no"
    s.close()


def test_scan_serves_committed_records_oldest_first_and_follows_every_commit(store: Any) -> None:
    with store.transaction() as t:
        t.insert("endpoint", "e2", rec("b", n=1))
        t.insert("endpoint", "e1", rec("a", n=1))
        t.insert("vault", "v1", rec("a"))
    assert [r["name"] for r in store.scan("endpoint")] == ["b", "a"]
    first = store.scan("endpoint")
    with store.transaction() as t:
        t.update("endpoint", "e1", rec("a", n=2))
        t.insert("endpoint", "e3", rec("c", n=1))
        t.delete("endpoint", "e2")
    second = store.scan("endpoint")
    assert [(r["name"], r["n"]) for r in second] == [("a", 2), ("c", 1)]
    # what a rolled-back transaction wrote never shows
    with pytest.raises(RuntimeError), store.transaction() as t:
        t.update("endpoint", "e3", rec("c", n=99))
        t.insert("endpoint", "e4", rec("d"))
        raise RuntimeError("boom")
    third = store.scan("endpoint")
    assert [(r["name"], r["n"]) for r in third] == [("a", 2), ("c", 1)]
    # an unchanged record keeps its identity (what callers memoize on); a changed one does not
    assert third[1] is second[1]
    assert second[0] is not first[1]
    with store.transaction() as t:
        t.update("endpoint", "e3", rec("c", n=3))
    assert store.scan("endpoint")[0] is third[0]
    assert [r["name"] for r in store.scan("vault")] == ["a"]
    with pytest.raises(ValueError):
        store.scan("principal")


def test_unchanged_tells_whether_a_stored_record_is_still_the_one_read(store: Any) -> None:
    """What a rewrite checks first (the automatic DNS records, several servers on one database): nobody changed
    the record since it was scanned."""
    with store.transaction() as t:
        t.insert("dns_zone", "z1", rec("a.example", serial=1, records=[{"name": "x", "values": ["10.0.0.1"]}]))
        t.insert("dns_zone", "z2", rec("b.example", serial=1))
    z1, z2 = store.scan("dns_zone")
    with store.transaction() as t:
        assert t.unchanged("dns_zone", "z1", z1) and t.unchanged("dns_zone", "z2", z2)
        assert t.unchanged("dns_zone", "z1", dict(z1))  # an equal record, not the scanned object
        assert not t.unchanged("dns_zone", "z1", {**z1, "serial": 2})
        assert not t.unchanged("dns_zone", "z2", z1)
        assert not t.unchanged("dns_zone", "z9", z1)  # gone (or never there)
    with store.transaction() as t:
        t.update("dns_zone", "z1", rec("a.example", serial=1, records=[{"name": "x", "values": ["10.0.0.2"]}]))
        t.delete("dns_zone", "z2")
    with store.transaction() as t:  # the records read before those writes are no longer what is stored
        assert not t.unchanged("dns_zone", "z1", z1) and not t.unchanged("dns_zone", "z2", z2)
        assert t.unchanged("dns_zone", "z1", store.scan("dns_zone")[0])


def test_unchanged_decodes_nothing_for_a_scanned_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQL: a scanned record is compared by the digest of its text (a zone is 31 KB at 200 vaults, checked on every
    endpoint create), so the check costs no decoding; another server's write is still caught."""
    import vaultlink.adapters.sql_txn as sql_txn

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    mine, theirs = SqlStore(url), SqlStore(url)
    mine.migrate()
    try:
        big = [{"name": f"n{i}.zone.example", "type": "A", "values": [f"10.0.{i // 250}.{i % 250}"]}
               for i in range(500)]
        with mine.transaction() as t:
            t.insert("dns_zone", "z1", rec("zone.example", serial=1, records=big))
        scanned = mine.scan("dns_zone")[0]
        decoded: list[int] = []
        real = sql_txn.json.loads

        def counting(text: str) -> Any:
            decoded.append(len(text))
            return real(text)

        monkeypatch.setattr(sql_txn.json, "loads", counting)
        with mine.transaction() as t:
            assert t.unchanged("dns_zone", "z1", scanned)
        assert decoded == []
        monkeypatch.undo()
        with theirs.transaction() as t:  # another server rewrites it: this store is not told
            t.update("dns_zone", "z1", rec("zone.example", serial=1, records=big[:-1]))
        with mine.transaction() as t:
            assert not t.unchanged("dns_zone", "z1", scanned)
    finally:
        mine.close()
        theirs.close()


def test_scan_is_read_only_of_committed_state_while_a_writer_is_open(store: Any) -> None:
    with store.transaction() as t:
        t.insert("vnet", "n1", rec("a", spaces=["10.0.0.0/16"]))
    with store.transaction() as t:
        t.update("vnet", "n1", rec("a", spaces=["10.1.0.0/16"]))
        t.insert("vnet", "n2", rec("b"))
        # inside a write transaction, scan still answers (never waits for that writer) with what is committed
        assert [(r["name"], r.get("spaces")) for r in store.scan("vnet")] == [("a", ["10.0.0.0/16"])]
    assert [r["name"] for r in store.scan("vnet")] == ["a", "b"]


def test_scan_sees_another_process_s_writes_after_forget_cached(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    mine, theirs = SqlStore(url), SqlStore(url)
    mine.migrate()
    try:
        with mine.transaction() as t:
            t.insert("dns_zone", "z1", rec("zone.example", serial=1))
        assert [r["serial"] for r in mine.scan("dns_zone")] == [1]
        with theirs.transaction() as t:  # another server or process: this store is not told
            t.update("dns_zone", "z1", rec("zone.example", serial=2))
        assert [r["serial"] for r in mine.scan("dns_zone")] == [1]
        mine.forget_cached()  # what the change feed does for every change another server announces
        assert [r["serial"] for r in mine.scan("dns_zone")] == [2]
    finally:
        mine.close()
        theirs.close()


def _plan(store: SqlStore, sql: str) -> str:
    """SQLite's plan for ``sql``: which index it uses."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return str(conn.execute(text("EXPLAIN QUERY PLAN " + sql)).fetchall())


def test_a_record_is_found_by_name_through_an_index(tmp_path: Path) -> None:
    """Every create looks its name up in the account (migration 0003): an index seek, not a walk of every
    record of that kind in the account (3.4 ms at 2,000 endpoints)."""
    from sqlalchemy import inspect

    store = SqlStore(f"sqlite:///{tmp_path / 'idx.db'}")
    store.migrate()
    try:
        names = {ix["name"] for ix in inspect(store.engine).get_indexes("records")}
        assert "ix_records_account_name" in names
        assert "ix_records_account_name" in _plan(store, "SELECT body FROM records WHERE kind = 'endpoint' "
                                                         "AND account_id = 'a' AND name = 'pe1'")
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_audit_indexes_of_often_empty_fields_hold_only_rows_with_a_value(kind: str, tmp_path: Path) -> None:
    """Migration 0005: the indexes on account, principal, vault, endpoint and code (and account + code) are partial,
    over the rows where the field is set (an allowed request has no code, a public one no endpoint); a filter on a
    value still finds every matching event, through the index."""
    from sqlalchemy import text

    store = fresh_sql_store(kind, tmp_path)
    try:
        allowed = {"plane": "data", "action": "backup:GetBackupData", "decision": "allowed", "account_id": "111",
                   "principal": "arn:p", "vault": "v1", "time": 1000.0}
        events = [dict(allowed, path=f"/a{i}") for i in range(30)]
        events += [dict(allowed, endpoint="pe-1", path=f"/e{i}") for i in range(5)]
        events += [{"plane": "data", "action": "backup:GetBackupData", "decision": "denied", "source_ip": "10.0.0.1",
                    "code": "EndpointPolicyDenied", "endpoint": "pe-1", "time": 1001.0, "path": f"/d{i}"}
                   for i in range(3)]
        store.append_audit(events)
        with store.engine.connect() as conn:
            if kind == "sqlite":
                defs = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                              "AND tbl_name = 'audit_log'")).fetchall())
                plan = str(conn.execute(text("EXPLAIN QUERY PLAN SELECT seq FROM audit_log WHERE seq > 0 AND code = 7 "
                                             "ORDER BY seq DESC LIMIT 100")).fetchall())
                assert "ix_audit_log_code" in plan or "ix_audit_log_account_code" in plan, plan
            else:
                defs = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                                              "'audit_log' AND schemaname = current_schema()")).fetchall())
        for c in ("account_id", "principal", "vault", "endpoint", "code"):
            assert f"{c} IS NOT NULL" in str(defs[f"ix_audit_log_{c}"]), defs[f"ix_audit_log_{c}"]
        assert "code IS NOT NULL" in str(defs["ix_audit_log_account_code"])
        for c in ("plane", "action", "decision"):  # always set: whole
            assert "WHERE" not in str(defs[f"ix_audit_log_{c}"]).upper()
        assert {e["path"] for e in store.query_audit({"code": "EndpointPolicyDenied"})} == {"/d0", "/d1", "/d2"}
        assert len(store.query_audit({"endpoint": "pe-1"})) == 8
        assert len(store.query_audit({"account_id": "111", "code": "EndpointPolicyDenied"})) == 0
        assert len(store.query_audit({"vault": "v1"})) == 35 and len(store.query_audit({})) == 38
    finally:
        store.close()


def test_count_is_what_find_returns(store: Any) -> None:
    with store.transaction() as t:
        for i in range(5):
            t.insert("recovery_point", f"rp{i}", rec(None, parent="v1" if i < 3 else "v2"))
        assert t.count("recovery_point") == 5 and t.count("recovery_point", parent_id="v1") == 3
        assert t.count("recovery_point", parent_id="nope") == 0 == t.count("vault")
        with pytest.raises(ValueError):
            t.count("recovery_point", body="x")


def test_newest_is_a_page_of_find_by_a_numeric_field(store: Any) -> None:
    times = {"a": 5.5, "b": 1.0, "c": None, "d": 9.25, "e": 5.5, "f": 1e9}
    with store.transaction() as t:
        for id, at in times.items():
            extra = {} if at is None else {"time": at}
            t.insert("recovery_point", id, rec(None, parent="v1", id=id, item="i1" if id < "d" else "i2", **extra))
        t.insert("recovery_point", "other", rec(None, parent="v2", id="other", time=1e10))
    with store.transaction() as t:
        everything = [r["id"] for r in t.newest("recovery_point", "time", 100, parent_id="v1")]
        assert everything == ["f", "d", "e", "a", "b", "c"]  # equal times: the last created first; none last
        assert [r["id"] for r in t.newest("recovery_point", "time", 2, 1, parent_id="v1")] == ["d", "e"]
        assert t.newest("recovery_point", "time", 5, 6, parent_id="v1") == []
        assert t.newest("recovery_point", "time", 0, parent_id="v1") == []
        page = t.newest("recovery_point", "time", 1, parent_id="v1")[0]
        assert page == rec(None, parent="v1", id="f", item="i2", time=1e9)
        assert [r["id"] for r in t.newest("recovery_point", "time", 9, match={"item": "i1"}, parent_id="v1")] == \
            ["a", "b", "c"]
        assert [r["id"] for r in t.newest("recovery_point", "time", 1, match={"item": "i2", "id": "e"})] == ["e"]
        assert t.newest("recovery_point", "time", 9, match={"item": "i3"}) == []
        # at_least: only those whose field is that or more (a record without it never)
        assert [r["id"] for r in t.newest("recovery_point", "time", 9, at_least=5.5, parent_id="v1")] == \
            ["f", "d", "e", "a"]
        assert [r["id"] for r in t.newest("recovery_point", "time", 1, 1, at_least=5.6, parent_id="v1")] == ["d"]
        assert [r["id"] for r in t.newest("recovery_point", "time", 9, match={"item": "i1"}, at_least=0,
                                          parent_id="v1")] == ["a", "b"]
        assert t.newest("recovery_point", "time", 9, at_least=2e10) == []
        with pytest.raises(ValueError):
            t.newest("recovery_point", "time", 1, match={"item') OR 1=1 --": "i1"})
        assert t.tally("recovery_point", "item", parent_id="v1") == {"i1": 3, "i2": 3}
        assert t.tally("recovery_point", "time", parent_id="v2") != {}
        assert t.tally("recovery_point", "nothing", parent_id="v1") == {None: 6}
        assert t.tally("recovery_point", "item", parent_id="nope") == {}
        for bad in ("time'; --", "Time", "", "a.b"):
            with pytest.raises(ValueError):
                t.newest("recovery_point", bad, 1)
            with pytest.raises(ValueError):
                t.tally("recovery_point", bad)
        with pytest.raises(ValueError):
            t.newest("recovery_point", "time", 1, body="x")


def test_oldest_pages_by_field_then_id_after_a_cursor(store: Any) -> None:
    """Pages of ``oldest`` with the last record of each as the next one's cursor give every record with the field
    once, in (field, id) order, also when records are added before the cursor or removed between pages."""
    times = {"b": 2.0, "a": 2.0, "c": 1.0, "e": 3.5, "d": None, "f": 2.0, "g-1": 2.0, "g1": 2.0}
    with store.transaction() as t:
        for id, at in times.items():
            extra = {} if at is None else {"created": at}
            t.insert("job", id, rec(None, parent="v1", id=id, type="Backup" if id != "f" else "Restore", **extra))
        t.insert("job", "x", rec(None, parent="v2", id="x", created=0.5))
    want = ["c", "a", "b", "f", "g-1", "g1", "e"]  # by time, then by id byte by byte ("-" before "1")
    with store.transaction() as t:
        assert [r["id"] for r in t.oldest("job", "created", 100, parent_id="v1")] == want
        seen: list[str] = []
        after = None
        for _ in range(10):
            page = t.oldest("job", "created", 2, after=after, parent_id="v1")
            if not page:
                break
            seen += [r["id"] for r in page]
            after = (page[-1]["created"], page[-1]["id"])
        assert seen == want
        assert [r["id"] for r in t.oldest("job", "created", 9, after=(2.0, "b"), parent_id="v1")] == [
            "f", "g-1", "g1", "e"]
        assert [r["id"] for r in t.oldest("job", "created", 9, match={"type": "Backup"}, after=(2.0, "a"),
                                          parent_id="v1")] == ["b", "g-1", "g1", "e"]
        assert t.oldest("job", "created", 0, parent_id="v1") == [] == t.oldest("job", "created", 5, after=(9.0, ""))
        page = t.oldest("job", "created", 1, parent_id="v1")[0]
        assert page == rec(None, parent="v1", id="c", type="Backup", created=1.0)
        with pytest.raises(ValueError):
            t.oldest("job", "created'; --", 1)
    with store.transaction() as t:  # between two pages: one added before the cursor, one removed after it
        t.insert("job", "aa", rec(None, parent="v1", id="aa", created=1.5))
        t.delete("job", "g-1")
    with store.transaction() as t:
        assert [r["id"] for r in t.oldest("job", "created", 9, after=(2.0, "b"), parent_id="v1")] == ["f", "g1", "e"]


def test_listing_picks_the_records_whose_list_field_is_not_empty(store: Any) -> None:
    values: dict[str, Any] = {"a": [{"vault": "v9"}], "b": [], "c": None, "d": "x", "e": {"k": 1}, "f": [1, 2],
                              "g": 0}
    with store.transaction() as t:
        for id, value in values.items():
            t.insert("recovery_point", id, rec(None, parent="v1", id=id, copy_pending=value))
        t.insert("recovery_point", "h", rec(None, parent="v1", id="h"))  # no such field
        t.insert("recovery_point", "i", rec(None, parent="v2", id="i", copy_pending=[{"vault": "v1"}]))
    with store.transaction() as t:
        assert [r["id"] for r in t.listing("recovery_point", "copy_pending")] == ["a", "f", "i"]
        got = t.listing("recovery_point", "copy_pending", parent_id="v1")
        assert got == [rec(None, parent="v1", id="a", copy_pending=[{"vault": "v9"}]),
                       rec(None, parent="v1", id="f", copy_pending=[1, 2])]
        assert t.listing("recovery_point", "nothing") == [] == t.listing("vault", "copy_pending")
        with pytest.raises(ValueError):
            t.listing("recovery_point", "copy_pending') OR 1=1 --")
        with pytest.raises(ValueError):
            t.listing("recovery_point", "copy_pending", body="x")


def test_lacking_picks_the_records_without_a_field(store: Any) -> None:
    values: dict[str, Any] = {"a": 1796000000.5, "b": None, "c": 0, "d": "x", "e": [], "f": {"k": None}}
    with store.transaction() as t:
        for id, value in values.items():
            t.insert("recovery_point", id, rec(None, parent="v1", id=id, replicated_at=value))
        t.insert("recovery_point", "g", rec(None, parent="v1", id="g"))
        t.insert("recovery_point", "h", rec(None, parent="v2", id="h"))
    with store.transaction() as t:
        assert [r["id"] for r in t.lacking("recovery_point", "replicated_at", parent_id="v1")] == ["b", "g"]
        assert [r["id"] for r in t.lacking("recovery_point", "replicated_at")] == ["b", "g", "h"]
        assert t.lacking("recovery_point", "replicated_at", parent_id="v1")[1] == rec(None, parent="v1", id="g")
        assert t.lacking("vault", "replicated_at") == []
        with pytest.raises(ValueError):
            t.lacking("recovery_point", "x') IS NULL OR ('1")


def test_find_by_status_follows_every_update(store: Any) -> None:
    """``status`` is indexed (migration 0008): a vault's running jobs are found among all it ever had, and the
    column follows the record through updates; a status that is not a short string is ""."""
    with store.transaction() as t:
        for id, status in (("a", "InProgress"), ("b", "Completed"), ("c", "InProgress"), ("d", None), ("e", 7),
                           ("f", "x" * 33)):
            t.insert("job", id, rec(None, parent="v1", id=id, status=status))
        t.insert("job", "g", rec(None, parent="v2", id="g", status="InProgress"))
        t.insert("vault", "h", rec(None, parent="v1", id="h", status="InProgress"))
    with store.transaction() as t:
        assert [r["id"] for r in t.find("job", status="InProgress")] == ["a", "c", "g"]
        assert [r["id"] for r in t.find("job", parent_id="v1", status="InProgress")] == ["a", "c"]
        assert [r["id"] for r in t.find("job", parent_id="v1", status="")] == ["d", "e", "f"]
        assert t.count("job", status="Completed") == 1
        t.update("job", "a", {**t.require("job", "a"), "status": "Failed"})
    with store.transaction() as t:
        assert [r["id"] for r in t.find("job", parent_id="v1", status="InProgress")] == ["c"]
        assert [r["id"] for r in t.find("job", status="Failed")] == ["a"]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_records_status_is_indexed_and_carried_over_by_its_migration(kind: str, tmp_path: Path) -> None:
    """Records written before migration 0008 get their status column from their body; the open jobs of a vault
    are then found through ``ix_records_status``, not by a walk of every job."""
    from sqlalchemy import text

    store = fresh_sql_store(kind, tmp_path)
    try:
        alembic_to(store, "downgrade", "0007")
        with store.engine.begin() as conn:
            for id, status in (("a", '"InProgress"'), ("b", '"Completed"'), ("c", "null"), ("d", '{"x": 1}')):
                conn.execute(text("INSERT INTO records (kind, id, account_id, parent_id, name, body) VALUES "
                                  f"('job', '{id}', 'acct', 'v1', NULL, '{{\"id\": \"{id}\", \"status\": {status}}}')"))
        alembic_to(store, "upgrade", "head")
        with store.transaction() as t:
            assert [r["id"] for r in t.find("job", parent_id="v1", status="InProgress")] == ["a"]
            assert [r["id"] for r in t.find("job", status="")] == ["c", "d"]
        if kind == "sqlite":
            assert "ix_records_status" in _plan(store, "SELECT body FROM records WHERE kind = 'job' "
                                                       "AND status = 'InProgress' AND parent_id = 'v1'")
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_points_pack_list_moves_to_a_record_of_its_own_and_back(kind: str, tmp_path: Path) -> None:
    """Migration 0009: a point's ``pack_refs`` (thousands of names for a large machine) leave its record for a
    ``point_packs`` record, the point keeping their count (null when its agent did not say); a downgrade puts
    them back. Nothing else of the point changes."""
    from vaultlink.domain.point_packs import point_packs

    store = fresh_sql_store(kind, tmp_path)
    refs = [f"st1/packs/{i:064x}" for i in range(300)]
    try:
        alembic_to(store, "downgrade", "0008")
        with store.transaction() as t:
            t.insert("recovery_point", "rp-a", rec(None, parent="v1", id="rp-a", vault_id="v1", pack_refs=refs,
                                                   status="Completed", time=1.5))
            t.insert("recovery_point", "rp-b", rec(None, parent="v1", id="rp-b", vault_id="v1", pack_refs=None,
                                                   status="Completed", time=2.5))
        alembic_to(store, "upgrade", "head")
        with store.transaction() as t:
            a, b = t.require("recovery_point", "rp-a"), t.require("recovery_point", "rp-b")
            assert "pack_refs" not in a and a["packs_referenced"] == 300 and a["time"] == 1.5
            assert "pack_refs" not in b and b["packs_referenced"] is None
            assert point_packs(t, a) == refs and point_packs(t, b) is None
            assert [r["id"] for r in t.find("point_packs", parent_id="v1")] == ["rp-a"]
        alembic_to(store, "downgrade", "0008")
        with store.transaction() as t:
            assert t.require("recovery_point", "rp-a") == rec(None, parent="v1", id="rp-a", vault_id="v1",
                                                                pack_refs=refs, status="Completed", time=1.5)
            assert t.require("recovery_point", "rp-b")["pack_refs"] is None
            assert t.find("point_packs") == []
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_every_job_gets_its_creation_time_from_its_migration(kind: str, tmp_path: Path) -> None:
    """Migration 0010: a job stored without ``created`` gets when it was scheduled, else started, else ended (0
    when none), so that jobs are read newest first by creation; one that has it keeps it."""
    store = fresh_sql_store(kind, tmp_path)
    jobs = {"a": {"scheduled": 5.0, "start": 9.0}, "b": {"start": 7.5, "end": 8.0}, "c": {"end": 3.0},
            "d": {}, "e": {"created": 1.0, "start": 2.0}}
    try:
        alembic_to(store, "downgrade", "0009")
        with store.transaction() as t:
            for id, times in jobs.items():
                t.insert("job", id, rec(None, parent="v1", id=id, status="Completed", **times))
        alembic_to(store, "upgrade", "head")
        with store.transaction() as t:
            assert {id: t.require("job", id)["created"] for id in jobs} == {"a": 5.0, "b": 7.5, "c": 3.0, "d": 0.0,
                                                                           "e": 1.0}
            assert t.require("job", "a") == rec(None, parent="v1", id="a", status="Completed", scheduled=5.0,
                                                start=9.0, created=5.0)
    finally:
        store.close()
