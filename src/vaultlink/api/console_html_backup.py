"""Backup pages (pure HTML): a vault's machines (containers), protected items, plans and retention, jobs with
their live progress, recovery points a page at a time (newest first) with Restore; a point's page with the
restore form; a job's page."""

from __future__ import annotations

import time
from typing import Any

from vaultlink.api.console_html import e, hidden, table, vault_nav
from vaultlink.domain.jobs import unreadable_warning
from vaultlink.units import human_size

POINTS_PER_PAGE = 50


def when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + " UTC" if t else "—"


def size(n: Any) -> str:
    return human_size(n) if isinstance(n, (int, float)) else "—"


def progress(job: dict[str, Any]) -> str:
    """A running job's last report as a bar (bytes) with files and rate; an ended job's outcome."""
    p = job.get("progress")
    if job.get("status") in ("InProgress", "Created") and p:
        total = max(int(p.get("bytes_total") or 0), 1)
        done = min(int(p.get("bytes_done") or 0), total)
        rate = done / p["elapsed"] if p.get("elapsed") else 0
        return (f'<progress max="{total}" value="{done}" aria-label="Job progress">{100 * done // total}%</progress> '
                f'{100 * done // total}% · {e(p.get("files_done"))}/{e(p.get("files_total"))} files · '
                f"{size(done)} of {size(total)} · {size(rate)}/s")
    if job.get("status") in ("InProgress", "Created"):
        return '<span class="muted">starting…</span>'
    stats = job.get("stats") or {}
    if job.get("error"):
        return e(job["error"])
    outcome = e(f"{stats.get('files', '—')} files, {size(stats.get('bytes_total') or stats.get('bytes'))}")
    warning = unreadable_warning(job)
    return outcome + (f' <strong class="warning">· {e(warning)}</strong>' if warning else "")


def jobs_table(jobs: list[dict[str, Any]], caption: str) -> str:
    rows = [(f'<a href="/console/jobs/{e(j["id"])}">{e(j["id"])}</a>', e(j["type"]),
             f'<span class="status-{e(j["status"])}">{e(j["status"])}</span>', e(j.get("hostname")),
             when(j.get("start")), progress(j)) for j in jobs]
    return table(("Job", "Type", "Status", "Machine", "Started", "Progress"), rows, caption)


def points_table(points: list[dict[str, Any]], total: int, page: int) -> str:
    rows = [(when(p.get("time")), e(p.get("hostname")), e(", ".join(p.get("paths") or [])),
             f'<span class="status-{e(p.get("status"))}">{e(p.get("status"))}</span>',
             size((p.get("stats") or {}).get("bytes_total")), when(p.get("expires")),
             f'<a href="/console/recovery-points/{e(p["id"])}">Restore…</a>') for p in points]
    first = page * POINTS_PER_PAGE
    caption = f"{total} recovery point(s), newest first" + (
        f"; {first + 1}-{first + len(points)} shown" if total > len(points) else "")
    return table(("Time", "Machine", "Paths", "Status", "Size", "Expires", ""), rows, caption)


