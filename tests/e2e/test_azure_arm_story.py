"""The Azure seed's story with the unmodified SDKs (issue #20): a new vault, public network access Disabled,
a virtual network and subnet, a private endpoint integrated with private DNS zones (a long-running
operation seen InProgress, then Succeeded), a second principal's manual connection approved through
``private_endpoint_connection.begin_put``, the private IP answered inside the vnet, an agent registering and
backing up through the endpoint, and the endpoint deleted with ``begin_delete``: the agent's next call asks
for re-registration. The vaultlink CLI only issues tokens and the vault credentials file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as N
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.privatedns import models as P
from azure.mgmt.recoveryservices import RecoveryServicesClient
from azure.mgmt.recoveryservices import models as M
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.recoveryservicesbackup import models as B
from azure.mgmt.resource.resources import ResourceManagementClient
from tests.conftest import Server
from tests.e2e.test_azure_arm import Token, azure
from tests.e2e.test_private_backup import Vm, dig, make_data

__all__ = ["azure"]
VM = "127.83.1.10"
RG = "backup-rg"


def sdk(s: Server, token: dict[str, Any], cls: Any, sub: str) -> Any:
    return cls(credential=Token(token), subscription_id=sub, base_url=s.url,
               connection_verify=str(s.data_dir / "ca.pem"))


def resolve(s: Server, name: str, source: str) -> list[str]:
    """The addresses ``dig -b SOURCE`` gets for ``name`` from the responder (a VM of the vnet asking)."""
    return [a for a in dig(s, name, source) if a[0].isdigit()]


def test_the_azure_seed_story_with_the_unmodified_sdks(azure: Server, tmp_path: Path) -> None:
    s = azure
    owner = s.ok("key", "create", "--arm-token")
    sub = owner["account_id"]
    rm = sdk(s, owner, ResourceManagementClient, sub)
    rs = sdk(s, owner, RecoveryServicesClient, sub)
    net = sdk(s, owner, NetworkManagementClient, sub)
    bk = sdk(s, owner, RecoveryServicesBackupClient, sub)
    rm.resource_groups.create_or_update(RG, {"location": "eastus"})

    vault = rs.vaults.begin_create_or_update(RG, "prod", M.Vault(
        location="eastus", sku=M.Sku(name="Standard"), identity=M.IdentityData(type="SystemAssigned"),
        properties=M.VaultProperties(public_network_access="Enabled"))).result()
    rs.vaults.begin_update(RG, "prod", M.PatchVault(properties=M.VaultProperties(
        public_network_access="Disabled"))).result()
    links = {r.name: r for r in rs.private_link_resources.list(RG, "prod")}
    assert set(links) == {"AzureBackup", "AzureBackup_secondary"}
    zones = links["AzureBackup"].properties.required_zone_names
    assert zones[0] == "privatelink.eus.backup.vaultlink.internal" and len(zones) == 3
    backup_link = rs.private_link_resources.get(RG, "prod", "AzureBackup")
    assert backup_link.properties.group_id == "AzureBackup"
    # the names an endpoint of the group will serve (vaultlink's requiredFqdns beside Azure's members)
    assert backup_link.properties["requiredFqdns"] == [f"{s.ok('vault', 'show', 'prod')['id']}.eus.backup."
                                                       "vaultlink.internal"]

    vnet = net.virtual_networks.begin_create_or_update(RG, "vm-net", N.VirtualNetwork(
        location="eastus", address_space=N.AddressSpace(address_prefixes=["127.83.0.0/16"]),
        subnets=[N.Subnet(name="default", address_prefix="127.83.1.0/24")])).result()
    assert [x.name for x in vnet.subnets] == ["default"]
    subnet = net.subnets.begin_create_or_update(RG, "vm-net", "backup",
                                                N.Subnet(address_prefix="127.83.2.0/24")).result()
    assert {x.name for x in net.subnets.list(RG, "vm-net")} == {"default", "backup"}
    assert s.ok("vnet", "show", "vm-net")["address_spaces"] == ["127.83.0.0/16"], "the same object as the CLI's"
    # the private DNS zones the vault's names need, linked to the vnet
    pdns = sdk(s, owner, PrivateDnsManagementClient, sub)
    for z in zones:
        pdns.private_zones.begin_create_or_update(RG, z, P.PrivateZone(location="global")).result()
        pdns.virtual_network_links.begin_create_or_update(RG, z, "vm-net-link", P.VirtualNetworkLink(
            location="global", virtual_network=P.SubResource(id=vnet.id), registration_enabled=False,
            resolution_policy="NxDomainRedirect")).result()  # a name the zone lacks resolves publicly
    assert {z.name for z in pdns.private_zones.list_by_resource_group(RG)} == set(zones)
    link = pdns.virtual_network_links.get(RG, zones[0], "vm-net-link")
    assert link.virtual_network.id == vnet.id and link.resolution_policy == "NxDomainRedirect"

    # the owner's private endpoint: approved at once; a long-running operation, InProgress first
    poller = net.private_endpoints.begin_create_or_update(RG, "pe-prod", N.PrivateEndpoint(
        location="eastus", subnet=N.Subnet(id=subnet.id),
        private_link_service_connections=[N.PrivateLinkServiceConnection(
            name="pe-prod", private_link_service_id=vault.id, group_ids=["AzureBackup"])]))
    assert poller.status() == "InProgress"
    pe = poller.result()
    assert poller.status() == "Succeeded" and pe.provisioning_state == "Succeeded"
    assert pe.private_link_service_connections[0].private_link_service_connection_state.status == "Approved"
    ips = {c.fqdn: c.ip_addresses[0] for c in pe.custom_dns_configs}
    assert len(ips) == 1 and all(ip.startswith("127.83.2.") for ip in ips.values())  # storage names come later
    assert [e["name"] for e in s.ok("endpoint", "list")] == ["pe-prod"]
    # integrate with private DNS zones: the vault's names answer the private IPs inside the vnet
    zone_ids = [f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Network/privateDnsZones/{z}"
                for z in zones]
    group = net.private_dns_zone_groups.begin_create_or_update(RG, "pe-prod", "default", N.PrivateDnsZoneGroup(
        private_dns_zone_configs=[N.PrivateDnsZoneConfig(name=f"zone{i}", private_dns_zone_id=zid)
                                  for i, zid in enumerate(zone_ids)])).result()
    assert len(group.private_dns_zone_configs) == 3
    for fqdn, ip in ips.items():
        assert resolve(s, fqdn, VM) == [ip], fqdn
    assert net.private_dns_zone_groups.get(RG, "pe-prod", "default").name == "default"
    # the endpoint's A record is in the zone the SDK made; a record of one's own answers too
    backup_zone = zones[0]
    managed = [r for r in pdns.record_sets.list(RG, backup_zone) if r.type.endswith("/A")]
    assert [r.a_records[0].ipv4_address for r in managed] == list(ips.values())
    pdns.record_sets.create_or_update(RG, backup_zone, "A", "custom", P.RecordSet(
        ttl=300, a_records=[P.ARecord(ipv4_address="127.83.2.200")]))
    assert resolve(s, f"custom.{backup_zone}", VM) == ["127.83.2.200"]
    assert pdns.record_sets.get(RG, backup_zone, "A", "custom").ttl == 300
    assert {r.name for r in pdns.record_sets.list_by_type(RG, backup_zone, "A")} >= {"custom"}
    pdns.record_sets.delete(RG, backup_zone, "A", "custom")
    assert resolve(s, f"custom.{backup_zone}", VM) == []
    assert [lk.name for lk in pdns.virtual_network_links.list(RG, backup_zone)] == ["vm-net-link"]

    # a second principal (a network admin, no right to approve) asks for a manual connection: Pending
    s.ok("principal", "create", "netadmin")
    s.ok("role", "assign", "netadmin", "Network Contributor")
    admin = s.ok("key", "create", "--arm-token", "--principal", "netadmin")
    net2 = sdk(s, admin, NetworkManagementClient, sub)
    pe2 = net2.private_endpoints.begin_create_or_update(RG, "pe-admin", N.PrivateEndpoint(
        location="eastus", subnet=N.Subnet(id=subnet.id),
        manual_private_link_service_connections=[N.PrivateLinkServiceConnection(
            name="pe-admin", private_link_service_id=vault.id, group_ids=["AzureBackup"],
            request_message="backups of the app tier")])).result()
    state = pe2.manual_private_link_service_connections[0].private_link_service_connection_state
    assert state.status == "Pending"
    conns = {c.properties.private_link_service_connection_state.status: c
             for c in rs.vaults.get(RG, "prod").properties.private_endpoint_connections}
    pending = conns["Pending"].name
    with pytest.raises(HttpResponseError) as out:  # the admin may not approve it
        sdk(s, admin, RecoveryServicesBackupClient, sub).private_endpoint_connection.begin_put(
            "prod", RG, pending, B.PrivateEndpointConnectionResource(properties=B.PrivateEndpointConnection(
                private_link_service_connection_state=B.PrivateLinkServiceConnectionState(
                    status="Approved", description="self-approved")))).result()
    assert out.value.error is not None and out.value.error.code == "AuthorizationFailed"
    approved = bk.private_endpoint_connection.begin_put("prod", RG, pending, B.PrivateEndpointConnectionResource(
        properties=B.PrivateEndpointConnection(private_link_service_connection_state=B.PrivateLinkServiceConnectionState(
            status="Approved", description="ok for the app tier")))).result()
    assert approved.properties.private_link_service_connection_state.status == "Approved"
    assert bk.private_endpoint_connection.get("prod", RG, pending).properties.private_link_service_connection_state \
        .description == "ok for the app tier"
    assert s.ok("endpoint", "show", "pe-admin")["status"] == "Approved"
    assert rs.vaults.get(RG, "prod").properties.private_endpoint_state_for_backup == "Enabled"
    net2.private_endpoints.begin_delete(RG, "pe-admin").result()

    # an agent in the vnet registers and backs up through the endpoint
    creds = tmp_path / "prod.creds"
    assert s.cli("vault", "credentials", "prod", "-o", str(creds), json_out=False).exit_code == 0
    vm = Vm(s, tmp_path, "app-vm", VM)
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    src = make_data(tmp_path / "src", 4)
    assert vm.ok("backup", str(src))["recovery_point"]["status"] == "Completed"
    # a zone whose link registers the vnet's machines: the agent's hostname answers its address
    pdns.private_zones.begin_create_or_update(RG, "corp.example", P.PrivateZone(location="global")).result()
    reg = pdns.virtual_network_links.begin_create_or_update(RG, "corp.example", "machines", P.VirtualNetworkLink(
        location="global", virtual_network=P.SubResource(id=vnet.id), registration_enabled=True)).result()
    assert reg.registration_enabled is True
    assert resolve(s, "app-vm.corp.example", VM) == [VM]
    auto = pdns.record_sets.get(RG, "corp.example", "A", "app-vm")
    assert auto.a_records[0].ipv4_address == VM

    # the endpoint goes (a long-running delete): its records go, the name falls back to public resolution
    # (NxDomainRedirect) and the agent's next call asks for re-registration
    net.private_endpoints.begin_delete(RG, "pe-prod").result()
    assert s.ok("endpoint", "list") == []
    r = vm.run("backup", str(src))
    assert r.error_code == "ContainerReregistrationRequired", (r.stdout, r.stderr)
    assert [p.name for p in net.private_endpoints.list(RG)] == []


def test_every_other_arm_operation(azure: Server) -> None:
    """What the story does not call: reads, lists, peerings, and taking everything apart."""
    s = azure
    owner = s.ok("key", "create", "--arm-token")
    sub = owner["account_id"]
    rm, rs = sdk(s, owner, ResourceManagementClient, sub), sdk(s, owner, RecoveryServicesClient, sub)
    net, bk = sdk(s, owner, NetworkManagementClient, sub), sdk(s, owner, RecoveryServicesBackupClient, sub)
    pdns = sdk(s, owner, PrivateDnsManagementClient, sub)
    rm.resource_groups.create_or_update(RG, {"location": "eastus"})
    vault = rs.vaults.begin_create_or_update(RG, "v2", M.Vault(location="eastus", sku=M.Sku(name="Standard"))).result()
    for name, cidr in (("hub", "127.86"), ("spoke", "127.87")):
        net.virtual_networks.begin_create_or_update(RG, name, N.VirtualNetwork(
            location="eastus", address_space=N.AddressSpace(address_prefixes=[f"{cidr}.0.0/16"]),
            subnets=[N.Subnet(name="s", address_prefix=f"{cidr}.1.0/24")])).result()
    hub = net.virtual_networks.get(RG, "hub")
    assert {v.name for v in net.virtual_networks.list(RG)} == {v.name for v in net.virtual_networks.list_all()} \
        == {"hub", "spoke"}
    spoke = net.virtual_networks.get(RG, "spoke")
    peering = net.virtual_network_peerings.begin_create_or_update(RG, "hub", "spoke", N.VirtualNetworkPeering(
        remote_virtual_network=N.SubResource(id=spoke.id), allow_virtual_network_access=True)).result()
    assert peering.peering_state == "Connected"
    assert net.virtual_network_peerings.get(RG, "spoke", "hub").remote_virtual_network.id == hub.id  # symmetric
    assert [p.name for p in net.virtual_network_peerings.list(RG, "hub")] == ["spoke"]
    with pytest.raises(HttpResponseError):  # vaultlink names a peering after its remote network
        net.virtual_network_peerings.begin_create_or_update(RG, "hub", "other-name", N.VirtualNetworkPeering(
            remote_virtual_network=N.SubResource(id=spoke.id))).result()
    subnet = net.subnets.get(RG, "hub", "s")
    pe = net.private_endpoints.begin_create_or_update(RG, "pe", N.PrivateEndpoint(
        location="eastus", subnet=N.Subnet(id=subnet.id), manual_private_link_service_connections=[
            N.PrivateLinkServiceConnection(name="pe", private_link_service_id=vault.id, group_ids=["AzureBackup"])],
    )).result()
    assert net.private_endpoints.get(RG, "pe").id == pe.id
    assert [p.name for p in net.private_endpoints.list_by_subscription()] == ["pe"]
    zone = rs.private_link_resources.get(RG, "v2", "AzureBackup").properties.required_zone_names[0]
    pdns.private_zones.begin_create_or_update(RG, zone, P.PrivateZone(location="global")).result()
    assert pdns.private_zones.get(RG, zone).name == zone and [z.name for z in pdns.private_zones.list()] == [zone]
    zid = f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Network/privateDnsZones/{zone}"
    net.private_dns_zone_groups.begin_create_or_update(RG, "pe", "zones", N.PrivateDnsZoneGroup(
        private_dns_zone_configs=[N.PrivateDnsZoneConfig(name="backup", private_dns_zone_id=zid)])).result()
    # the SDK takes (endpoint, group) here
    assert [g.name for g in net.private_dns_zone_groups.list("pe", RG)] == ["zones"]
    conn = rs.vaults.get(RG, "v2").properties.private_endpoint_connections[0].name
    bk.private_endpoint_connection.begin_delete("v2", RG, conn).result()
    assert bk.private_endpoint_connection.get("v2", RG, conn).properties.private_link_service_connection_state \
        .status == "Disconnected"

    # taking it apart: each delete a long-running operation
    net.private_dns_zone_groups.begin_delete(RG, "pe", "zones").result()
    net.private_endpoints.begin_delete(RG, "pe").result()
    pdns.virtual_network_links.begin_create_or_update(RG, zone, "hub-link", P.VirtualNetworkLink(
        location="global", virtual_network=P.SubResource(id=hub.id), registration_enabled=False)).result()
    pdns.virtual_network_links.begin_create_or_update(RG, zone, "auto-reg", P.VirtualNetworkLink(
        location="global", virtual_network=P.SubResource(id=spoke.id), registration_enabled=True)).result()
    with pytest.raises(HttpResponseError) as out:  # a vnet registers its machines into one zone
        pdns.private_zones.begin_create_or_update(RG, "other.example", P.PrivateZone(location="global")).result()
        pdns.virtual_network_links.begin_create_or_update(RG, "other.example", "again", P.VirtualNetworkLink(
            location="global", virtual_network=P.SubResource(id=spoke.id), registration_enabled=True)).result()
    assert out.value.error is not None and out.value.error.code == "ZoneLinkConflict"
    pdns.virtual_network_links.begin_delete(RG, zone, "auto-reg").result()
    pdns.virtual_network_links.begin_delete(RG, zone, "hub-link").result()
    pdns.private_zones.begin_delete(RG, zone).result()
    net.virtual_network_peerings.begin_delete(RG, "hub", "spoke").result()
    assert net.virtual_networks.get(RG, "spoke").virtual_network_peerings == []
    net.subnets.begin_delete(RG, "spoke", "s").result()
    net.virtual_networks.begin_delete(RG, "spoke").result()
    assert [v.name for v in net.virtual_networks.list_all()] == ["hub"]
    assert [v["name"] for v in s.ok("vnet", "list")] == ["hub"]
