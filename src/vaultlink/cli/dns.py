"""``vaultlink dns``: private DNS zones, record sets, vnet links; check and doctor.

Also ``dns_config_command``, registered as ``vaultlink endpoint dns-config``.

A custom DNS server (dnsmasq, BIND, unbound) in a vnet must forward the whole service domain to
the vaultlink responder (or both the public zones and the privatelink zones), querying from an
address inside the vnet; forwarding only the privatelink zones breaks the public names' CNAMEs.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled, parse_tags
from vaultlink.dns.config_text import hosts_text, zone_text
from vaultlink.errors import DnsProblemsFound

app = typer.Typer(
    help="Private DNS: zones, record sets, virtual-network links; `check` and `doctor` explain answers. "
    "A custom DNS server must forward the whole service domain (or both the public and the privatelink "
    "zones) to the responder from an address inside the vnet.",
    no_args_is_help=True,
)
zone_app = typer.Typer(help="Private DNS zones (SOA and NS are kept by the zone).", no_args_is_help=True)
record_app = typer.Typer(help="Record sets: A, AAAA, CNAME, TXT.", no_args_is_help=True)
link_app = typer.Typer(help="Virtual-network links: which vnets see a zone.", no_args_is_help=True)
app.add_typer(zone_app, name="zone")
app.add_typer(record_app, name="record")
app.add_typer(link_app, name="link")

ZONE_COLS = ("id", "name", "resource_group", "record_sets", "links", "auto_created", "serial")
RECORD_COLS = ("name", "type", "ttl", "values", "managed_by")
LINK_COLS = ("name", "vnet_name", "vnet_id", "fallback_to_public", "managed_by")


# --- zones ------------------------------------------------------------------------------------
@zone_app.command("create")
def zone_create(
    name: Annotated[str, typer.Argument(help="Zone name, e.g. privatelink.blob.vaultlink.internal")],
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE, repeatable")] = None,
    resource_group: Annotated[
        str | None,
        typer.Option("--resource-group", help="Another instance of the name, linked to its own vnets "
                     "(refer to it as GROUP:NAME)"),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a private DNS zone."""
    with handled(output):
        body = {"name": name, "tags": parse_tags(tag), "resource_group": resource_group}
        emit(Client().post("/dns/zones", body), output, ZONE_COLS)


@zone_app.command("list")
def zone_list(output: OutputOpt = OutputFormat.table) -> None:
    """List the account's private DNS zones."""
    with handled(output):
        emit(Client().get("/dns/zones"), output, ZONE_COLS)


