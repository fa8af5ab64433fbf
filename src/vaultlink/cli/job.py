"""``vaultlink job``: backup and restore jobs of a vault."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled

app = typer.Typer(help="Jobs: backups and restores the agents ran.", no_args_is_help=True)
COLUMNS = ("id", "type", "status", "hostname", "plan", "scheduled", "start", "end", "recovery_point_id")


@app.command("list")
def list_(
    vault: str,
    status: Annotated[str | None, typer.Option(
        "--status", help="Created (queued by a plan), InProgress, Completed, Failed or EXPIRED.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Backup, Restore or Copy.")] = None,
    newest: Annotated[int | None, typer.Option(
        "--newest", help="Only the N last started, newest first (a vault may have had 100,000 jobs).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a vault's jobs (oldest first; with --newest N, the N last started, newest first)."""
    with handled(output):
        client, path = Client(), f"/vaults/{vault}/jobs"
        jobs = client.get(path, status=status, type=type_, newest=newest) if newest is not None else \
            client.get_all(path, "created", status=status, type=type_)
        emit(jobs, output, COLUMNS)


@app.command("show")
def show(job: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show one job."""
    with handled(output):
        emit(Client().get(f"/jobs/{job}"), output)


@app.command("stop")
def stop(job: str, output: OutputOpt = OutputFormat.table) -> None:
    """Stop a backup or restore job: a queued one never starts; a running one stops on its machine at the agent's
    next report (within a few seconds), and nothing it did is committed. The job ends Aborted."""
    with handled(output):
        emit(Client().post(f"/jobs/{job}/stop"), output, COLUMNS)
