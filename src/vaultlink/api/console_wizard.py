"""The create-private-endpoint wizard (the seed's "+ Private endpoint"): Basics, Resource, Virtual network,
DNS, Tags, Review + create. Moving on validates the form so far exactly as ``vaultlink endpoint create
--dry-run`` does (the same service call, ``create_endpoint(dry_run=True)``); a problem stops the move and is
shown, with the CLI's message and code, on the tab whose field it names. Create runs the real call."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vaultlink.api import console_html_wizard as W
from vaultlink.api.console_kit import Ctx, back, form, signed_in
from vaultlink.errors import VaultlinkError
from vaultlink.service import endpoints, networks, vaults

router = APIRouter(include_in_schema=False)
KNOWN = {k for names in W.FIELDS.values() for k in names}


def body_of(f: dict[str, str]) -> dict[str, Any]:
    """The API body the wizard's fields make (the CLI's ``endpoint create`` flags)."""
    tags = {f[f"tag_key_{i}"].strip(): f.get(f"tag_value_{i}", "") for i in (1, 2, 3)
            if f.get(f"tag_key_{i}", "").strip()}
    return {"name": f.get("name", ""), "region": f.get("region", ""), "vault": f.get("vault") or None,
            "group_id": f.get("group_id", "AzureBackup"), "vnet": f.get("vnet", ""), "subnet": f.get("subnet", ""),
            "dns_integration": f.get("dns_integration", "yes") != "no", "tags": tags}


def problems_by_tab(err: VaultlinkError) -> dict[str, list[str]]:
    """The refusal's problems, each as the CLI prints it (``Code: message``), under the tab of its field."""
    out: dict[str, list[str]] = {}
    codes = err.details.get("problem_codes") or [err.code]
    fields = err.details.get("problem_fields") or [err.field]
    texts = err.details.get("problems") or [err.message]
    for code, field, text in zip(codes, fields, texts, strict=False):
        prefix = f"{code} ({field}): "
        msg = text[len(prefix):] if text.startswith(prefix) else err.message
        out.setdefault(W.tab_of(field), []).append(f"{code}: {msg}")
    return out


def _refuse(err: VaultlinkError) -> Any:
    raise err


def _choices(ctx: Ctx) -> dict[str, list[tuple[str, str]]]:
    vs = ctx.run("vault.list", lambda c: vaults.list_vaults(ctx.svc, c))
    nets = ctx.run("vnet.list", lambda c: networks.list_vnets(ctx.svc, c))
    subnets = sorted({(s["name"], f'{s["name"]} ({n["name"]}, {s.get("free", "?")} free)')
                      for n in nets for s in n.get("subnets") or []})
    return {"region": [(r, r) for r in ctx.svc.catalog.regions],
            "vault": [("", "(choose a vault)")] + [(v["name"], f'{v["name"]} ({v["region"]})') for v in vs],
            "vnet": [("", "(choose a virtual network)")] + [(n["name"], f'{n["name"]} ({n["region"]})') for n in nets],
            "subnet": subnets}


def _render(ctx: Ctx, tab: str, f: dict[str, str], problems: list[str],
            preview: dict[str, Any] | None = None) -> Response:
    body = W.wizard(tab, f, _choices(ctx), problems, ctx.csrf, ctx.caller.account_id, preview)
    return ctx.page("Create a private endpoint", body)


@router.get("/console/endpoints/new", name="console.endpoint.new")
def new_endpoint(request: Request, vault: str = "", region: str = "") -> Response:
    ctx = signed_in(request)
    if isinstance(ctx, Response):
        return ctx
    f = {"vault": vault[:100], "region": region[:100] or next(iter(ctx.svc.catalog.regions), ""),
         "group_id": "AzureBackup", "subnet": "default", "dns_integration": "yes"}
    return _render(ctx, "basics", f, [])


@router.post("/console/endpoints/new", name="console.endpoint.wizard")
async def wizard_step(request: Request) -> Response:
    ctx = signed_in(request)
    if isinstance(ctx, Response):
        return ctx
    try:
        posted = await form(request, ctx.session)
    except VaultlinkError as err:
        return ctx.page("Create a private endpoint", "", flash=err.message, error=True, status=err.http_status)
    f = {k: v[:300] for k, v in posted.items() if k in KNOWN}
    here = posted.get("tab", "")
    here = here if here in W.ORDER else "basics"
    go = posted.get("go", "")
    if go not in (*W.ORDER, "create"):
        go = here
    if go != "create" and W.ORDER.index(go) <= W.ORDER.index(here):  # back: no checks
        return _render(ctx, go, f, [])
    svc, body = ctx.svc, body_of(f)
    try:
        # the dry run of `endpoint create --dry-run`; audited when it reaches Review + create or stops the
        # user on a tab (not for the fields of tabs not filled in yet, which the next step asks for)
        preview = endpoints.create_endpoint(svc, ctx.caller, body, dry_run=True)
        if go in ("review", "create"):
            ctx.run("endpoint.validate", lambda c: preview, target=body["name"] or None, vault=body["vault"])
    except VaultlinkError as err:
        by_tab = problems_by_tab(err)
        stop = W.ORDER.index("review") if go == "create" else W.ORDER.index(go)
        shown = next((tab for tab in W.ORDER[:stop + 1] if tab in by_tab and (tab != go or go == "review")),
                     "review" if go == "create" else None)
        if shown is None:
            return _render(ctx, go, f, [])
        with contextlib.suppress(VaultlinkError):
            ctx.run("endpoint.validate", lambda c, e=err: _refuse(e), target=body["name"] or None,  # type: ignore[misc]
                    vault=body["vault"])
        return _render(ctx, shown, f, by_tab.get(shown) or [p for ps in by_tab.values() for p in ps])
    if go != "create":
        return _render(ctx, go, f, [], preview)
    try:
        made = ctx.run("endpoint.create", lambda c: endpoints.create_endpoint(svc, c, body),
                       target=body["name"], vault=body["vault"])
    except VaultlinkError as err:
        by_tab = problems_by_tab(err)
        tab = next((t for t in W.ORDER if t in by_tab), "review")
        return _render(ctx, tab, f, by_tab.get(tab, [f"{err.code}: {err.message}"]))
    ctx.session.flash = (f"Private endpoint {made['name']} created: connection {made['status']}.", False)
    return back(f"/console/vaults/{made['vault_name']}?tab=private")
