"""The ``vaultlink`` program: one typer app, one module per command group."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer
from typer import _click as click  # typer's own click (vendored since 0.26); pinned in pyproject.toml
from typer.core import TyperGroup

from vaultlink.cli.client import set_globals
from vaultlink.cli.serve import serve


class _Groups(TyperGroup):
    """The root group: a command group's module is imported and its click command built only when it is
    called (or listed by ``--help``), not all 17 groups' modules and 80 commands at every start (typer
    introspects each function; the policy group alone loads the IAM evaluator)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *GROUPS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = GROUPS.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = where.partition(":")
        sub: typer.Typer = getattr(importlib.import_module(f"vaultlink.cli.{module}"), attr)
        group = typer.main.get_group(sub)
        group.name = cmd_name
        return group


app = typer.Typer(
    cls=_Groups,
    name="vaultlink",
    help="vaultlink: backups reached through private endpoints, private DNS and endpoint policies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

@app.callback()
def _globals(
    url: Annotated[str | None, typer.Option("--url", envvar="VAULTLINK_URL", help="Server URL.")] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="VAULTLINK_API_KEY", help="API key.")
    ] = None,
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", envvar="VAULTLINK_DATA_DIR", help="Local server's data dir.")
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", envvar="VAULTLINK_PROFILE", help="Config profile.")
    ] = None,
    source_ip: Annotated[
        str | None,
        typer.Option("--source-ip", envvar="VAULTLINK_SOURCE_IP",
                     help="Call from this address (a machine inside a vnet), as the agent does."),
    ] = None,
    dns: Annotated[
        str | None,
        typer.Option("--dns", envvar="VAULTLINK_DNS",
                     help="HOST:PORT of a DNS server: resolve the regional service name (backup.REGION.DOMAIN) "
                     "through it and call the address it gives (a service endpoint's, from inside its vnet)."),
    ] = None,
    service_region: Annotated[
        str | None,
        typer.Option("--service-region", envvar="VAULTLINK_SERVICE_REGION",
                     help="With --dns: the region whose backup service to call (default: the server's first)."),
    ] = None,
) -> None:
    set_globals(url, api_key, data_dir, profile, source_ip=source_ip, dns=dns, service_region=service_region)


app.command("serve")(serve)
# command group → "module:attribute" under vaultlink.cli (imported when the group runs)
GROUPS: dict[str, str] = {
    "account": "account:app",
    "principal": "principal:app",
    "key": "key:app",
    "role": "role:app",
    "region": "region:app",
    "vault": "vault:app",
    "audit": "audit:app",
    "policy": "policy:app",
    "vnet": "vnet:app",
    "endpoint": "endpoint:app",
    "dns": "dns:app",
    "gateway": "gateway:app",
    "agent": "agent:app",
    "recovery-point": "recovery:app",
    "job": "job:app",
    "plan": "plan:app",
    "item": "item:app",
    "container": "item:containers",
}


def main() -> None:
    app()
