"""``vaultlink endpoint``: private endpoints, their policies, security groups and connections."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled, parse_tags, read_json_file

app = typer.Typer(
    help="Private endpoints: resource (a vault) and service (backup, backup-gateway).", no_args_is_help=True
)
policy_app = typer.Typer(help="The endpoint policy (default: full access).", no_args_is_help=True)
sg_app = typer.Typer(
    help="The endpoint's security group: inbound rules. A rule's source is a CIDR or VirtualNetwork (the "
    "endpoint's vnet and every vnet peered with it, as they are now); the default group is one rule, "
    "TCP 0-65535 from VirtualNetwork.",
    no_args_is_help=True,
)
conn_app = typer.Typer(help="A vault's private endpoint connections: approve, reject, remove.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(sg_app, name="sg")
app.add_typer(conn_app, name="connection")

COLUMNS = ("id", "name", "kind", "region", "group_id", "service", "vnet_id", "subnet", "ips", "status")
CONN_COLUMNS = ("id", "endpoint_name", "group_id", "region", "status", "description", "actions_required")
RULE_COLUMNS = ("id", "protocol", "from_port", "to_port", "source", "description")

RuleOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sg-rule",
        help="PROTO:PORTS:SOURCE, SOURCE a CIDR or VirtualNetwork (e.g. tcp:443:127.10.0.0/16, "
        "tcp:443:VirtualNetwork), repeatable; replaces the default group (TCP from VirtualNetwork: the "
        "vnet and its peers)",
    ),
]


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Endpoint name (basics).")],
    region: Annotated[str, typer.Option("--region", help="Basics: the endpoint's region.")],
    vnet: Annotated[str, typer.Option("--vnet", help="Virtual network (name or id).")],
    subnet: Annotated[str, typer.Option("--subnet", help="Subnet of the vnet.")],
    vault: Annotated[str | None, typer.Option("--vault", help="Resource: the vault (name or id).")] = None,
    group_id: Annotated[
        str | None, typer.Option("--group-id", help="Target sub-resource: AzureBackup or AzureBackup_secondary.")
    ] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Service endpoint instead: backup or backup-gateway.")
    ] = None,
    dns_integration: Annotated[
        bool, typer.Option("--dns-integration/--no-dns-integration", help="Integrate with private DNS zones.")
    ] = True,
    private_dns: Annotated[
        bool, typer.Option("--private-dns/--no-private-dns", help="Service endpoints: private DNS name.")
    ] = True,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE, repeatable")] = None,
    sg_rule: RuleOpt = None,
    policy: Annotated[str | None, typer.Option("--policy", help="Endpoint policy JSON file ('-': stdin).")] = None,
    request_message: Annotated[str | None, typer.Option("--request-message", help="For the approver.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Review + create: validate only, create nothing.")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a private endpoint (resource: --vault --group-id; service: --service)."""
    with handled(output):
        body: dict[str, object] = {
            "name": name,
            "region": region,
            "vnet": vnet,
            "subnet": subnet,
            "tags": parse_tags(tag),
            "dry_run": dry_run,
        }
        if service is not None:
            body.update(service=service, private_dns=private_dns)
        else:
            body.update(vault=vault, group_id=group_id, dns_integration=dns_integration)
        if sg_rule:
            body["rules"] = list(sg_rule)
        if policy:
            body["policy"] = read_json_file(policy, "policy")
        if request_message:
            body["request_message"] = request_message
        result = Client().post("/endpoints", body)
        if dry_run and output == OutputFormat.table:
            ep = result["endpoint"]
            result = {
                "validation": "passed: no problems; run again without --dry-run to create",
                "name": ep["name"],
                "kind": ep["kind"],
                "region": ep["region"],
                "target": ep.get("vault_name") or ep.get("service_name"),
                "group_id": ep.get("group_id"),
                "subnet": ep["subnet"],
                "names served": [c["fqdn"] for c in ep["ip_configs"]],
                "connection": ep["connection"]["status"],
                "dns_integration": ep["dns_integration"],
                "private_dns_enabled": ep["private_dns_enabled"],
                "tags": ep["tags"],
                "dns zones": [f"{z['resource_group']}:{z['zone']}" + (" (new)" if z["new_instance"] else "")
                              for z in result.get("dns_zones") or []],
                "warnings": result.get("warnings") or "none",
            }
        emit(result, output)


