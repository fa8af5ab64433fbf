"""``vaultlink vnet``: virtual networks, subnets and peerings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vaultlink.cli.client import _GLOBAL, Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled, parse_tags
from vaultlink.config import client_settings
from vaultlink.errors import InvalidInput
from vaultlink.fabric import nsutil

app = typer.Typer(help="Virtual networks: address spaces, subnets, peerings.", no_args_is_help=True)
subnet_app = typer.Typer(help="Subnets of a virtual network.", no_args_is_help=True)
app.add_typer(subnet_app, name="subnet")

COLUMNS = ("id", "name", "region", "address_spaces", "endpoints")
SUBNET_COLUMNS = ("name", "cidr", "capacity", "allocated", "free")


def _subnet_spec(spec: str) -> dict[str, str]:
    name, sep, cidr = spec.partition("=")
    if not sep:
        raise InvalidInput(f"--subnet {spec!r} is not NAME=CIDR (e.g. default=127.10.1.0/24).", field="subnet")
    return {"name": name, "cidr": cidr}


@app.command("create")
def create(
    name: str,
    region: Annotated[str, typer.Option("--region", help="A region from `vaultlink region list`.")],
    address_space: Annotated[
        list[str],
        typer.Option("--address-space", help="CIDR, repeatable (loopback mode: inside 127.0.0.0/8, not 127.0.0.0/16)"),
    ],
    subnet: Annotated[list[str] | None, typer.Option("--subnet", help="NAME=CIDR, repeatable")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE, repeatable")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a virtual network."""
    with handled(output):
        body = {
            "name": name,
            "region": region,
            "address_spaces": list(address_space),
            "subnets": [_subnet_spec(s) for s in subnet or []],
            "tags": parse_tags(tag),
        }
        emit(Client().post("/vnets", body), output)


@app.command("list")
def list_(output: OutputOpt = OutputFormat.table) -> None:
    """List virtual networks."""
    with handled(output):
        emit(Client().get("/vnets"), output, COLUMNS)


@app.command("show")
def show(vnet: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show a virtual network (by name or id), its subnets and address use."""
    with handled(output):
        emit(Client().get(f"/vnets/{vnet}"), output)


@app.command("update")
def update(
    vnet: str,
    add_address_space: Annotated[
        list[str],
        typer.Option(
            "--add-address-space",
            help="CIDR to add, inside 127.0.0.0/8, outside 127.0.0.0/16, overlapping no vnet; repeatable",
        ),
    ],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Add address spaces to a virtual network (peers and VirtualNetwork rules follow at once)."""
    with handled(output):
        emit(Client().patch(f"/vnets/{vnet}", {"add_address_spaces": list(add_address_space)}), output)


@app.command("delete")
def delete(vnet: str, output: OutputOpt = OutputFormat.table) -> None:
    """Delete a virtual network; refused while it holds endpoints."""
    with handled(output):
        emit(Client().delete(f"/vnets/{vnet}"), output)


@app.command("peer")
def peer(vnet: str, other: str, output: OutputOpt = OutputFormat.table) -> None:
    """Peer two virtual networks (both directions)."""
    with handled(output):
        emit(Client().post(f"/vnets/{vnet}/peerings", {"peer": other}), output)


@app.command("unpeer")
def unpeer(vnet: str, other: str, output: OutputOpt = OutputFormat.table) -> None:
    """Remove the peering between two virtual networks (both directions)."""
    with handled(output):
        emit(Client().delete(f"/vnets/{vnet}/peerings/{other}"), output)


@subnet_app.command("add")
def subnet_add(
    vnet: str,
    name: str,
    cidr: Annotated[str, typer.Option("--cidr", help="Inside one of the vnet's address spaces; /29 or larger.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Add a subnet (its first four and its last address are reserved)."""
    with handled(output):
        emit(Client().post(f"/vnets/{vnet}/subnets", {"name": name, "cidr": cidr}), output)


@subnet_app.command("list")
def subnet_list(vnet: str, output: OutputOpt = OutputFormat.table) -> None:
    """List a vnet's subnets with their free addresses."""
    with handled(output):
        emit(Client().get(f"/vnets/{vnet}/subnets"), output, SUBNET_COLUMNS)


@subnet_app.command("delete")
def subnet_delete(vnet: str, name: str, output: OutputOpt = OutputFormat.table) -> None:
    """Delete a subnet; refused while it holds endpoint addresses."""
    with handled(output):
        emit(Client().delete(f"/vnets/{vnet}/subnets/{name}"), output)


@app.command("exec", context_settings={"allow_interspersed_args": False})
def exec_(
    args: Annotated[list[str], typer.Argument(help="VNET -- COMMAND [ARG...] (with --internet: COMMAND [ARG...])")],
    internet: Annotated[bool, typer.Option("--internet", help="Run in the internet namespace instead.")] = False,
) -> None:
    """Run a command as a VM inside a vnet (netns mode): in the vnet's network namespace, resolving names
    through the vnet's own DNS address (like `ip netns exec`). Needs root on the server's machine."""
    with handled(OutputFormat.table):
        if not internet and len(args) > 1 and args[1] == "--":
            args = [args[0], *args[2:]]
        elif args and args[0] == "--":
            args = args[1:]
        if not internet and len(args) < 2:
            raise InvalidInput("give a vnet and a command: vaultlink vnet exec VNET -- COMMAND [ARG...]", field="args")
        if internet and not args:
            raise InvalidInput("give a command: vaultlink vnet exec --internet -- COMMAND [ARG...]", field="args")
        info = client_settings(_GLOBAL["url"], _GLOBAL["api_key"], _GLOBAL["data_dir"], _GLOBAL["profile"]).server_info
        fab = info.get("fabric") if isinstance(info.get("fabric"), dict) else None
        if not fab:
            raise InvalidInput(
                "vnet exec runs on the server's machine: no running server found in the data dir (set --data-dir "
                "or VAULTLINK_DATA_DIR to the server's).", field="data_dir")
        if fab.get("mode") != "netns":
            raise InvalidInput(
                f"vnet exec needs a server with fabric = \"netns\"; this one runs {fab.get('mode')} mode, where a VM "
                "is any program that binds an address of the vnet (the agent's --source-ip, `dig -b`, "
                "`curl --interface`).", field="fabric")
        ns_dir, etc_dir = Path(fab["netns_dir"]), Path(fab["netns_etc_dir"])
        if internet:
            name, command = str(fab["internet_namespace"]), list(args)
        else:
            vid = Client().get(f"/vnets/{args[0]}")["id"]  # by name or id, checked by the server (network.read)
            name, command = f"{fab['netns_prefix']}{vid}", list(args[1:])
        path = ns_dir / name
        if not nsutil.is_namespace(path):
            raise InvalidInput(f"namespace {path} does not exist: is the server running?", field="vnet")
        resolv = etc_dir / name / "resolv.conf"
        try:
            nsutil.exec_in(path, command, resolv if resolv.exists() else None)
        except FileNotFoundError:
            raise InvalidInput(f"command not found: {command[0]}", field="command") from None
        except PermissionError:
            raise InvalidInput("entering a network namespace needs root (CAP_SYS_ADMIN); run with sudo.",
                               field="vnet") from None
