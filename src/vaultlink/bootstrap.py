"""The composition root: builds the whole process from a ``Config`` with direct imports.

``build_service`` opens the stores and wires the service's own rules to the typed events they follow;
``build_process`` adds the management and data-plane apps, the request pipeline with its endpoint
listeners and the DNS responder; ``serve`` runs it. Nothing else wires anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from typing import Any
from urllib.parse import urlparse

from vaultlink.adapters.blob_local import LocalBlobStore
from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.adapters.chunkindex_memory import MemoryVaultChunkIndex
from vaultlink.adapters.chunkindex_sql import SqlVaultChunkIndex
from vaultlink.adapters.clock_file import FileOffsetClock
from vaultlink.adapters.memstore import MemoryStore
from vaultlink.adapters.sqlstore import SqlStore
from vaultlink.api.app import create_app
from vaultlink.api.data_apps import build_data_apps
from vaultlink.config import Config
from vaultlink.domain.regions import load_catalog
from vaultlink.errors import InvalidInput
from vaultlink.fabric.listeners import attach as attach_fabric
from vaultlink.ports import BlobStore, MetadataStore, VaultChunkIndex
from vaultlink.runtime.dns import attach as attach_dns
from vaultlink.runtime.maintenance import attach as attach_maintenance
from vaultlink.runtime.process import Runtime, write_private
from vaultlink.service.audit import AuditSink
from vaultlink.service.core import Service
from vaultlink.service.dataplane import drop_vault_data
from vaultlink.service.dns import drop_links_to_vnet
from vaultlink.service.dns_auto import AutoRecords
from vaultlink.service.endpoints import refuse_vault_with_endpoints
from vaultlink.service.events import EndpointsChanged, VaultDeleting, VaultsChanged, VnetDeleting
from vaultlink.service.identity import bootstrap


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


def open_blobs(url: str) -> BlobStore:
    """A blob store for ``url``: ``file:///dir``, ``memory://`` or ``s3://bucket?endpoint=…``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalBlobStore(parsed.path)
    if parsed.scheme == "memory":
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
    svc = Service(config=config, store=store, catalog=catalog, audit=audit, chunks=open_chunk_index(store),
                  blobs=blobs)
    if config.test_clock_file:
        svc.clock = FileOffsetClock(config.test_clock_file)
    wire(svc)
    return svc


def wire(svc: Service) -> None:
    """The service's own rules, subscribed to the typed events they follow (the process adds its
    listeners and responder in ``build_process``)."""
    svc.on(VaultDeleting, refuse_vault_with_endpoints)  # first: a vault with endpoints is not deleted
    svc.on(VaultDeleting, drop_vault_data)
    svc.on(VaultDeleting, lambda ev: svc.chunks.drop_vault(ev.record["id"]))
    svc.on(VnetDeleting, drop_links_to_vnet)
    records = AutoRecords(svc)
    svc.on(EndpointsChanged, records)
    svc.on(VaultsChanged, records)


def build_process(svc: Service) -> Runtime:
    """The process around a service: the management app on the public listener, the request pipeline
    (with the data-plane apps and one listener per endpoint IP) in front of it, and the DNS responder."""
    runtime = Runtime(svc, create_app(svc))
    attach_fabric(runtime, build_data_apps(svc))
    attach_dns(runtime)
    attach_maintenance(runtime)
    return runtime


def serve(config: Config, out: Any = sys.stdout) -> None:
    """Run the service until SIGINT/SIGTERM."""

    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir, 0o700)  # a data dir made before (or by hand) is tightened too: it holds keys
    svc = build_service(config)
    created = bootstrap(svc)
    if created is not None:
        account, token = created
        write_private(data_dir / "owner.key", token + "\n")
        out.write(
            f"vaultlink: created root account {account['id']} and its owner.\n"
            f"vaultlink: owner API key (shown once; also saved to {data_dir / 'owner.key'}, mode 0600):\n"
            f"  {token}\n"
        )
        out.flush()
    runtime = build_process(svc)
    info_path = data_dir / "server.json"

    def ready(rt: Runtime) -> None:
        info = {
            "url": rt.url,
            "pid": os.getpid(),
            "api_port": rt.port,
            "public_address": config.public_address,
            "domain": config.domain,
            "default_region": next(iter(svc.catalog.regions), None),
        }
        info.update(getattr(rt, "extra_info", {}))
        write_private(info_path, json.dumps(info, indent=2))
        out.write(f"vaultlink: serving {rt.url} (data dir {data_dir})\n")
        out.flush()

    try:
        asyncio.run(runtime.run(ready))
    finally:
        with contextlib.suppress(FileNotFoundError):
            info_path.unlink()
        out.write("vaultlink: stopped\n")
        out.flush()
