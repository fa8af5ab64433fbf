"""``vaultlink gateway``: the backup gateway (issue #19).

The operator's commands (``create``, ``list``, ``show``, ``delete``, ``associate``, ``disassociate``,
``maintenance``, ``hypervisor-import``, ``hypervisors``, ``vms``) call the management API; the appliance's
(``activate``, ``run``, ``status``, ``images``, ``backup``, ``restore``) are in ``gateway_appliance.py``.

``health`` is what an appliance checks before it activates: from its own address, every port the
endpoint's security group must allow (TCP 443, 1026-1028, 1031, 2222; in loopback mode the ports other
than 443 listen at an offset, ``gateway_port_offset``, and ``server.json`` maps them). A port the security
group does not open to the appliance answers ``SecurityGroupDenied`` (the pipeline's step 3, before any
credential), and the report names it.
"""

from __future__ import annotations

import socket
import ssl
import sys
from typing import Annotated, Any

import typer

from vaultlink.cli import gateway_appliance
from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled
from vaultlink.domain.security_groups import GATEWAY_PORTS
from vaultlink.errors import GatewayPortsBlocked, InvalidInput

app = typer.Typer(help="The backup gateway: gateways, hypervisors and their VMs; the appliance's activation, "
                  "heartbeat, image backups and restores; its endpoint's ports.", no_args_is_help=True)
gateway_appliance.register(app)
GATEWAY_COLUMNS = ("id", "name", "state", "region", "hypervisor_id", "last_seen")
Gw = Annotated[str, typer.Argument(help="The gateway (id or ARN).")]


def _id(ref: str) -> str:
    """The id in an ARN (``…:gateway/bgw-…``): the path segment the API takes."""
    return ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref
MAX_HEAD = 16 * 1024