@zone_app.command("show")
def zone_show(zone: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show a zone (by name or id) with its record sets and links."""
    with handled(output):
        z = Client().get(f"/dns/zones/{zone}")
        if output == OutputFormat.json:
            emit(z, output)
            return
        emit(z, output, (*ZONE_COLS, "created", "created_by"))
        emit(z["records"], output, RECORD_COLS, title="record sets")
        emit(z["vnet_links"], output, LINK_COLS, title="virtual network links")


@zone_app.command("delete")
def zone_delete(zone: str, output: OutputOpt = OutputFormat.table) -> None:
    """Delete a zone; refused while it has virtual network links."""
    with handled(output):
        emit(Client().delete(f"/dns/zones/{zone}"), output)


# --- record sets --------------------------------------------------------------------------------
@record_app.command("set")
def record_set(
    zone: str,
    name: Annotated[str, typer.Argument(help="Relative name ('@' for the apex) or absolute with a final dot")],
    rtype: Annotated[str, typer.Argument(metavar="TYPE", help="A, AAAA, CNAME or TXT")],
    values: Annotated[list[str], typer.Argument(help="One or more values")],
    ttl: Annotated[int, typer.Option("--ttl", help="Seconds")] = 10,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create or replace a record set."""
    with handled(output):
        body = {"name": name, "type": rtype, "values": values, "ttl": ttl}
        emit(Client().request("PUT", f"/dns/zones/{zone}/records", json=body), output, RECORD_COLS)


@record_app.command("list")
def record_list(zone: str, output: OutputOpt = OutputFormat.table) -> None:
    """List a zone's record sets (SOA and NS included)."""
    with handled(output):
        emit(Client().get(f"/dns/zones/{zone}/records"), output, RECORD_COLS)


@record_app.command("delete")
def record_delete(
    zone: str,
    name: str,
    rtype: Annotated[str, typer.Argument(metavar="TYPE")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Delete a record set."""
    with handled(output):
        emit(Client().delete(f"/dns/zones/{zone}/records/{name}/{rtype}"), output)


# --- links -----------------------------------------------------------------------------------------
@link_app.command("add")
def link_add(
    zone: str,
    vnet: Annotated[str, typer.Option("--vnet", help="The virtual network (name or id)")],
    name: Annotated[str | None, typer.Option("--name", help="Link name (default <vnet>-link)")] = None,
    fallback_to_public: Annotated[
        bool,
        typer.Option("--fallback-to-public", help="Names the zone lacks resolve publicly (NxDomainRedirect)."),
    ] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Link a zone to a virtual network: machines there see the zone."""
    with handled(output):
        body = {"vnet": vnet, "name": name, "fallback_to_public": fallback_to_public}
        emit(Client().post(f"/dns/zones/{zone}/links", body), output, LINK_COLS)


@link_app.command("list")
def link_list(zone: str, output: OutputOpt = OutputFormat.table) -> None:
    """List a zone's virtual network links."""
    with handled(output):
        emit(Client().get(f"/dns/zones/{zone}/links"), output, LINK_COLS)


@link_app.command("remove")
def link_remove(
    zone: str,
    link: Annotated[str, typer.Argument(help="Link name, or the vnet's name or id")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Remove a virtual network link."""
    with handled(output):
        emit(Client().delete(f"/dns/zones/{zone}/links/{link}"), output)


# --- check / doctor ----------------------------------------------------------------------------------
@app.command("check")
def check(
    name: str,
    source: Annotated[str, typer.Option("--from", help="The asking machine's IP address, e.g. 127.10.1.5")],
    rtype: Annotated[str, typer.Option("--type", help="A, AAAA, CNAME, TXT, SOA, NS, ANY")] = "A",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Resolve NAME as a machine at --from would, and explain: which zone, which link, or why public."""
    with handled(output):
        r = Client().get("/dns/check", source=source, name=name, type=rtype)
        if output == OutputFormat.json:
            emit(r, output)
            return
        out = [r["summary"]]
        out += [f"  answer: {a}" for a in r["answer"]] or ["  answer: (none)"]
        for i, s in enumerate(r["steps"], 1):
            out.append(f"  {i}. {s['name']}: {s['result']} from {s['answered_by'] or '-'} zone {s['zone'] or '-'}")
            out.append(f"     why: {s['why']}")
        sys.stdout.write("\n".join(out) + "\n")


@app.command("doctor")
def doctor(
    vault: Annotated[str, typer.Argument(help="The vault (name or id)")], output: OutputOpt = OutputFormat.table
) -> None:
    """List every missing zone, link or record for the vault's endpoints, with the command that fixes it."""
    with handled(output):
        r = Client().get(f"/dns/doctor/{vault}")
        if output == OutputFormat.json:
            emit(r, output)
        elif r["ok"]:
            sys.stdout.write(f"vault {r['vault']}: {r['endpoints']} endpoint(s), private DNS complete.\n")
        else:
            lines = [f"vault {r['vault']}: {len(r['problems'])} problem(s):"]
            for p in r["problems"]:
                lines += [f"  - [{p['endpoint']}] {p['message']}", f"    fix: {p['fix']}"]
            sys.stdout.write("\n".join(lines) + "\n")
        if output != OutputFormat.json:
            sys.stdout.write(f"note: {r['note']}\n")
        if not r["ok"]:  # scripts act on the exit code: 6 with the stable code on stderr
            err = DnsProblemsFound(f"{len(r['problems'])} problem(s) in the private DNS of vault {r['vault']}.")
            sys.stderr.write(f"error: {err.code}: {err.message}\n")
            raise typer.Exit(err.exit_code)


class ForwarderFormat(StrEnum):
    dnsmasq = "dnsmasq"
    bind = "bind"
    unbound = "unbound"
    windows = "windows"


@app.command("forwarders")
def forwarders(
    vault: Annotated[str, typer.Argument(help="The vault (name or id)")],
    fmt: Annotated[ForwarderFormat, typer.Option("--format", help="dnsmasq, bind, unbound or windows")] =
        ForwarderFormat.dnsmasq,
    target: Annotated[str, typer.Option(
        "--target", help="Where to forward, IP[:PORT] (default: this server's DNS responder; netns mode: the "
                         "vnet's DNS address)")] = "",
    source: Annotated[str, typer.Option(
        "--source", help="Your DNS server's own address in the vnet, to send the forwarded queries from")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Conditional forwarders for your own DNS servers (custom DNS, SQL availability groups): the vault's
    backup, blob and queue zones forwarded to the vaultlink responder."""
    with handled(output):
        client = Client()
        if not target:
            info = client.server_info
            target = f"{info.get('dns_address') or '127.0.0.1'}:{info.get('dns_port') or 53}"
        r = client.get(f"/dns/forwarders/{vault}", format=fmt.value, target=target, source=source)
        if output == OutputFormat.json:
            emit(r, output)
        else:
            sys.stdout.write(r["config"])


# --- vaultlink endpoint dns-config --------------------------------------------------------------------
class ConfigFormat(StrEnum):
    table = "table"
    hosts = "hosts"
    zone = "zone"
    json = "json"


def dns_config_command(
    endpoint: Annotated[str, typer.Argument(help="The endpoint (name or id)")],
    fmt: Annotated[
        ConfigFormat, typer.Option("--format", help="table, hosts (`<ip> <fqdn>` lines), zone (zone file), json")
    ] = ConfigFormat.table,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Every FQDN and IP the endpoint needs, for custom DNS servers and hosts files.

    A custom DNS server must forward the whole service domain (or both the public and the privatelink
    zones) to the vaultlink responder, from an address inside the vnet.
    """
    with handled(output):
        cfg = Client().get(f"/endpoints/{endpoint}/dns-config")
        if fmt == ConfigFormat.json or output == OutputFormat.json:
            emit(cfg, OutputFormat.json)
        elif fmt == ConfigFormat.hosts:
            sys.stdout.write(hosts_text(cfg))
        elif fmt == ConfigFormat.zone:
            sys.stdout.write(zone_text(cfg))
        else:
            emit(cfg["records"], output, ("fqdn", "ip", "zone", "public_name", "purpose"))
            Console(width=200).print(f"note: {cfg['note']}")
