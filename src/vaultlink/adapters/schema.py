"""SQL tables of the metadata store (SQLAlchemy Core). Changed only with a migration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text, text

metadata = MetaData()
# execution option of a connection that only reads: on SQLite it begins a plain snapshot, where every other
# transaction begins IMMEDIATE (takes the write lock at once, so writers in two processes wait, not fail)
READS = "vaultlink_reads"

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
    # the record's own "status" (a job's Created / InProgress / Completed…), "" when it has none (migration 0008)
    Column("status", String(32), nullable=False, default="", server_default=""),
    Index("ux_records_kind_id", "kind", "id", unique=True),
    Index("ux_records_name", "kind", "account_id", "parent_id", "name", unique=True),
    Index("ix_records_parent", "kind", "parent_id"),
    Index("ix_records_account", "kind", "account_id"),
    Index("ix_records_account_name", "kind", "account_id", "name"),  # by name in an account (migration 0003)
    Index("ix_records_status", "kind", "status", "parent_id"),  # the open jobs among all (migration 0008)
)

# The audit log (adapters/audit_sql.py): the named fields are ids into audit_names; the rest is JSON.
AUDIT_NAMED = ("account_id", "plane", "principal", "action", "target", "vault", "endpoint", "source_ip", "vnet",
               "decision", "code", "host", "method", "container")
AUDIT_FILTERS = ("account_id", "plane", "principal", "action", "vault", "endpoint", "decision", "code")
# filters whose field is often empty (``code`` on every allowed request, ``endpoint`` on the public one, ``vault``
# on management calls, the caller on unauthenticated refusals): their indexes hold only the rows that have one
# (partial indexes, migration 0005), which a filter on a value always implies. Fewer index entries per event:
# at 1M events a tenth less on disk and a sixth more writes per second (bench/README-audit.md).
AUDIT_SPARSE = ("account_id", "principal", "vault", "endpoint", "code")


def _sparse(column: str) -> dict[str, Any]:
    """The dialect options of a partial index over the rows where ``column`` is set."""
    cond = text(f"{column} IS NOT NULL")
    return {"sqlite_where": cond, "postgresql_where": cond}


audit_names = Table(
    "audit_names",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", String(1024), nullable=False, unique=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("time_ms", BigInteger, nullable=False),  # milliseconds since the epoch
    *(Column(c, Integer, nullable=True) for c in AUDIT_NAMED),
    Column("rest", Text, nullable=True),
    Index("ix_audit_log_time", "time_ms"),
    *(Index(f"ix_audit_log_{c}", c, "seq", **(_sparse(c) if c in AUDIT_SPARSE else {})) for c in AUDIT_FILTERS),
    Index("ix_audit_log_account_code", "account_id", "code", "seq", **_sparse("code")),  # a tenant's refusals
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
    # a container's rows, pack by pack (migration 0006): an agent's index load and prune's drop of packs read
    # them through it instead of every row of the vault
    Index("ix_chunk_index_pack", "vault_id", "pack"),
)

# each pack's entries in one row (migration 0007): an agent loads its index at every backup and restore, and
# reading a row per chunk cost the server 0.4 s at 100k chunks (``ports.VaultChunkIndex.packs``)
chunk_packs = Table(
    "chunk_packs",
    metadata,
    Column("vault_id", String(64), primary_key=True),
    Column("pack", String(128), primary_key=True),  # <container>/<storage account>/<pack>, as chunk_index.pack
    Column("entries", LargeBinary, nullable=False),  # ports.CHUNK_RECORD each, by offset
)

