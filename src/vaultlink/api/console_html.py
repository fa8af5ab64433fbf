"""The web console's HTML (pure): pages rendered on the server, every value escaped, no script. Forms
carry the session's CSRF token; tables and forms wrap, so pages stay readable at 200% zoom."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

TITLE = "vaultlink"
NAV = ('<a href="/console/vaults">Vaults</a><a href="/console/vnets">Virtual networks</a>'
       '<a href="/console/dns">Private DNS</a><a href="/console/audit">Audit</a><a href="/v1/docs">API</a>')


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, *, user: str | None = None, csrf: str = "", flash: str = "",
         error: bool = False, refresh: int = 0) -> str:
    """A whole page. ``refresh``: seconds until the browser reloads it (live pages, without script)."""
    who = (f'<span>{e(user)}</span><form method="post" action="/console/logout">{hidden(csrf)}'
           '<button type="submit">Sign out</button></form>') if user else ""
    note = f'<p class="flash{" error" if error else ""}" role="{"alert" if error else "status"}">{e(flash)}</p>' \
        if flash else ""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            + (f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else "") +
            f'<title>{e(title)} · {TITLE}</title><link rel="stylesheet" href="/console/assets/console.css"></head>'
            f'<body><header><a href="/console/vaults"><strong>{TITLE}</strong></a>'
            f'<nav aria-label="Main">{NAV}</nav>{who}</header>'
            f'<main><h1>{e(title)}</h1>{note}{body}</main></body></html>')


def hidden(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{e(csrf)}">' if csrf else ""


def table(columns: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "") -> str:
    """``rows`` hold HTML already escaped (cells may be links or forms)."""
    head = "".join(f'<th scope="col">{e(c)}</th>' for c in columns)
    labels = [f' data-label="{e(c)}"' if c else "" for c in columns]  # narrow screens stack the cells
    body = "".join("<tr>" + "".join(f"<td{labels[i] if i < len(labels) else ''}>{cell}</td>"
                                    for i, cell in enumerate(r)) + "</tr>" for r in rows)
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def button_form(action: str, label: str, csrf: str, fields: dict[str, str] | None = None,
                describe: bool = False) -> str:
    extra = "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in (fields or {}).items())
    desc = (f'<label>Description <input type="text" name="description" maxlength="200" '
            f'aria-label="Description for {e(label)}"></label>') if describe else ""
    return (f'<form class="inline" method="post" action="{e(action)}">{hidden(csrf)}{extra}{desc}'
            f'<button type="submit">{e(label)}</button></form>')


def login(flash: str = "", error: bool = False) -> str:
    form = ('<form method="post" action="/console/login"><label>API key '
            '<input type="password" name="api_key" autocomplete="off" required autofocus></label>'
            '<button type="submit">Sign in</button></form>'
            '<p class="muted">A vaultlink API key (<code>vaultlink key create</code>); it stays on the server, '
            'the browser keeps only a session cookie.</p>')
    return page("Sign in", form, flash=flash, error=error)


def vaults(items: list[dict[str, Any]], regions: list[str], csrf: str) -> str:
    rows = [(f'<a href="/console/vaults/{e(v["name"])}">{e(v["name"])}</a>', e(v["region"]),
             e(v["public_network_access"]), e(v.get("resource_group") or "default")) for v in items]
    options = "".join(f'<option value="{e(r)}">{e(r)}</option>' for r in regions)
    create = (f'<form method="post" action="/console/vaults"><fieldset><legend>Create a vault</legend>'
              f'{hidden(csrf)}<label>Name <input type="text" name="name" required pattern="[a-z][a-z0-9-]{{0,62}}">'
              f'</label><label>Region <select name="region">{options}</select></label>'
              f'<button type="submit">Create</button></fieldset></form>')
    return table(("Vault", "Region", "Public network access", "Resource group"), rows,
                 f"{len(items)} vault(s)") + create


def tabs(base: str, current: str, names: Sequence[tuple[str, str]]) -> str:
    links = "".join(f'<a href="{e(base)}?tab={e(k)}"' + (' aria-current="page"' if k == current else "") +
                    f">{e(label)}</a>" for k, label in names)
    return f'<nav class="tabs" aria-label="Networking">{links}</nav>'


def vault_nav(name: str, current: str) -> str:
    """The vault's sections, as the portal's left-hand menu."""
    base = f"/console/vaults/{e(name)}"
    items = (("", "Overview and networking"), ("/dns", "DNS"), ("/backup", "Backup"),
             ("/monitoring", "Monitoring"))
    links = "".join(f'<a href="{base}{k}"' + (' aria-current="page"' if k == current else "") + f">{e(label)}</a>"
                    for k, label in items)
    return f'<nav class="sections" aria-label="Vault">{links}</nav>'


def vault(v: dict[str, Any], conns: list[dict[str, Any]], tab: str, csrf: str) -> str:
    base = f'/console/vaults/{e(v["name"])}'
    overview = table(("Property", "Value"), [
        ("Id", e(v["id"])), ("Region", e(v["region"])), ("Public network access", e(v["public_network_access"])),
        ("Cross-region restore", e(v.get("cross_region_restore"))), ("Recovery points", e(v.get("recovery_points"))),
    ])
    body = f"{vault_nav(v['name'], '')}<h2>Overview</h2>{overview}<h2>Networking</h2>"
    body += tabs(base, tab, (("public", "Public access"), ("private", "Private access")))
    if tab == "public":
        allowed = v["public_network_access"] == "Enabled"
        body += (f'<form method="post" action="{base}/public-access"><fieldset><legend>Public network access'
                 f'</legend>{hidden(csrf)}'
                 f'<label><input type="radio" name="access" value="Enabled"{" checked" if allowed else ""}> Allow'
                 f'</label><label><input type="radio" name="access" value="Disabled"'
                 f'{"" if allowed else " checked"}> Deny</label><button type="submit">Apply</button>'
                 f'</fieldset></form>')
        return body
    rows = []
    for c in conns:
        actions = "".join(button_form(f'{base}/connections/{c["endpoint_id"]}/{act}', label, csrf, describe=True)
                          for act, label in (("approve", "Approve"), ("reject", "Reject"), ("remove", "Remove"))
                          if _can(c["status"], act))
        rows.append((e(c["endpoint_name"]), e(c["group_id"]), f'<span class="status-{e(c["status"])}">'
                     f'{e(c["status"])}</span>', e(c.get("description")), e(c.get("requested_by")),
                     e(", ".join(c.get("ips") or [])), actions or '<span class="muted">—</span>'))
    body += (f'<p><a class="button" href="/console/endpoints/new?vault={e(v["name"])}&amp;region='
             f'{e(v["region"])}">+ Private endpoint</a></p>')
    body += table(("Endpoint", "Group", "Connection", "Description", "Requested by", "Addresses", "Actions"),
                  rows, f"{len(conns)} private endpoint connection(s)")
    return body


def _can(status: str, action: str) -> bool:
    return {"Pending": {"approve", "reject", "remove"}, "Approved": {"reject", "remove"},
            "Rejected": {"remove"}}.get(status, set()).__contains__(action)
