"""``vaultlink key``: API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled

app = typer.Typer(help="API keys: created, listed, revoked. Stored hashed; shown once.", no_args_is_help=True)
COLUMNS = ("id", "principal", "status", "description")


@app.command("create")
def create(
    principal: Annotated[
        str | None, typer.Option("--principal", help="Name, id or ARN (default: you).")
    ] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create an API key; the secret is printed once."""
    with handled(output):
        emit(Client().post("/keys", {"principal": principal, "description": description}), output)


@app.command("list")
def list_(
    principal: Annotated[str | None, typer.Option("--principal")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List API keys (never their secrets)."""
    with handled(output):
        emit(Client().get("/keys", principal=principal), output, COLUMNS)


@app.command("revoke")
def revoke(key_id: str, output: OutputOpt = OutputFormat.table) -> None:
    """Revoke an API key at once."""
    with handled(output):
        emit(Client().post(f"/keys/{key_id}/revoke"), output)
