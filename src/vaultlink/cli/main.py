"""The ``vaultlink`` program: one typer app, one module per command group."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from vaultlink.cli.client import set_globals

app = typer.Typer(
    name="vaultlink",
    help="vaultlink: backups reached through private endpoints, private DNS and endpoint policies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# (module, group name); a module exports ``app`` (a group) or ``command`` (a single command).
GROUPS: tuple[tuple[str, str], ...] = (
    ("vaultlink.cli.account", "account"),
    ("vaultlink.cli.principal", "principal"),
    ("vaultlink.cli.key", "key"),
    ("vaultlink.cli.role", "role"),
    ("vaultlink.cli.region", "region"),
    ("vaultlink.cli.vault", "vault"),
    ("vaultlink.cli.audit", "audit"),
    ("vaultlink.cli.policy", "policy"),
    ("vaultlink.cli.vnet", "vnet"),
    ("vaultlink.cli.endpoint", "endpoint"),
    ("vaultlink.cli.dns", "dns"),
    ("vaultlink.cli.agent", "agent"),
    ("vaultlink.cli.recovery", "recovery-point"),
    ("vaultlink.cli.job", "job"),
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
) -> None:
    set_globals(url, api_key, data_dir, profile)


def _register() -> None:
    from vaultlink.cli.serve import serve

    app.command("serve")(serve)
    for module, name in GROUPS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        app.add_typer(mod.app, name=name)


_register()


def main() -> None:
    app()
