"""``vaultlink serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import _GLOBAL
from vaultlink.cli.common import OutputFormat, handled
from vaultlink.config import load_config


def serve(
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="Where metadata, blobs and keys live.")
    ] = None,
    config: Annotated[str | None, typer.Option("--config", help="A TOML config file.")] = None,
    api_port: Annotated[
        int | None, typer.Option("--api-port", help="Port of the API and data plane (0: any).")
    ] = None,
    dns_port: Annotated[
        int | None, typer.Option("--dns-port", help="Port of the DNS responder (0: any).")
    ] = None,
    regions: Annotated[
        str | None, typer.Option("--regions", help="Region catalog: default, aws, azure or a file.")
    ] = None,
    fabric: Annotated[
        str | None, typer.Option("--fabric", help="How vnets exist: loopback (default), host or netns.")
    ] = None,
) -> None:
    """Run the service: management API, data plane and DNS responder, in one process."""
    # lazy: only `vaultlink serve` loads the server (FastAPI, SQLAlchemy); the agent and client commands never do
    from vaultlink.bootstrap import serve as run

    with handled(OutputFormat.table):
        data_dir = data_dir or _GLOBAL["data_dir"]
        cfg = load_config(config, data_dir=data_dir, api_port=api_port, dns_port=dns_port, regions=regions,
                          fabric=fabric)
        run(cfg)
