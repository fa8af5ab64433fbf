"""Shared helpers of the data-plane route modules (no routes here)."""

from __future__ import annotations

from vaultlink.api.data_kit import DataRequest
from vaultlink.domain.records import ContainerRecord
from vaultlink.errors import AccessDenied
from vaultlink.service import replication
from vaultlink.service.dataplane.containers import calling_container
from vaultlink.service.dataplane.grants import JOB_HEADER, granted_source

CONTAINER_HEADER = "x-vaultlink-container"


def container_for(r: DataRequest) -> ContainerRecord:
    """The machine whose data the request acts on: the caller's own, or, with a restore job's header, the
    source machine under that job's grant (read actions on one recovery point's data only)."""
    ctx = r.ctx
    job = r.headers.get(JOB_HEADER)
    if job is not None and ctx.caller.kind != "container":
        raise AccessDenied("a restore job's grant is for the machine the job runs on (its container credential).")
    own = calling_container(r.svc, ctx, r.headers.get(CONTAINER_HEADER))
    c = own if job is None else granted_source(r.svc, own, job, ctx.action)
    if ctx.secondary:  # through the paired region's names: the replica, and only points replicated there
        c = replication.secondary_view(r.svc, c)
    return c
