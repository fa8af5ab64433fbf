"""The ``vaultlink`` program: one typer app, one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli import (
    account,
    agent,
    audit,
    dns,
    endpoint,
    job,
    key,
    policy,
    principal,
    recovery,
    region,
    role,
    vault,
    vnet,
)
from vaultlink.cli.client import set_globals
from vaultlink.cli.serve import serve

app = typer.Typer(
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
app.add_typer(account.app, name="account")
app.add_typer(principal.app, name="principal")
app.add_typer(key.app, name="key")
app.add_typer(role.app, name="role")
app.add_typer(region.app, name="region")
app.add_typer(vault.app, name="vault")
app.add_typer(audit.app, name="audit")
app.add_typer(policy.app, name="policy")
app.add_typer(vnet.app, name="vnet")
app.add_typer(endpoint.app, name="endpoint")
app.add_typer(dns.app, name="dns")
app.add_typer(agent.app, name="agent")
app.add_typer(recovery.app, name="recovery-point")
app.add_typer(job.app, name="job")


def main() -> None:
    app()
