"""``vaultlink account``: tenants."""

from __future__ import annotations

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled

app = typer.Typer(help="Accounts (tenants), each with a 12-digit id.", no_args_is_help=True)
COLUMNS = ("id", "name", "root", "created")


@app.command("create")
def create(name: str, output: OutputOpt = OutputFormat.table) -> None:
    """Create an account with an owner principal; prints the owner's API key once."""
    with handled(output):
        emit(Client().post("/accounts", {"name": name}), output)


@app.command("list")
def list_(output: OutputOpt = OutputFormat.table) -> None:
    """List the accounts you can read."""
    with handled(output):
        emit(Client().get("/accounts"), output, COLUMNS)


@app.command("show")
def show(account_id: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show one account."""
    with handled(output):
        emit(Client().get(f"/accounts/{account_id}"), output)
