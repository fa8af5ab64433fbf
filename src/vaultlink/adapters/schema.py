"""SQL tables of the metadata store (SQLAlchemy Core). Changed only with a migration."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("id", String(128), nullable=False),
    Column("account_id", String(64), nullable=False, default=""),
    Column("parent_id", String(128), nullable=False, default=""),
    Column("name", String(255), nullable=True),
    Column("body", Text, nullable=False),
    Index("ux_records_kind_id", "kind", "id", unique=True),
    Index("ux_records_name", "kind", "account_id", "parent_id", "name", unique=True),
    Index("ix_records_parent", "kind", "parent_id"),
    Index("ix_records_account", "kind", "account_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),
    Column("plane", String(16), nullable=False, default="management"),
    Column("account_id", String(64), nullable=True),
    Column("principal", String(255), nullable=True),
    Column("action", String(128), nullable=False),
    Column("target", String(512), nullable=True),
    Column("vault", String(128), nullable=True),
    Column("endpoint", String(128), nullable=True),
    Column("source_ip", String(64), nullable=True),
    Column("vnet", String(128), nullable=True),
    Column("decision", String(16), nullable=False),
    Column("code", String(64), nullable=True),
    Column("body", Text, nullable=False),
    Index("ix_audit_time", "time"),
    Index("ix_audit_vault", "vault", "seq"),
    Index("ix_audit_endpoint", "endpoint", "seq"),
    Index("ix_audit_principal", "principal", "seq"),
)

chunk_index = Table(
    "chunk_index",
    metadata,
    Column("vault_id", String(64), primary_key=True),
    Column("chunk_id", LargeBinary(32), primary_key=True),
    Column("pack", String(128), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", Integer, nullable=False),
    Column("raw_length", Integer, nullable=False),
)

AUDIT_COLUMNS = (
    "time",
    "plane",
    "account_id",
    "principal",
    "action",
    "target",
    "vault",
    "endpoint",
    "source_ip",
    "vnet",
    "decision",
    "code",
)