def probe(ip: str, port: int, name: str, source: str | None, ctx: ssl.SSLContext | None,
          timeout: float = 3.0) -> tuple[str, str]:
    """(state, detail): ``open`` (the endpoint answered past its security group), ``blocked`` (its security
    group refused this port to this address) or ``unreachable``."""
    try:
        sock = socket.create_connection((ip, port), timeout, (source, 0) if source else None)
    except OSError as exc:
        return "unreachable", f"{exc.strerror or exc}"
    try:
        conn: socket.socket = ctx.wrap_socket(sock, server_hostname=name) if ctx is not None else sock
        conn.sendall(f"GET /gateway/health HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
            got = conn.recv(4096)
            if not got:
                break
            head += got
        conn.close()
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        return "unreachable", f"{exc}"
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    code = next((v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
                 if k.strip().lower() == "x-error-code"), "")
    if code == "SecurityGroupDenied":
        return "blocked", "the endpoint's security group does not allow it from this address (SecurityGroupDenied)"
    return ("open", lines[0][:60]) if lines and lines[0].startswith("HTTP/") else ("unreachable", "no HTTP answer")


@app.command("health")
def health(
    endpoint: Annotated[str | None, typer.Argument(help="The backup-gateway endpoint (name or id).")] = None,
    source_ip: Annotated[str, typer.Option("--from", help="The appliance's address (in the endpoint's vnet).")] = "",
    ip: Annotated[str, typer.Option("--ip", help="The endpoint's address, for an appliance that cannot call the "
                                                 "management API (give --region too).")] = "",
    region: Annotated[str, typer.Option("--region", help="With --ip: the endpoint's region.")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Probe every port the gateway needs, from the appliance's address; exit 6 naming any that is blocked."""
    with handled(output):
        client = Client()
        if ip:
            if not region or endpoint:
                raise InvalidInput("give either the endpoint, or --ip with --region.", field="ip")
            ep: dict[str, Any] = {"id": ip, "region": region}
        else:
            if not endpoint:
                raise InvalidInput("give the endpoint (name or id), or --ip with --region.", field="endpoint")
            ep = client.get(f"/endpoints/{endpoint}")
            if ep.get("service") != "backup-gateway":
                raise InvalidInput(f"endpoint {endpoint} is not a backup-gateway service endpoint.", field="endpoint")
            ip = ep["ips"][0] if ep.get("ips") else ep["ip_configs"][0]["ip"]
        ports = client.server_info.get("gateway_ports") or {str(p): p for p in GATEWAY_PORTS}
        name = f"backup-gateway.{ep['region']}.{client.server_info.get('domain') or 'vaultlink.internal'}"
        ctx = ssl.create_default_context(cafile=client.ca_file) if client.url.startswith("https") else None
        rows = []
        for port in GATEWAY_PORTS:
            at = int(ports.get(str(port), port))
            state, detail = probe(ip, at, name, source_ip or None, ctx)
            rows.append({"port": port, "listens_on": f"{ip}:{at}", "state": state, "detail": detail})
        blocked = [r["port"] for r in rows if r["state"] != "open"]
        out = {"endpoint": ep["id"], "from": source_ip or None, "ok": not blocked, "blocked": blocked, "ports": rows}
        if output == OutputFormat.json:
            emit(out, output)
        else:
            emit(rows, output, ("port", "listens_on", "state", "detail"))
        if blocked:
            err = GatewayPortsBlocked(f"the gateway cannot reach TCP {', '.join(map(str, blocked))} of endpoint "
                                      f"{ep['id']}: allow it in the endpoint's security group (`vaultlink endpoint sg "
                                      f"add-rule {ep['id']} --protocol tcp --ports PORT --source ADDRESS/32`).")
            sys.stderr.write(f"error: {err.code}: {err.message}\n")
            raise typer.Exit(err.exit_code)


# --- the operator -------------------------------------------------------------------------------------------
@app.command("create")
def create(
    activation_key: Annotated[str, typer.Option("--activation-key", help="What `gateway activate` printed.")],
    name: Annotated[str, typer.Option("--name", help="The gateway's display name.")],
    region: Annotated[str | None, typer.Option("--region", help="Default: the key's region.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a gateway from an appliance's activation key (AWS CreateGateway)."""
    with handled(output):
        emit(Client().post("/gateways", {"activation_key": activation_key, "name": name, "region": region}),
             output)


@app.command("list")
def list_gateways(output: OutputOpt = OutputFormat.table) -> None:
    """The account's gateways, with their state (ONLINE while heartbeats arrive)."""
    with handled(output):
        emit(Client().get("/gateways"), output, GATEWAY_COLUMNS)


@app.command("show")
def show(gateway: Gw, output: OutputOpt = OutputFormat.table) -> None:
    with handled(output):
        emit(Client().get(f"/gateways/{_id(gateway)}"), output)


@app.command("delete")
def delete(gateway: Gw, output: OutputOpt = OutputFormat.table) -> None:
    """Delete a gateway: its appliance's credential stops working at once."""
    with handled(output):
        emit(Client().delete(f"/gateways/{_id(gateway)}"), output)


@app.command("associate")
def associate(gateway: Gw, hypervisor: Annotated[str, typer.Option("--hypervisor", help="Id or ARN.")],
              output: OutputOpt = OutputFormat.table) -> None:
    """Let the gateway back up a hypervisor's VMs (AWS AssociateGatewayToServer)."""
    with handled(output):
        emit(Client().post(f"/gateways/{_id(gateway)}/associate", {"hypervisor": _id(hypervisor)}), output)


@app.command("disassociate")
def disassociate(gateway: Gw, output: OutputOpt = OutputFormat.table) -> None:
    with handled(output):
        emit(Client().post(f"/gateways/{_id(gateway)}/disassociate"), output)


@app.command("maintenance")
def maintenance(
    gateway: Gw,
    hour: Annotated[int, typer.Option("--hour", help="0-23")],
    minute: Annotated[int, typer.Option("--minute", help="0-59")] = 0,
    day_of_week: Annotated[int | None, typer.Option("--day-of-week", help="0-6, Sunday 0 (weekly).")] = None,
    day_of_month: Annotated[int | None, typer.Option("--day-of-month", help="1-31 (monthly).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Set the gateway's maintenance start time (AWS PutMaintenanceStartTime)."""
    with handled(output):
        window = {"HourOfDay": hour, "MinuteOfHour": minute, "DayOfWeek": day_of_week, "DayOfMonth": day_of_month}
        emit(Client().patch(f"/gateways/{_id(gateway)}", {"maintenance": window}), output)


@app.command("hypervisor-import")
def hypervisor_import(
    name: Annotated[str, typer.Argument(help="The hypervisor's name.")],
    host: Annotated[str, typer.Option("--host", help="The appliance's directory of raw/qcow2 images.")],
    region: Annotated[str, typer.Option("--region")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Import a hypervisor (AWS ImportHypervisorConfiguration): a directory of VM images on the appliance."""
    with handled(output):
        emit(Client().post("/hypervisors", {"name": name, "host": host, "region": region}), output)


@app.command("hypervisors")
def hypervisors(output: OutputOpt = OutputFormat.table) -> None:
    with handled(output):
        emit(Client().get("/hypervisors"), output, ("id", "name", "host", "region", "state", "gateway_id"))


@app.command("vms")
def vms(hypervisor: Annotated[str | None, typer.Option("--hypervisor")] = None,
        output: OutputOpt = OutputFormat.table) -> None:
    """The virtual machines the appliances report (AWS ListVirtualMachines)."""
    with handled(output):
        client = Client()
        rows = client.get("/virtual-machines", **({"hypervisor": _id(hypervisor)} if hypervisor else {}))
        emit(rows, output, ("id", "name", "format", "size", "path", "last_backup"))
