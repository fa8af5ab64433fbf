"""The one place that wires adapters to the service."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from vaultlink.config import Config
from vaultlink.domain.regions import load_catalog
from vaultlink.errors import InvalidInput
from vaultlink.ports import BlobStore, MetadataStore
from vaultlink.service.audit import AuditSink
from vaultlink.service.core import Service
from vaultlink.service.dataplane import drop_vault_data
from vaultlink.service.dns import drop_links_to_vnet
from vaultlink.service.dns_auto import AutoRecords
from vaultlink.service.endpoints import refuse_vault_with_endpoints
from vaultlink.service.events import EndpointsChanged, VaultDeleting, VaultsChanged, VnetDeleting


def open_store(url: str) -> Any:
    """A metadata store for ``url``: ``sqlite:///…``, ``postgresql+psycopg://…`` or ``memory://``."""
    if url.startswith("memory:"):
        from vaultlink.adapters.memstore import MemoryStore

        return MemoryStore()
    if url.startswith(("sqlite", "postgresql")):
        from vaultlink.adapters.sqlstore import SqlStore

        return SqlStore(url)
    raise InvalidInput(
        f"metadata_url {url!r} is not supported; use sqlite:///PATH or postgresql+psycopg://…",
        field="metadata_url",
    )


def open_blobs(url: str) -> BlobStore:
    """A blob store for ``url``: ``file:///dir``, ``memory://`` or ``s3://bucket?endpoint=…``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from vaultlink.adapters.blob_local import LocalBlobStore

        return LocalBlobStore(parsed.path)
    if parsed.scheme == "memory":
        from vaultlink.adapters.blob_memory import MemoryBlobStore

        return MemoryBlobStore()
    if parsed.scheme == "s3":
        raise InvalidInput(
            f"blob_url {url!r}: the S3 blob store is not built yet in this release; use "
            "file:///DIR (the default, under the data dir) until it is.",
            field="blob_url",
        )
    raise InvalidInput(
        f"blob_url {url!r} is not supported; use file:///DIR or s3://BUCKET?endpoint=URL", field="blob_url"
    )


def build_service(
    config: Config, store: MetadataStore | None = None, blobs: BlobStore | None = None
) -> Service:
    catalog = load_catalog(config.regions)
    if store is None:
        store = open_store(config.effective_metadata_url)
        store.migrate()
    if blobs is None:
        blobs = open_blobs(config.effective_blob_url)
    audit = AuditSink(store, retention_seconds=config.audit_retention_days * 86400.0,
                      max_events=config.audit_max_events)
    svc = Service(config=config, store=store, catalog=catalog, audit=audit, blobs=blobs)
    wire(svc)
    return svc


def wire(svc: Service) -> None:
    """The service's own rules, subscribed to the typed events they follow (the runtime adds its
    listeners and responder in ``api.server.serve``)."""
    svc.on(VaultDeleting, refuse_vault_with_endpoints)  # first: a vault with endpoints is not deleted
    svc.on(VaultDeleting, drop_vault_data)
    svc.on(VnetDeleting, drop_links_to_vnet)
    records = AutoRecords(svc)
    svc.on(EndpointsChanged, records)
    svc.on(VaultsChanged, records)
