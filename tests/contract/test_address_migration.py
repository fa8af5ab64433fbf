"""Migration 0004: a subnet's allocated addresses leave the vnet record for records of their own (issue #13: the
vnet record grew with its endpoints and was rewritten whole on every endpoint create), and come back on downgrade.
On SQLite, and on PostgreSQL when the run has one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tests.contract.conftest import alembic_to, fresh_sql_store

from vaultlink.adapters.sqlstore import SqlStore

OLD_VNET = {"id": "vnet-1", "account_id": "111111111111", "parent_id": "", "name": "net", "region": "local-1",
            "address_spaces": ["127.10.0.0/16"], "peerings": [],
            "subnets": [{"name": "s", "cidr": "127.10.1.0/24", "free_from": 0x7F0A0106,
                         "allocations": {"127.10.1.4": "pe-a", "127.10.1.5": "pe-a"}},
                        {"name": "empty", "cidr": "127.10.2.0/24", "allocations": {}}]}


def _vnet_body(store: SqlStore) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(json.loads(conn.execute(text("SELECT body FROM records WHERE kind = 'vnet'")).scalar_one()))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_allocations_move_to_records_and_back(kind: str, tmp_path: Path) -> None:
    store = fresh_sql_store(kind, tmp_path)
    try:
        alembic_to(store, "downgrade", "0003")
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO records (kind, id, account_id, parent_id, name, body) "
                              "VALUES ('vnet', 'vnet-1', '111111111111', '', 'net', :body)"),
                         {"body": json.dumps(OLD_VNET, sort_keys=True)})
        store.migrate()
        vnet = _vnet_body(store)
        assert vnet["subnets"] == [{"name": "s", "cidr": "127.10.1.0/24"}, {"name": "empty", "cidr": "127.10.2.0/24"}]
        with store.transaction() as txn:
            rows = txn.find("address", parent_id="vnet-1/s")
            assert {r["ip"]: r["owner"] for r in rows} == {"127.10.1.4": "pe-a", "127.10.1.5": "pe-a"}
            assert txn.get("address", "vnet-1/127.10.1.4") is not None
            assert txn.require("address_cursor", "vnet-1/s")["free_from"] == 0x7F0A0106
            assert txn.get("address_cursor", "vnet-1/empty") is None
        alembic_to(store, "downgrade", "0003")
        assert _vnet_body(store) == OLD_VNET  # the same record as before, allocations and hint
        with store.engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM records WHERE kind IN ('address', 'address_cursor')"))
            assert left.scalar_one() == 0
    finally:
        store.close()
