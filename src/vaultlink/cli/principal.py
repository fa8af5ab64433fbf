"""``vaultlink principal``: users and service identities."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled, read_json_file

app = typer.Typer(
    help="Principals: users and service identities, authenticated by API keys.", no_args_is_help=True
)
COLUMNS = ("id", "name", "type", "arn")


@app.command("create")
def create(
    name: str,
    type_: Annotated[str, typer.Option("--type", help="user or service")] = "user",
    account: Annotated[str | None, typer.Option("--account", help="Account id (default: yours).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a principal and its first API key (printed once)."""
    with handled(output):
        emit(Client().post("/principals", {"name": name, "type": type_, "account_id": account}), output)


@app.command("list")
def list_(
    account: Annotated[str | None, typer.Option("--account")] = None, output: OutputOpt = OutputFormat.table
) -> None:
    """List principals of an account."""
    with handled(output):
        emit(Client().get("/principals", account_id=account), output, COLUMNS)


@app.command("delete")
def delete(principal: str, output: OutputOpt = OutputFormat.table) -> None:
    """Delete a principal (by name, id or ARN), its keys and role assignments."""
    with handled(output):
        emit(Client().delete(f"/principals/{principal}"), output)


@app.command("set-policies")
def set_policies(principal: str, files: list[str], output: OutputOpt = OutputFormat.table) -> None:
    """Attach identity policies (JSON files) to a principal, replacing the ones it had."""
    with handled(output):
        docs = [read_json_file(f, "policy file") for f in files]
        emit(Client().request("PUT", f"/principals/{principal}/policies", json=docs), output)


@app.command("show-policies")
def show_policies(principal: str, output: OutputOpt = OutputFormat.json) -> None:
    """Show a principal's identity policies."""
    with handled(output):
        emit(Client().get(f"/principals/{principal}/policies"), output)
