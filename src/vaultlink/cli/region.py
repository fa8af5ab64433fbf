"""``vaultlink region``: the region catalog."""

from __future__ import annotations

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled

app = typer.Typer(help="The region catalog the server runs with.", no_args_is_help=True)


@app.command("list")
def list_(output: OutputOpt = OutputFormat.table) -> None:
    """List regions: geo code, partition, paired region, which endpoint services they offer."""
    with handled(output):
        rows = Client().get("/regions")
        if output == OutputFormat.table:
            rows = [dict(r, services=",".join(s for s, ok in r["services"].items() if ok)) for r in rows]
        emit(rows, output, ("name", "display_name", "geo", "partition", "paired_region", "services"))
