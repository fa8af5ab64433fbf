"""``vaultlink vault``: vaults."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, days_or_none, emit, handled, parse_tags, read_json_file
from vaultlink.cli.vault_lock import app as lock_app

app = typer.Typer(help="Vaults: where backups live.", no_args_is_help=True)
COLUMNS = ("id", "name", "region", "public_network_access", "cross_region_restore", "has_protection_history")

Toggle = Annotated[str | None, typer.Option(help="Enabled or Disabled")]


@app.command("create")
def create(
    name: str,
    region: Annotated[str, typer.Option("--region", help="A region from `vaultlink region list`.")],
    public_network_access: Toggle = "Enabled",
    cross_region_restore: Toggle = "Disabled",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE, repeatable")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a vault."""
    with handled(output):
        body = {
            "name": name,
            "region": region,
            "public_network_access": public_network_access,
            "cross_region_restore": cross_region_restore,
            "tags": parse_tags(tag),
        }
        emit(Client().post("/vaults", body), output)


@app.command("list")
def list_(output: OutputOpt = OutputFormat.table) -> None:
    """List vaults."""
    with handled(output):
        emit(Client().get("/vaults"), output, COLUMNS)


@app.command("show")
def show(vault: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show a vault (by name or id)."""
    with handled(output):
        emit(Client().get(f"/vaults/{vault}"), output)


@app.command("replicate")
def replicate(vault: str, output: OutputOpt = OutputFormat.table) -> None:
    """Copy a vault's new backup data to its paired region now (cross-region restore; the service also does
    it every `replication_interval` seconds), then show the replication lag."""
    with handled(output):
        emit(Client().post(f"/vaults/{vault}/replicate", {}), output)


@app.command("update")
def update(
    vault: str,
    public_network_access: Toggle = None,
    cross_region_restore: Toggle = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="KEY=VALUE, repeatable; replaces all tags")
    ] = None,
    soft_delete: Annotated[str | None, typer.Option(
        help="Enabled, Disabled or AlwaysOn (can never be turned off again)")] = None,
    soft_delete_days: Annotated[int | None, typer.Option(help="Days a deleted point is kept (14-180)")] = None,
    default_retention_days: Annotated[str | None, typer.Option(
        help="Days each new recovery point is kept before the service deletes it, or 'none' (kept)")] = None,
    immutability: Annotated[str | None, typer.Option(
        help="Azure's immutable vault: Disabled, Unlocked or Locked (irreversible: a compliance lock)")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Change public network access, cross-region restore, tags, soft delete, retention or immutability."""
    with handled(output):
        body: dict[str, object] = {}
        if public_network_access is not None:
            body["public_network_access"] = public_network_access
        if cross_region_restore is not None:
            body["cross_region_restore"] = cross_region_restore
        if tag is not None:
            body["tags"] = parse_tags(tag)
        if soft_delete is not None:
            body["soft_delete"] = soft_delete
        if soft_delete_days is not None:
            body["soft_delete_days"] = soft_delete_days
        if default_retention_days is not None:
            body["default_retention_days"] = days_or_none(default_retention_days, "default_retention_days")
        if immutability is not None:
            body["immutability"] = immutability
        emit(Client().patch(f"/vaults/{vault}", body), output)


@app.command("usage")
def usage(vault: str, output: OutputOpt = OutputFormat.table) -> None:
    """Bytes stored for live points, for soft-deleted points only, and reclaimable by prune."""
    with handled(output):
        emit(Client().get(f"/vaults/{vault}/usage"), output)


@app.command("prune")
def prune(vault: str, output: OutputOpt = OutputFormat.table) -> None:
    """Run the service's maintenance for the vault now: expire, purge, remove unreferenced packs."""
    with handled(output):
        emit(Client().post(f"/vaults/{vault}/prune"), output)


@app.command("delete")
def delete(vault: str, output: OutputOpt = OutputFormat.table) -> None:
    """Delete a vault; refused while it holds recovery points."""
    with handled(output):
        emit(Client().delete(f"/vaults/{vault}"), output)


policy_app = typer.Typer(help="The vault's access policy (an IAM resource policy).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(lock_app, name="lock")


@policy_app.command("set")
def policy_set(vault: str, file: str, output: OutputOpt = OutputFormat.table) -> None:
    """Set the vault's access policy from a JSON file (- for stdin)."""
    with handled(output):
        doc = read_json_file(file, "policy file")
        emit(Client().request("PUT", f"/vaults/{vault}/access-policy", json=doc), output)


@policy_app.command("show")
def policy_show(vault: str, output: OutputOpt = OutputFormat.json) -> None:
    """Show the vault's access policy."""
    with handled(output):
        emit(Client().get(f"/vaults/{vault}/access-policy"), output)


@policy_app.command("delete")
def policy_delete(vault: str, output: OutputOpt = OutputFormat.table) -> None:
    """Remove the vault's access policy."""
    with handled(output):
        emit(Client().delete(f"/vaults/{vault}/access-policy"), output)


@app.command("credentials")
def credentials(
    vault: str,
    out: Annotated[str, typer.Option("--out", "-o", help="Write the vault credentials file here (mode 0600).")],
    valid_hours: Annotated[float, typer.Option("--valid-hours", help="Hours until it expires.")] = 240.0,
    scope: Annotated[str, typer.Option(
        "--scope", help="What machines registered with it may do: backup-restore, backup (never read data "
        "back) or restore (never write).")] = "",
    secondary: Annotated[bool, typer.Option(
        "--secondary", help="For a machine in the vault's paired region: it registers and restores through the "
        "paired region's names from the replica (cross-region restore; restore-only).")] = False,
    output: Annotated[OutputFormat, typer.Option("--output", help="table or json")] = OutputFormat.table,
) -> None:
    """Download a vault credentials file for `vaultlink agent register` (it holds an expiring secret)."""
    import json
    import os

    with handled(output):
        doc = Client().post(f"/vaults/{vault}/credentials",
                            {"valid_hours": valid_hours, "scope": scope or None, "secondary": secondary})
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.chmod(out, 0o600)
        emit({k: doc[k] for k in ("vault_id", "vault_name", "backup_service", "api_port", "expires", "scope")}
             | {"file": out}, output)
