"""``vaultlink plan``: backup plans (AWS Backup terms): rules with schedules, windows and lifecycles;
selections of machines and paths. The service's scheduler queues each due backup for the machine's
``vaultlink agent run``.

A plan file (JSON)::

    {"rules": [{"name": "daily", "vault": "prod", "schedule": "cron(0 5 ? * * *)", "timezone": "Europe/Paris",
                "start_window_minutes": 60, "completion_window_minutes": 1440, "delete_after_days": 30}],
     "selections": [{"name": "docs", "container": "vm-a", "paths": ["/home/alice/documents"]}]}
"""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled, read_json_file

app = typer.Typer(help="Backup plans: scheduled backups with windows and lifecycles.", no_args_is_help=True)
COLUMNS = ("id", "name", "rules", "selections", "created")


@app.command("create")
def create(
    name: str,
    file: Annotated[str, typer.Option("--file", help="The plan: JSON with rules and selections ('-': stdin).")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a backup plan."""
    with handled(output):
        emit(Client().post("/plans", {"name": name, "plan": read_json_file(file, "plan file")}), output)


@app.command("list")
def list_(output: OutputOpt = OutputFormat.table) -> None:
    """List backup plans."""
    with handled(output):
        rows = Client().get("/plans")
        if output == OutputFormat.table:
            rows = [{**p, "rules": ", ".join(f"{r['name']} ({r['schedule']})" for r in p["rules"]),
                     "selections": ", ".join(s["name"] for s in p["selections"])} for p in rows]
        emit(rows, output, COLUMNS)


@app.command("show")
def show(plan: str, output: OutputOpt = OutputFormat.json) -> None:
    """Show a backup plan."""
    with handled(output):
        emit(Client().get(f"/plans/{plan}"), output)


@app.command("delete")
def delete(plan: str, output: OutputOpt = OutputFormat.table) -> None:
    """Delete a backup plan (jobs it queued expire with their start windows)."""
    with handled(output):
        emit(Client().delete(f"/plans/{plan}"), output)
