"""``vaultlink role``: role assignments."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled

app = typer.Typer(
    help="Role assignments: Owner, Contributor, Backup Operator, Reader, Network Contributor at a scope.",
    no_args_is_help=True,
)
COLUMNS = ("id", "principal", "role", "scope")


@app.command("assign")
def assign(
    principal: str,
    role: str,
    scope: Annotated[
        str | None,
        typer.Option(
            "--scope", help="/accounts/ID, /accounts/ID/vaults/VAULT-ID or /accounts/ID/vnets/VNET-ID"
        ),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Give PRINCIPAL the ROLE at a scope (default: your whole account)."""
    with handled(output):
        emit(
            Client().post("/role-assignments", {"principal": principal, "role": role, "scope": scope}), output
        )


@app.command("list")
def list_(
    principal: Annotated[str | None, typer.Option("--principal")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List role assignments."""
    with handled(output):
        emit(Client().get("/role-assignments", principal=principal), output, COLUMNS)


@app.command("remove")
def remove(assignment_id: str, output: OutputOpt = OutputFormat.table) -> None:
    """Remove a role assignment."""
    with handled(output):
        emit(Client().delete(f"/role-assignments/{assignment_id}"), output)
