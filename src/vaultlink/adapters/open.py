"""The adapters a configuration names: a metadata store, its chunk index and a blob store for a URL.

Used by the composition root (``bootstrap.py``) and by the prune worker process
(``runtime/prune_worker.py``), which opens the same stores without the web stack."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from vaultlink.adapters.blob_local import LocalBlobStore
from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.adapters.blob_s3 import S3BlobStore
from vaultlink.adapters.chunkindex_memory import MemoryVaultChunkIndex
from vaultlink.adapters.chunkindex_sql import SqlVaultChunkIndex
from vaultlink.adapters.memstore import MemoryStore
from vaultlink.adapters.sqlstore import SqlStore
from vaultlink.errors import InvalidInput
from vaultlink.ports import BlobStore, VaultChunkIndex


def open_store(url: str) -> Any:
    """A metadata store for ``url``: ``sqlite:///…``, ``postgresql+psycopg://…`` or ``memory://``."""
    if url.startswith("memory:"):
        return MemoryStore()
    if url.startswith(("sqlite", "postgresql")):
        return SqlStore(url)
    raise InvalidInput(
        f"metadata_url {url!r} is not supported; use sqlite:///PATH or postgresql+psycopg://…",
        field="metadata_url",
    )


def open_chunk_index(store: Any) -> VaultChunkIndex:
    """The chunk index beside the metadata store: in its SQL database, or in memory for ``memory://``."""
    if isinstance(store, SqlStore):
        return SqlVaultChunkIndex(store.engine, store.writer_lock)
    return MemoryVaultChunkIndex()


def open_blobs(url: str, access_key_id: str = "", secret_access_key: str = "") -> BlobStore:
    """A blob store for ``url``: ``file:///dir``, ``memory://`` or ``s3://bucket/prefix?endpoint=…``
    (with the config's S3 credentials, else boto3's own chain)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalBlobStore(parsed.path)
    if parsed.scheme == "memory":
        return MemoryBlobStore()
    if parsed.scheme == "s3":
        return S3BlobStore(url, access_key_id, secret_access_key)
    raise InvalidInput(
        f"blob_url {url!r} is not supported; use file:///DIR or s3://BUCKET?endpoint=URL", field="blob_url"
    )
