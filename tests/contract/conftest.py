"""Shared by the contract suites: a fresh SQL store on SQLite or on the run's PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text
from tests.ceph import ceph_rgw
from tests.seaweed import seaweed_server

from vaultlink.adapters import sqlstore
from vaultlink.adapters.sqlstore import SqlStore

PG_URL = os.environ.get("VAULTLINK_TEST_POSTGRES_URL")


def fresh_sql_store(kind: str, tmp_path: Path) -> SqlStore:
    """A migrated, empty store: ``kind`` is sqlite or postgres. PostgreSQL must run in CI (``./scripts/test``
    starts it): there a missing server fails the run instead of skipping."""
    if kind == "sqlite":
        store = SqlStore(f"sqlite:///{tmp_path / 'meta.db'}")
    else:
        if not PG_URL:
            if os.environ.get("CI"):
                pytest.fail("VAULTLINK_TEST_POSTGRES_URL is unset in CI: the PostgreSQL contract must run")
            pytest.skip("set VAULTLINK_TEST_POSTGRES_URL to run the PostgreSQL contract")
        # one schema per xdist worker: suites running in parallel never drop each other's tables
        schema = "contract_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
        admin = SqlStore(PG_URL)
        try:
            with admin.engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        finally:
            admin.close()
        store = SqlStore(f"{PG_URL}?options=-csearch_path%3D{schema}")
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS records, audit_events, audit_log, audit_names, chunk_index, "
                              "chunk_packs, alembic_version"))
    store.migrate()
    return store


ceph = pytest.fixture(scope="module")(ceph_rgw)  # Ceph RGW: stopped once the module is done
seaweed_s3 = pytest.fixture(scope="module")(seaweed_server)  # stopped once the module is done


def alembic_to(store: SqlStore, how: str, revision: str) -> None:
    """Migrate ``store`` to ``revision`` (``how``: upgrade or downgrade), as an older release left it."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(sqlstore.__file__).parent / "migrations"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, how)(cfg, revision)