@app.command("list")
def list_(
    vnet: Annotated[str | None, typer.Option("--vnet")] = None,
    vault: Annotated[str | None, typer.Option("--vault")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List your endpoints."""
    with handled(output):
        emit(Client().get("/endpoints", vnet=vnet, vault=vault), output, COLUMNS)


@app.command("show")
def show(endpoint: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show an endpoint: IPs and names, connection, DNS, policy, security group."""
    with handled(output):
        emit(Client().get(f"/endpoints/{endpoint}"), output)


@app.command("delete")
def delete(endpoint: str, output: OutputOpt = OutputFormat.table) -> None:
    """Delete an endpoint: frees its IPs; containers registered through it must re-register."""
    with handled(output):
        emit(Client().delete(f"/endpoints/{endpoint}"), output)


@app.command("sync")
def sync(endpoint: str, output: OutputOpt = OutputFormat.table) -> None:
    """Give the endpoint a blob and a queue IP for each of its vault's storage accounts it lacks.

    Idempotent. When the subnet has no room it fails and changes nothing: free addresses first
    (delete unused endpoints in the subnet), then run it again.
    """
    with handled(output):
        emit(Client().post(f"/endpoints/{endpoint}/sync", {}), output)


@policy_app.command("set")
def policy_set(endpoint: str, file: str, output: OutputOpt = OutputFormat.table) -> None:
    """Set the endpoint policy from a JSON file ('-': stdin)."""
    with handled(output):
        doc = read_json_file(file, "policy")
        emit(Client().request("PUT", f"/endpoints/{endpoint}/policy", json=doc), output)


@policy_app.command("show")
def policy_show(endpoint: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show the endpoint policy."""
    with handled(output):
        emit(Client().get(f"/endpoints/{endpoint}/policy"), output)


@policy_app.command("reset")
def policy_reset(endpoint: str, output: OutputOpt = OutputFormat.table) -> None:
    """Reset to the default full-access policy."""
    with handled(output):
        emit(Client().delete(f"/endpoints/{endpoint}/policy"), output)


@sg_app.command("show")
def sg_show(endpoint: str, output: OutputOpt = OutputFormat.table) -> None:
    """List the security group's inbound rules (--output json adds what VirtualNetwork stands for now)."""
    with handled(output):
        data = Client().get(f"/endpoints/{endpoint}/security-group")
        emit(data if output == OutputFormat.json else data["rules"], output, RULE_COLUMNS)


@sg_app.command("add-rule")
def sg_add(
    endpoint: str,
    protocol: Annotated[str, typer.Option("--protocol", help="tcp, udp or all")] = "tcp",
    ports: Annotated[str, typer.Option("--ports", help="N or N-M")] = "1-65535",
    source: Annotated[
        str, typer.Option("--source", help="Source CIDR, or VirtualNetwork (the endpoint's vnet and its peers)")
    ] = "",
    description: Annotated[str, typer.Option("--description")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Add an inbound rule."""
    with handled(output):
        body = {"protocol": protocol, "ports": ports, "source": source, "description": description}
        data = Client().post(f"/endpoints/{endpoint}/security-group/rules", body)
        emit(data if output == OutputFormat.json else data["rules"], output, RULE_COLUMNS)


@sg_app.command("remove-rule")
def sg_remove(endpoint: str, rule_id: str, output: OutputOpt = OutputFormat.table) -> None:
    """Remove an inbound rule by id (`endpoint sg show` lists the ids)."""
    with handled(output):
        data = Client().delete(f"/endpoints/{endpoint}/security-group/rules/{rule_id}")
        emit(data if output == OutputFormat.json else data["rules"], output, RULE_COLUMNS)


@conn_app.command("list")
def conn_list(
    vault: Annotated[str, typer.Option("--vault", help="The vault (name or id).")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a vault's private endpoint connections: status, description, actions required."""
    with handled(output):
        emit(Client().get(f"/vaults/{vault}/connections"), output, CONN_COLUMNS)


def _act(action: str, connection: str, description: str, vault: str | None, output: OutputFormat) -> None:
    with handled(output):
        body = {"description": description, "vault": vault}
        emit(Client().post(f"/connections/{connection}/{action}", body), output)


DescOpt = Annotated[str, typer.Option("--description", help="Why (shown with the connection).")]
VaultOpt = Annotated[str | None, typer.Option("--vault", help="The vault (to find the connection by name).")]


@conn_app.command("approve")
def conn_approve(
    connection: str, description: DescOpt = "", vault: VaultOpt = None, output: OutputOpt = OutputFormat.table
) -> None:
    """Approve a Pending connection."""
    _act("approve", connection, description, vault, output)


@conn_app.command("reject")
def conn_reject(
    connection: str, description: DescOpt = "", vault: VaultOpt = None, output: OutputOpt = OutputFormat.table
) -> None:
    """Reject a Pending or Approved connection."""
    _act("reject", connection, description, vault, output)


@conn_app.command("remove")
def conn_remove(
    connection: str, description: DescOpt = "", vault: VaultOpt = None, output: OutputOpt = OutputFormat.table
) -> None:
    """Remove a connection: the endpoint becomes Disconnected and can only be deleted."""
    _act("remove", connection, description, vault, output)


from vaultlink.cli.dns import dns_config_command  # noqa: E402 - owned by the dns area

app.command("dns-config")(dns_config_command)