def pager(base: str, page: int, total: int) -> str:
    last = max((total - 1) // POINTS_PER_PAGE, 0)
    links = []
    if page > 0:
        links.append(f'<a href="{base}?page={page - 1}" rel="prev">Newer</a>')
    if page < last:
        links.append(f'<a href="{base}?page={page + 1}" rel="next">Older</a>')
    return f'<nav class="pager" aria-label="Recovery point pages">{" · ".join(links)}</nav>' if links else ""


MAX_SHOWN = 1000  # the console asks for one page of a vault's machines, and of its items


def backup(vault: str, points: list[dict[str, Any]], total: int, page: int, jobs: list[dict[str, Any]],
           containers: list[dict[str, Any]], items: list[dict[str, Any]], rules: list[tuple[str, dict[str, Any]]],
           lock: dict[str, Any]) -> str:
    base = f"/console/vaults/{e(vault)}/backup"
    body = vault_nav(vault, "/backup")
    body += "<h2>Recovery points</h2>" + points_table(points, total, page) + pager(base, page, total)
    body += "<h2>Jobs</h2>" + jobs_table(jobs, f"the {len(jobs)} most recent job(s)")
    body += "<h2>Backup items</h2>" + table(
        ("Item", "Machine", "Paths", "Status", "Recovery points"),
        [(e(i["id"]), e(i.get("hostname")), e(", ".join(i.get("paths") or [])), e(i.get("status")),
          e(i.get("recovery_points"))) for i in items])
    if len(items) >= MAX_SHOWN:
        body += (f'<p class="muted">The first {MAX_SHOWN:,} items; <code>vaultlink item list {e(vault)}</code> '
                 'lists every one.</p>')
    body += "<h2>Machines (containers)</h2>" + table(
        ("Machine", "Container", "Kind", "Status", "Registered", "Source address"),
        [(e(c.get("hostname")), e(c["id"]), e(c.get("agent_kind") or "mars"), e(c.get("status")),
          when(c.get("registered")), e(c.get("source_ip"))) for c in containers])
    if len(containers) >= MAX_SHOWN:
        body += (f'<p class="muted">The first {MAX_SHOWN:,} machines registered; '
                 f'<code>vaultlink container list {e(vault)}</code> lists every one.</p>')
    body += "<h2>Backup plans</h2>" + table(("Plan", "Rule", "Schedule", "Retention (days)"), [
        (e(plan), e(r.get("name")), e(r.get("schedule")), e(r.get("delete_after_days") or "kept"))
        for plan, r in rules])
    body += "<h2>Retention</h2>" + table(("Setting", "Value"), [(e(k), e(v)) for k, v in lock.items()])
    return body


def point(rp: dict[str, Any], containers: list[dict[str, Any]], csrf: str) -> str:
    facts = (("Id", rp["id"]), ("Vault", rp.get("vault_name")), ("Machine", rp.get("hostname")),
             ("Paths", ", ".join(rp.get("paths") or [])), ("Time", when(rp.get("time"))),
             ("Status", rp.get("status")), ("Expires", when(rp.get("expires"))))
    rows = [(e(k), e(v)) for k, v in facts]
    options = "".join(f'<option value="{e(c["id"])}"{" selected" if c.get("hostname") == rp.get("hostname") else ""}>'
                      f'{e(c.get("hostname"))} ({e(c["id"])})</option>' for c in containers)
    restore = (f'<form method="post" action="/console/recovery-points/{e(rp["id"])}/restore"><fieldset>'
               f'<legend>Restore onto a machine of the vault</legend>{hidden(csrf)}'
               f'<label>Machine <select name="container">{options}</select></label>'
               f'<label>Target directory <input type="text" name="target" required placeholder="/srv/restore">'
               '</label><label>Only paths matching (one pattern a line; empty: everything) <textarea name="include" '
               'rows="2" placeholder="src/docs"></textarea></label><label>Leaving out (one pattern a line) '
               '<textarea name="exclude" rows="2" placeholder="*.tmp"></textarea></label>'
               '<button type="submit">Restore</button></fieldset></form>'
               '<p class="muted">The machine\'s agent picks the restore job up (<code>vaultlink agent run</code> or '
               '<code>vaultlink agent restore</code>). Patterns match the paths <code>vaultlink agent ls</code> shows '
               '(fnmatch; a directory brings its subtree).</p>')
    return table(("Property", "Value"), rows) + restore


def job(j: dict[str, Any]) -> str:
    rows = [(e(k), v) for k, v in (("Id", e(j["id"])), ("Type", e(j["type"])), ("Status", e(j["status"])),
                                    ("Machine", e(j.get("hostname"))), ("Started", when(j.get("start"))),
                                    ("Ended", when(j.get("end"))), ("Recovery point", e(j.get("recovery_point_id"))),
                                    ("Progress", progress(j)))]
    rows += [(e(k), e(", ".join(j[f]))) for k, f in (("Only paths matching", "include"), ("Leaving out", "exclude"))
             if j.get(f)]
    return table(("Property", "Value"), rows)
