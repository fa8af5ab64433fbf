"""Audit and monitoring pages (pure HTML and SVG): the audit stream with its filters; a vault's charts
(bytes backed up per day, storage used, decisions allowed vs denied per day) drawn as inline SVG, no script,
each with a table of the same numbers for screen readers and for copying."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vaultlink.api.console_html import e, table, vault_nav
from vaultlink.api.console_html_backup import size, when

FILTERS = (("decision", "Decision"), ("vault", "Vault"), ("endpoint", "Endpoint"), ("code", "Error code"),
           ("action", "Action"), ("principal", "Principal"))
COLORS = ("#2f6f4f", "#b03a2e", "#6b7a8f")


def audit(events: list[dict[str, Any]], filters: dict[str, str], live: bool) -> str:
    fields = "".join(
        f'<label>{e(label)} <select name="decision"><option value="">any</option>'
        + "".join(f'<option value="{v}"{" selected" if filters.get("decision") == v else ""}>{v}</option>'
                  for v in ("allowed", "denied")) + "</select></label>"
        if key == "decision" else
        f'<label>{e(label)} <input type="text" name="{key}" value="{e(filters.get(key, ""))}"></label>'
        for key, label in FILTERS)
    live_box = f'<label><input type="checkbox" name="live" value="1"{" checked" if live else ""}> Live</label>'
    form = (f'<form method="get" action="/console/audit"><fieldset><legend>Filters</legend>{fields}{live_box}'
            f'<button type="submit">Apply</button></fieldset></form>')
    rows = [(e(ev.get("seq")), when(ev.get("time")), f'<span class="status-{e(ev.get("decision"))}">'
             f'{e(ev.get("decision"))}</span>', e(ev.get("action")), e(ev.get("principal")), e(ev.get("source_ip")),
             e(ev.get("endpoint") or ev.get("plane")), e(ev.get("target")), e(ev.get("code"))) for ev in events]
    note = ('<p class="muted">Live: this page reloads every 2 seconds with the newest events.</p>' if live else "")
    return form + note + table(("Seq", "Time", "Decision", "Action", "Principal", "From", "Endpoint or plane",
                                "Target", "Code"), rows, f"the newest {len(events)} event(s)")


def bars(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]],
         fmt: Any = str) -> str:
    """A stacked bar chart: one bar per label, one stacked colour per series."""
    width, height, pad = 640, 200, 28
    n = max(len(labels), 1)
    totals = [sum(s[1][i] for s in series) for i in range(len(labels))]
    top = max(totals or [0]) or 1
    bw = (width - 2 * pad) / n
    shapes = []
    for i, label in enumerate(labels):
        y = float(height - pad)
        for k, (name, values) in enumerate(series):
            h = (height - 2 * pad) * values[i] / top
            y -= h
            shapes.append(f'<rect x="{pad + i * bw + 2:.1f}" y="{y:.1f}" width="{max(bw - 4, 1):.1f}" '
                          f'height="{h:.1f}" fill="{COLORS[k % len(COLORS)]}"><title>{e(label)} {e(name)}: '
                          f"{e(fmt(values[i]))}</title></rect>")
        if n <= 16 or i % 2 == 0:
            shapes.append(f'<text x="{pad + i * bw + bw / 2:.1f}" y="{height - 8}" font-size="10" '
                          f'text-anchor="middle">{e(label[-5:])}</text>')
    legend = " ".join(f'<svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
                      f'fill="{COLORS[k % len(COLORS)]}"/></svg> {e(name)}' for k, (name, _v) in enumerate(series))
    svg = (f'<svg role="img" aria-label="{e(title)}" viewBox="0 0 {width} {height}" class="chart">'
           f'<title>{e(title)}</title><text x="{pad}" y="14" font-size="11">max {e(fmt(top))}</text>'
           + "".join(shapes) + "</svg>")
    rows = [(e(label), *[e(fmt(values[i])) for _n, values in series]) for i, label in enumerate(labels)]
    data = table(("Day", *[name for name, _v in series]), rows)
    return (f'<figure><figcaption>{e(title)} <span class="muted">{legend}</span></figcaption>{svg}'
            f"<details><summary>The numbers</summary>{data}</details></figure>")


def monitoring(vault: str, days: list[str], backed_up: list[float], uploaded: list[float], allowed: list[float],
               denied: list[float], usage: dict[str, Any]) -> str:
    storage = [("Live", [float(usage.get("live_bytes") or 0)]),
               ("Soft-deleted", [float(usage.get("soft_deleted_bytes") or 0)]),
               ("Reclaimable", [float(usage.get("reclaimable_bytes") or 0)])]
    return (vault_nav(vault, "/monitoring")
            + bars("Bytes backed up per day (read / new)", days, [("read", backed_up), ("new", uploaded)], size)
            + bars("Storage used now", ["now"], storage, size)
            + bars("Decisions per day (allowed / denied)", days, [("allowed", allowed), ("denied", denied)],
                   lambda v: f"{int(v)}")
            + f'<p class="muted">{e(usage.get("recovery_points"))} recovery point(s), {e(usage.get("packs"))} '
              "pack(s). Prometheus metrics of the data path: <code>/metrics</code> on the server.</p>")
