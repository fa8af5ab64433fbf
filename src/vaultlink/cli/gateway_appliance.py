"""``vaultlink gateway activate | run | status | images | backup | restore``: the appliance's own commands
(``agent/gateway.py``), run on the on-premises machine. Its state lives in the agent's state directory
(``gateway.json``); backups need the appliance registered with the vault (``vaultlink agent register
--kind gateway``) in the same state directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vaultlink.agent import gateway as G
from vaultlink.agent import vm_image
from vaultlink.agent.session import Agent
from vaultlink.agent.state import load_state
from vaultlink.cli.agent_common import PassFile, StateDir, _passphrase, _state_dir
from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled
from vaultlink.errors import InvalidInput, ServiceUnavailable

Vm = Annotated[str, typer.Argument(help="The image: IMAGE or HYPERVISOR/IMAGE (as `vaultlink gateway images` "
                                        "lists them).")]


def _defaults() -> dict[str, Any]:
    """Port, domain and CA of a local vaultlink deployment, when this machine can see one (tests, demos)."""
    try:
        c = Client()
    except ServiceUnavailable:
        return {}
    info = c.server_info
    ca = Path(c.ca_file).read_text(encoding="utf-8") if c.ca_file and c.url.startswith("https") else ""
    return {"port": info.get("api_port"), "domain": info.get("domain"), "ca_pem": ca}


def activate(
    region: Annotated[str, typer.Option("--region", help="The region of the backup-gateway endpoint.")],
    source_ip: Annotated[str, typer.Option("--from", help="This appliance's address (in the endpoint's vnet, "
                                                          "or a peered network).")] = "",
    dns: Annotated[str, typer.Option("--dns", help="HOST:PORT of the DNS server that resolves the endpoint's "
                                                   "name (backup-gateway.REGION.DOMAIN).")] = "",
    endpoint_ip: Annotated[str, typer.Option("--endpoint-ip", help="The endpoint's address, instead of DNS.")] = "",
    port: Annotated[int, typer.Option("--port", help="The endpoint's HTTPS port (default: the local "
                                                     "deployment's, else 443).")] = 0,
    domain: Annotated[str, typer.Option("--domain", help="The service's DNS domain.")] = "",
    ca_file: Annotated[str, typer.Option("--ca", help="The deployment's CA certificate (ca.pem).")] = "",
    proxy: Annotated[str, typer.Option("--proxy", help="http://[user:pass@]host:port (else HTTPS_PROXY).")] = "",
    state_dir: StateDir = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Ask the backup-gateway endpoint for an activation key; give it to CreateGateway, then `gateway run`."""
    with handled(output):
        if not dns and not endpoint_ip:
            raise InvalidInput("give --dns HOST:PORT (the resolver that answers the endpoint's name) or "
                               "--endpoint-ip.", field="dns")
        d = _defaults()
        ca = Path(ca_file).read_text(encoding="utf-8") if ca_file else d.get("ca_pem", "")
        st = G.GatewayState(region=region, domain=domain or d.get("domain") or "vaultlink.internal",
                            port=port or int(d.get("port") or 443), source_ip=source_ip, dns=dns,
                            endpoint_ip=endpoint_ip, ca_pem=ca, proxy=proxy)
        app = G.Appliance(st, _state_dir(state_dir))
        try:
            emit(app.activate(), output)
        finally:
            app.close()


def _appliance(state_dir: Path | None) -> G.Appliance:
    sd = _state_dir(state_dir)
    return G.Appliance(G.load(sd), sd)


def run(
    beats: Annotated[int, typer.Option("--beats", help="Heartbeats to send before exiting.")] = G.MAX_BEATS_PER_RUN,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between heartbeats.")] = 60.0,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the gateway to be created.")] = 0.0,
    state_dir: StateDir = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Claim the gateway (once it is created) and keep its heartbeat, with the images of its hypervisors."""
    with handled(output):
        if beats < 1 or interval < 0.05 or not 0 <= wait <= 3600:
            raise InvalidInput("--beats is at least 1, --interval at least 0.05 s, --wait 0-3600 s.", field="beats")
        app = _appliance(state_dir)
        try:
            emit(app.run(beats, interval, wait), output)
        finally:
            app.close()


def status(state_dir: StateDir = None, output: OutputOpt = OutputFormat.table) -> None:
    """This appliance's activation, gateway, hypervisors and last heartbeat."""
    with handled(output):
        emit(G.load(_state_dir(state_dir)).public(), output)


def images(state_dir: StateDir = None, output: OutputOpt = OutputFormat.table) -> None:
    """The images of this gateway's hypervisors (as the last heartbeat reported them)."""
    with handled(output):
        st = G.load(_state_dir(state_dir))
        rows = [{"vm": f"{h['name']}/{img['name']}", "format": img["format"], "size": img["size"],
                 "last_backup": st.vms.get(f"{h['name']}/{img['name']}", {}).get("last_backup")}
                for h in st.hypervisors for img in vm_image.scan(h["host"])]
        emit(rows, output, ("vm", "format", "size", "last_backup"))


def _both(state_dir: Path | None) -> tuple[G.Appliance, Agent]:
    sd = _state_dir(state_dir)
    app = G.Appliance(G.load(sd), sd)
    return app, Agent(load_state(sd))


def backup(vm: Vm, state_dir: StateDir = None, passphrase_file: PassFile = None,
           output: OutputOpt = OutputFormat.table) -> None:
    """Back up one image into the vault: its changed blocks only, when change tracking follows the last point."""
    with handled(output):
        app, agent = _both(state_dir)
        try:
            out = G.backup_vm(app, agent, vm, _passphrase(passphrase_file))
        finally:
            agent.close()
            app.close()
        emit(out if output == OutputFormat.json else {k: out[k] for k in (
            "vm", "recovery_point", "size", "bytes_read", "blocks", "blocks_read", "incremental")}, output)


def restore(
    vm: Vm,
    target: Annotated[str, typer.Option("--to", help="A new file for the image.")],
    point: Annotated[str | None, typer.Option("--point", help="The recovery point (default: the latest).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="raw (sparse) or qcow2.")] = "raw",
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Restore an image's recovery point to a new file."""
    with handled(output):
        app, agent = _both(state_dir)
        try:
            emit(G.restore_vm(app, agent, vm, target, _passphrase(passphrase_file), point, fmt), output)
        finally:
            agent.close()
            app.close()


def register(app: typer.Typer) -> None:
    for name, fn in (("activate", activate), ("run", run), ("status", status), ("images", images),
                     ("backup", backup), ("restore", restore)):
        app.command(name)(fn)
