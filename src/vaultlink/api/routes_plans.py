"""Backup plans (management API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, service_of
from vaultlink.service import plans

router = APIRouter(tags=["plans"])


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    plan: dict[str, Any]  # {"rules": [...], "selections": [...]}


@router.post("/plans", status_code=201, name="plan.create")
def create_plan(body: PlanIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "plan.create", lambda c: plans.create_plan(svc, c, body.name, body.plan), target=body.name)


@router.get("/plans", name="plan.list")
def list_plans(request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "plan.list", lambda c: plans.list_plans(svc, c))


@router.get("/plans/{ref}", name="plan.show")
def get_plan(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "plan.show", lambda c: plans.get_plan(svc, c, ref), target=ref)


@router.delete("/plans/{ref}", name="plan.delete")
def delete_plan(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "plan.delete", lambda c: plans.delete_plan(svc, c, ref), target=ref)
