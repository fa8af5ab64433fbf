"""The create-private-endpoint wizard's HTML (pure): the seed's tabs (Basics, Resource, Virtual network, DNS,
Tags, Review + create), one form whose fields of the other tabs ride along hidden, each tab's problems shown
on it. The Next button comes first in the form, so Enter in a field moves on; the tab strip (buttons that
carry the form) is drawn above the fields by the stylesheet and reached after them with the keyboard."""

from __future__ import annotations

from typing import Any

from vaultlink.api.console_html import e, hidden, table

TABS = (("basics", "Basics"), ("resource", "Resource"), ("network", "Virtual network"), ("dns", "DNS"),
        ("tags", "Tags"), ("review", "Review + create"))
FIELDS = {"basics": ("name", "region"), "resource": ("vault", "group_id"), "network": ("vnet", "subnet"),
          "dns": ("dns_integration",), "tags": ("tag_key_1", "tag_value_1", "tag_key_2", "tag_value_2",
                                                "tag_key_3", "tag_value_3"), "review": ()}
ORDER = [k for k, _ in TABS]


def tab_of(field: str | None) -> str:
    for tab, names in FIELDS.items():
        if field in names or (field == "tags" and tab == "tags") or (field == "rules" and tab == "network"):
            return tab
    return "review"


def _options(values: list[tuple[str, str]], current: str) -> str:
    return "".join(f'<option value="{e(v)}"{" selected" if v == current else ""}>{e(label)}</option>'
                   for v, label in values)


def _field(label: str, name: str, f: dict[str, str], first: bool, hint: str = "", **attrs: str) -> str:
    extra = "".join(f' {k}="{e(v)}"' for k, v in attrs.items())
    focus = " autofocus" if first else ""
    tip = f'<span class="muted">{e(hint)}</span>' if hint else ""
    return (f'<label>{e(label)} <input type="text" name="{e(name)}" value="{e(f.get(name, ""))}"{extra}{focus}>'
            f"{tip}</label>")


def _select(label: str, name: str, f: dict[str, str], values: list[tuple[str, str]], first: bool) -> str:
    focus = " autofocus" if first else ""
    return f'<label>{e(label)} <select name="{e(name)}"{focus}>{_options(values, f.get(name, ""))}</select></label>'


def _fields(tab: str, f: dict[str, str], choices: dict[str, list[tuple[str, str]]], account: str) -> str:
    if tab == "basics":
        return (f'<p>Subscription (account): <strong>{e(account)}</strong></p>'
                + _field("Name", "name", f, True, "1-63 lower-case letters, digits, hyphens", required="")
                + _select("Region", "region", f, choices["region"], False))
    if tab == "resource":
        return (_select("Resource (Recovery Services vault)", "vault", f, choices["vault"], True)
                + _select("Target sub-resource", "group_id", f,
                          [("AzureBackup", "AzureBackup"), ("AzureBackup_secondary", "AzureBackup_secondary")], False))
    if tab == "network":
        return (_select("Virtual network", "vnet", f, choices["vnet"], True)
                + _field("Subnet", "subnet", f, False, choices_hint(choices["subnet"])))
    if tab == "dns":
        yes = f.get("dns_integration", "yes") != "no"
        return ('<fieldset><legend>Integrate with private DNS zone</legend>'
                f'<label><input type="radio" name="dns_integration" value="yes"{" checked" if yes else ""} autofocus>'
                f' Yes</label><label><input type="radio" name="dns_integration" value="no"'
                f'{"" if yes else " checked"}> No</label></fieldset>'
                '<p class="muted">Yes: the zones privatelink.&lt;geo&gt;.backup, blob and queue get the '
                "endpoint's A records, linked to the virtual network.</p>")
    if tab == "tags":
        rows = "".join(_field(f"Name {i}", f"tag_key_{i}", f, i == 1) + _field(f"Value {i}", f"tag_value_{i}", f, False)
                       for i in (1, 2, 3))
        return f'<fieldset><legend>Tags</legend>{rows}</fieldset>'
    return ""


def choices_hint(subnets: list[tuple[str, str]]) -> str:
    return "subnets: " + ", ".join(label for _v, label in subnets) if subnets else "no subnets yet"


def review(preview: dict[str, Any] | None, f: dict[str, str]) -> str:
    if preview is None:
        return ""
    ep = preview["endpoint"]
    rows = [("Name", e(ep["name"])), ("Region", e(ep["region"])), ("Resource", e(ep.get("vault_name"))),
            ("Target sub-resource", e(ep.get("group_id"))), ("Virtual network", e(f.get("vnet") or ep.get("vnet_id"))),
            ("Subnet", e(ep["subnet"])), ("Integrate with private DNS", "Yes" if ep.get("dns_integration") else "No"),
            ("Connection", e(ep["connection"]["status"])),
            ("Tags", e(", ".join(f"{k}={v}" for k, v in (ep.get("tags") or {}).items()) or "none"))]
    names = [(e(c["fqdn"]), e(c.get("purpose")), e(c.get("zone"))) for c in ep["ip_configs"]]
    zones = [(e(z.get("zone")), e(z.get("resource_group")), "created" if z.get("new_instance") else "exists",
              e(z.get("warning") or "")) for z in preview.get("dns_zones") or []]
    warn = "".join(f'<p class="flash" role="status">{e(w)}</p>' for w in preview.get("warnings") or [])
    return ('<p class="flash" role="status">Validation passed.</p>' + warn
            + table(("Setting", "Value"), rows, "The endpoint") + table(("Name", "Purpose", "Zone"), names,
                                                                         "Names it serves")
            + (table(("Zone", "Resource group", "Zone instance", "Warning"), zones, "Private DNS zones")
               if zones else ""))


def wizard(tab: str, f: dict[str, str], choices: dict[str, list[tuple[str, str]]], problems: list[str],
           csrf: str, account: str, preview: dict[str, Any] | None = None) -> str:
    i = ORDER.index(tab)
    carried = "".join(f'<input type="hidden" name="{e(k)}" value="{e(f.get(k, ""))}">'
                      for t, names in FIELDS.items() if t != tab for k in names if k in f)
    errs = "".join(f'<li>{e(p)}</li>' for p in problems)
    alert = f'<div class="flash error" role="alert"><ul>{errs}</ul></div>' if problems else ""
    nxt = ('<button type="submit" name="go" value="create" class="primary" autofocus>Create</button>'
           if tab == "review" else f'<button type="submit" name="go" value="{ORDER[i + 1]}" class="primary">'
                f'{"Review + create" if ORDER[i + 1] == "review" else "Next"}</button>')
    prev = (f'<button type="submit" name="go" value="{ORDER[i - 1]}">Previous</button>' if i else "")
    strip = "".join(f'<button type="submit" name="go" value="{k}"' + (' aria-current="step"' if k == tab else "")
                    + f">{e(label)}</button>" for k, label in TABS)
    return (f'<form method="post" action="/console/endpoints/new" class="wizard">{hidden(csrf)}'
            f'<input type="hidden" name="tab" value="{e(tab)}">{carried}'
            f'<div class="wizard-body"><h2>{e(dict(TABS)[tab])}</h2>{alert}'
            f'{_fields(tab, f, choices, account)}{review(preview, f) if tab == "review" else ""}'
            f'<div class="actions">{nxt}{prev}</div></div>'
            f'<nav class="tabs wizard-tabs" aria-label="Wizard steps">{strip}</nav></form>')
