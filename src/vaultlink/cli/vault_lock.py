"""``vaultlink vault lock``: the vault lock (AWS Backup Vault Lock: governance, then compliance)."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled

app = typer.Typer(help="The vault lock: minimum and maximum retention; compliance mode after a changeable window.",
                  no_args_is_help=True)


@app.command("show")
def show(vault: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show the lock (mode governance or compliance), soft delete and immutability."""
    with handled(output):
        emit(Client().get(f"/vaults/{vault}/lock"), output)


@app.command("put")
def put(
    vault: str,
    min_retention_days: Annotated[int | None, typer.Option(help="Points are kept at least this long")] = None,
    max_retention_days: Annotated[int | None, typer.Option(help="Points are kept at most this long")] = None,
    changeable_for_days: Annotated[int | None, typer.Option(
        help="Days (at least 3) the lock stays changeable; then compliance mode: nobody can remove it. "
        "Leave out to stay in governance mode.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Lock the vault (AWS PutBackupVaultLockConfiguration)."""
    with handled(output):
        emit(Client().request("PUT", f"/vaults/{vault}/lock", json={
            "min_retention_days": min_retention_days, "max_retention_days": max_retention_days,
            "changeable_for_days": changeable_for_days}), output)


@app.command("delete")
def delete(vault: str, output: OutputOpt = OutputFormat.table) -> None:
    """Remove the lock (only while it is in governance mode)."""
    with handled(output):
        emit(Client().delete(f"/vaults/{vault}/lock"), output)
