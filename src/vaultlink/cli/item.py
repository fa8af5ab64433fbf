"""``vaultlink item`` and ``vaultlink container``: protected items and machines of a vault; deleting one
soft-deletes its data (every recovery point), undelete brings it back."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled, parse_tags

app = typer.Typer(help="Protected items (a machine's backed-up paths): list, delete (soft), undelete.",
                  no_args_is_help=True)
containers = typer.Typer(help="Machines registered with a vault: list, delete (soft), undelete, tag, key versions.",
                         no_args_is_help=True)
ITEM_COLUMNS = ("id", "hostname", "paths", "status", "recovery_points", "last_backup", "purge_after")
CONTAINER_COLUMNS = ("id", "hostname", "status", "scope", "tags", "source_ip", "registered", "purge_after")


@app.command("list")
def list_(
    vault: str,
    container: Annotated[str | None, typer.Option("--container", help="Only this machine (id or hostname).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a vault's protected items."""
    with handled(output):
        emit(Client().get_all(f"/vaults/{vault}/items", "created", container=container), output, ITEM_COLUMNS)


@app.command("delete")
def delete(item: str, output: OutputOpt = OutputFormat.table) -> None:
    """Stop protecting an item and soft-delete its recovery points (refused while the vault lock keeps one)."""
    with handled(output):
        emit(Client().delete(f"/protected-items/{item}"), output)


@app.command("undelete")
def undelete(item: str, output: OutputOpt = OutputFormat.table) -> None:
    """Bring a soft-deleted item back, with the recovery points deleted with it."""
    with handled(output):
        emit(Client().post(f"/protected-items/{item}/undelete"), output)


@containers.command("list")
def container_list(vault: str, output: OutputOpt = OutputFormat.table) -> None:
    """List the machines registered with a vault."""
    with handled(output):
        emit(Client().get_all(f"/vaults/{vault}/containers", "created"), output, CONTAINER_COLUMNS)


@containers.command("delete")
def container_delete(vault: str, machine: str, output: OutputOpt = OutputFormat.table) -> None:
    """Unregister a machine and soft-delete all its data; its credential stops working."""
    with handled(output):
        emit(Client().delete(f"/vaults/{vault}/containers/{machine}"), output, CONTAINER_COLUMNS)


@containers.command("undelete")
def container_undelete(vault: str, machine: str, output: OutputOpt = OutputFormat.table) -> None:
    """Bring a soft-deleted machine back, with its items and recovery points."""
    with handled(output):
        emit(Client().post(f"/vaults/{vault}/containers/{machine}/undelete"), output, CONTAINER_COLUMNS)


@containers.command("keys")
def container_keys(
    vault: str,
    machine: str,
    restore: Annotated[bool, typer.Option(
        "--restore", help="Bring back the versions its agent retired: their passphrases open its data again.")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """A machine's key versions (one per passphrase), newest first, and which ones its agent retired
    (`vaultlink agent passphrase --retire-old`)."""
    with handled(output):
        client = Client()
        path = f"/vaults/{vault}/containers/{machine}/keys"
        emit(client.post(path + "/restore") if restore else client.get(path), output, ("name", "version", "retired"))


@containers.command("tag")
def container_tag(
    vault: str,
    machine: str,
    tag: Annotated[list[str], typer.Option("--tag", help="KEY=VALUE, repeatable; replaces all tags")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Set a machine's tags (backup-plan selections can choose machines by tag)."""
    with handled(output):
        emit(Client().patch(f"/vaults/{vault}/containers/{machine}", {"tags": parse_tags(tag)}), output,
             CONTAINER_COLUMNS)
