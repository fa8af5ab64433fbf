"""``vaultlink key``: API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled

app = typer.Typer(help="API keys: created, listed, revoked. Stored hashed; shown once.", no_args_is_help=True)
COLUMNS = ("id", "type", "principal", "status", "description")


@app.command("create")
def create(
    principal: Annotated[
        str | None, typer.Option("--principal", help="Name, id or ARN (default: you).")
    ] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    aws: Annotated[bool, typer.Option("--aws", help="An AWS access key id and secret access key, for boto3, "
                                      "the AWS CLI and Terraform (SigV4), instead of a vlk_ API key.")] = False,
    arm_token: Annotated[bool, typer.Option("--arm-token", help="A bearer token that expires, for the Azure SDKs "
                                            "(what a credential's get_token returns).")] = False,
    seconds: Annotated[int, typer.Option("--seconds", help="With --arm-token: how long it lives.")] = 3600,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create an API key (or with --aws an AWS access key, with --arm-token a bearer token); printed once."""
    with handled(output):
        body: dict[str, object] = {"principal": principal, "description": description}
        if aws:
            body["aws"] = True
        if arm_token:
            body["token_seconds"] = seconds
        emit(Client().post("/keys", body), output)


@app.command("list")
def list_(
    principal: Annotated[str | None, typer.Option("--principal")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List API keys (never their secrets)."""
    with handled(output):
        emit(Client().get("/keys", principal=principal), output, COLUMNS)


@app.command("revoke")
def revoke(key_id: str, output: OutputOpt = OutputFormat.table) -> None:
    """Revoke an API key at once."""
    with handled(output):
        emit(Client().post(f"/keys/{key_id}/revoke"), output)
