"""``vaultlink recovery-point``: list, show and delete a vault's recovery points."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled

app = typer.Typer(help="Recovery points: one backup of a protected item.", no_args_is_help=True)
COLUMNS = ("id", "time", "hostname", "protected_item", "files", "bytes_total", "stored_bytes", "dedup_ratio")


@app.command("list")
def list_(
    vault: str,
    container: Annotated[str | None, typer.Option("--container", help="Only this machine (id or hostname).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a vault's recovery points (oldest first)."""
    with handled(output):
        emit(Client().get(f"/vaults/{vault}/recovery-points", container=container), output, COLUMNS)


@app.command("show")
def show(recovery_point: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show one recovery point."""
    with handled(output):
        emit(Client().get(f"/recovery-points/{recovery_point}"), output)


@app.command("delete")
def delete(recovery_point: str, output: OutputOpt = OutputFormat.table) -> None:
    """Delete a recovery point."""
    with handled(output):
        emit(Client().delete(f"/recovery-points/{recovery_point}"), output)
