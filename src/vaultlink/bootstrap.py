"""The composition root: builds the whole process from a ``Config`` with direct imports.

``build_service`` opens the stores and wires the service's own rules to the typed events they follow;
``build_process`` adds the management and data-plane apps, the request pipeline with its endpoint
listeners and the DNS responder; ``serve`` runs it. Nothing else wires anything.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import os
import sys
from typing import Any

from vaultlink.adapters.clock_file import FileOffsetClock
from vaultlink.adapters.open import open_blobs, open_chunk_index, open_store
from vaultlink.api.app import create_app
from vaultlink.api.data_apps import build_data_apps
from vaultlink.compat.aws.front import AwsFront
from vaultlink.compat.azure.front import ArmFront
from vaultlink.config import Config
from vaultlink.domain.regions import load_catalog
from vaultlink.durable import write_atomic
from vaultlink.errors import InvalidInput
from vaultlink.fabric.listeners import attach as attach_fabric
from vaultlink.ports import BlobStore, MetadataStore
from vaultlink.runtime.audit_worker import AuditProcess
from vaultlink.runtime.dns import attach as attach_dns
from vaultlink.runtime.feed import attach as attach_feed
from vaultlink.runtime.heap import attach as attach_heap
from vaultlink.runtime.maintenance import attach as attach_maintenance
from vaultlink.runtime.process import Runtime
from vaultlink.runtime.prune_worker import PruneWorker
from vaultlink.runtime.tls import Tls
from vaultlink.service import sealing
from vaultlink.service.audit import AuditSink
from vaultlink.service.core import Service
from vaultlink.service.dataplane import drop_vault_data
from vaultlink.service.dns import drop_links_to_vnet
from vaultlink.service.dns_auto import AutoRecords
from vaultlink.service.dns_registration import RegistrationRecords
from vaultlink.service.endpoints import refuse_vault_with_endpoints
from vaultlink.service.events import (
    ContainersChanged,
    EndpointsChanged,
    RegistrationLinksChanged,
    VaultDeleting,
    VaultsChanged,
    VnetDeleting,
)
from vaultlink.service.identity import bootstrap


def build_service(
    config: Config, store: MetadataStore | None = None, blobs: BlobStore | None = None
) -> Service:
    catalog = load_catalog(config.regions)
    # the prune worker opens the same stores from the config: only stores the config names, on disk
    shared = (store is None and blobs is None and config.effective_metadata_url.startswith(("sqlite:///", "postgresql"))
              and ":memory:" not in config.effective_metadata_url
              and config.effective_blob_url.startswith("file:")
              and config.effective_replica_blob_url.startswith("file:"))
    opened = store is None
    if store is None:
        store = open_store(config.effective_metadata_url)
        store.migrate()
    # the paired regions' copies live beside the primary blobs (in memory when those are injected)
    keys = (config.blob_s3_access_key_id, config.blob_s3_secret_access_key)
    replica = open_blobs(config.effective_replica_blob_url if blobs is None else "memory://", *keys)
    if blobs is None:
        blobs = open_blobs(config.effective_blob_url, *keys)
    # the audit writer in a process of its own when the store is a database the config names (it opens it too)
    url = config.effective_metadata_url
    worker = (AuditProcess(url) if config.audit_worker and opened and url.startswith(("sqlite:///", "postgresql"))
              and ":memory:" not in url else None)
    audit = AuditSink(store, retention_seconds=config.audit_retention_days * 86400.0,
                      max_events=config.audit_max_events, writer=worker)
    svc = Service(config=config, store=store, catalog=catalog, audit=audit, chunks=open_chunk_index(store),
                  blobs=blobs, replica=replica)
    if config.test_clock_file:
        svc.clock = FileOffsetClock(config.test_clock_file)
    if config.prune_worker and shared:
        svc.prune_runner = PruneWorker(config)
    wire(svc)
    return svc


def wire(svc: Service) -> None:
    """The service's own rules, subscribed to the typed events they follow (the process adds its
    listeners and responder in ``build_process``)."""
    svc.on(VaultDeleting, refuse_vault_with_endpoints)  # first: a vault with endpoints is not deleted
    svc.on(VaultDeleting, drop_vault_data)
    # the chunk rows go once the deletion committed (SQLite: one writer, and the index has its own connection)
    svc.on(VaultsChanged, lambda ev: svc.chunks.drop_vault(ev.deleted) if ev.deleted else None)
    svc.on(VnetDeleting, drop_links_to_vnet)
    records = AutoRecords(svc)
    svc.on(EndpointsChanged, records)
    svc.on(VaultsChanged, records)
    machines = RegistrationRecords(svc, records.lock)  # the records of zone links that register their vnet
    svc.on(ContainersChanged, machines)
    svc.on(RegistrationLinksChanged, machines)


def build_process(svc: Service) -> Runtime:
    """The process around a service: the management app on the public listener, the request pipeline
    (with the data-plane apps and one listener per endpoint IP) in front of it, and the DNS responder."""
    runtime = Runtime(svc, create_app(svc))
    if svc.config.tls:
        runtime.tls = Tls(svc)  # the deployment's CA, made by the first server to start
    attach_dns(runtime)  # first: the fabric's start opens each vnet's DNS listener on the responder
    attach_fabric(runtime, build_data_apps(svc), [AwsFront(), ArmFront()])
    attach_maintenance(runtime)
    if svc.config.effective_metadata_url.startswith("postgresql"):
        attach_feed(runtime)  # several servers on one PostgreSQL follow each other's changes
    attach_heap(runtime)  # last: it freezes what the fabric's and the responder's handlers built
    return runtime


def sealing_key(config: Config) -> bytes:
    """The deployment's sealing key (``service/sealing.py``): the config's ``sealing_key`` (base64 of 32 bytes;
    every server of a deployment sets the same), else ``<data dir>/sealing.key``, made at first start."""
    if config.sealing_key:
        try:
            key = base64.b64decode(config.sealing_key, validate=True)
        except ValueError:
            key = b""
        if len(key) != sealing.KEY_BYTES:
            raise InvalidInput("sealing_key must be the base64 of 32 random bytes: make one with "
                               "`python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'`.",
                               field="sealing_key")
        return key
    path = config.data_dir / "sealing.key"
    if not path.exists():
        write_atomic(path, base64.b64encode(sealing.new_key()) + b"\n")
    key = base64.b64decode(path.read_text(encoding="ascii").strip())
    if len(key) != sealing.KEY_BYTES:
        raise InvalidInput(f"{path} does not hold a sealing key (base64 of 32 bytes); restore it from a backup "
                           "of the data dir: AWS secret keys sealed with it cannot be read without it.",
                           field="sealing_key")
    return key


def serve(config: Config, out: Any = sys.stdout) -> None:
    """Run the service until SIGINT/SIGTERM."""

    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir, 0o700)  # a data dir made before (or by hand) is tightened too: it holds keys
    key = sealing_key(config)
    svc = build_service(config)
    svc.sealing_key = key
    created = bootstrap(svc)
    if created is not None:
        account, token = created
        write_atomic(data_dir / "owner.key", (token + "\n").encode("ascii"))
        out.write(
            f"vaultlink: created root account {account['id']} and its owner.\n"
            f"vaultlink: owner API key (shown once; also saved to {data_dir / 'owner.key'}, mode 0600):\n"
            f"  {token}\n"
        )
        out.flush()
    runtime = build_process(svc)
    ca_file = runtime.tls.export(data_dir) if runtime.tls is not None else None
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
        info["tls"] = ca_file is not None
        info["ca_file"] = str(ca_file) if ca_file else None
        # What is loaded by now (modules, the apps, the first views) lives as long as the process: keep it out
        # of the cyclic collector's full passes, which otherwise walk it all with every thread stopped (94-140 ms
        # a pass at 2,000 endpoints; 15-32 ms frozen). What each change builds is frozen in turn (runtime/heap.py).
        gc.freeze()
        out.write(f"vaultlink: serving {rt.url} (data dir {data_dir}, fabric {config.fabric})\n")
        out.write(f"vaultlink: TLS with this deployment's CA; clients trust {ca_file} (AWS_CA_BUNDLE for AWS tools)\n"
                  if ca_file else "vaultlink: WARNING: plain HTTP (tls = false): credentials and data cross the "
                  "network unencrypted; use it only on loopback for tests\n")
        out.flush()  # said before server.json appears: whoever waits for it reads these lines too
        write_atomic(info_path, json.dumps(info, indent=2).encode("utf-8"))

    try:
        asyncio.run(runtime.run(ready))
    finally:
        with contextlib.suppress(FileNotFoundError):
            info_path.unlink()
        out.write("vaultlink: stopped\n")
        out.flush()
