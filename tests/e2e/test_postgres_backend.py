"""The service on PostgreSQL (the scale-out metadata store), driven by the real CLI."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from tests.conftest import start_server, stop_server

PG_URL = os.environ.get("VAULTLINK_TEST_POSTGRES_URL")


@pytest.mark.skipif(not PG_URL and not os.environ.get("CI"),
                    reason="set VAULTLINK_TEST_POSTGRES_URL (./scripts/test starts PostgreSQL)")
def test_serve_on_postgresql_keeps_data_across_restarts(tmp_path: Path) -> None:
    import psycopg

    assert PG_URL is not None
    base, _, _db = PG_URL.rpartition("/")
    name = "e2e_" + secrets.token_hex(4)
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    cfg = tmp_path / "vaultlink.toml"
    cfg.write_text(f'metadata_url = "{base}/{name}"\n')
    srv = start_server(tmp_path / "d", extra_args=("--config", str(cfg)))
    try:
        v = srv.ok("vault", "create", "pg-vault", "--region", "local-1")
        assert srv.cli("vault", "create", "pg-vault", "--region", "local-1").error_code == "AlreadyExists"
        assert [e["code"] for e in srv.ok("audit", "list", "--decision", "denied")] == ["AlreadyExists"]
    finally:
        assert stop_server(srv) == 0
    srv = start_server(tmp_path / "d", extra_args=("--config", str(cfg)))
    try:
        assert [x["id"] for x in srv.ok("vault", "list")] == [v["id"]]
    finally:
        stop_server(srv)
    assert not (tmp_path / "d" / "vaultlink.db").exists()  # nothing went to SQLite
