"""Azure Resource Manager with the unmodified azure-mgmt SDKs (issue #20, first part): resource groups
(azure-mgmt-resource) and Recovery Services vaults (azure-mgmt-recoveryservices), each client created with
``base_url`` = the server, a credential returning a ``vaultlink key create --arm-token`` token and
``connection_verify`` = the deployment's CA. Long-running deletes are polled as ARM does (202, Location,
Azure-AsyncOperation); refusals are ARM errors with Azure's codes, audited, with nothing stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.recoveryservices import RecoveryServicesClient
from azure.mgmt.recoveryservices import models as M
from azure.mgmt.resource.resources import ResourceManagementClient
from tests.conftest import Server, start_server, stop_server


class Token:
    """An azure-core credential: ``get_token`` returns the vaultlink token it was given."""

    def __init__(self, token: dict[str, Any]) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token["access_token"], int(self.token["expires_on"]))


@pytest.fixture
def azure(tmp_path: Path) -> Iterator[Server]:
    s = start_server(tmp_path / "data", extra_args=("--regions", "azure"))
    try:
        yield s
    finally:
        stop_server(s)


def clients(s: Server, token: dict[str, Any], sub: str | None = None,
            **kw: Any) -> tuple[ResourceManagementClient, RecoveryServicesClient]:
    args = {"credential": Token(token), "subscription_id": sub or token["account_id"], "base_url": s.url,
            "connection_verify": str(s.data_dir / "ca.pem"), **kw}
    return ResourceManagementClient(**args), RecoveryServicesClient(**args)


def code(exc: pytest.ExceptionInfo[HttpResponseError]) -> str:
    assert exc.value.error is not None, exc.value
    return str(exc.value.error.code)


def test_resource_groups_and_vaults_with_the_unmodified_sdks(azure: Server) -> None:
    s = azure
    token = s.ok("key", "create", "--arm-token")
    assert token["token_type"] == "Bearer" and token["access_token"].startswith("vlk_")
    rm, rs = clients(s, token)

    made = rm.resource_groups.create_or_update("Backup-RG", {"location": "eastus", "tags": {"team": "platform"}})
    assert made.id == f"/subscriptions/{token['account_id']}/resourceGroups/Backup-RG" and made.location == "eastus"
    assert rm.resource_groups.check_existence("backup-rg") is True and rm.resource_groups.check_existence("x") is False
    rm.resource_groups.update("Backup-RG", {"tags": {"team": "backup"}})
    assert rm.resource_groups.get("backup-rg").tags == {"team": "backup"}
    assert {"default", "Backup-RG"} <= {g.name for g in rm.resource_groups.list()}

    vault = M.Vault(location="eastus", sku=M.Sku(name="Standard"), identity=M.IdentityData(type="SystemAssigned"),
                    properties=M.VaultProperties(public_network_access="Enabled"), tags={"env": "prod"})
    v = rs.vaults.begin_create_or_update("Backup-RG", "prod-vault", vault).result()
    assert v.id == (f"/subscriptions/{token['account_id']}/resourceGroups/Backup-RG/providers/"
                    "Microsoft.RecoveryServices/vaults/prod-vault")
    assert v.identity.type == "SystemAssigned" and v.identity.principal_id
    assert v.properties.private_endpoint_state_for_backup == "None"
    native = s.ok("vault", "show", "prod-vault")  # the same object as the native API's
    assert (native["region"], native["tags"], native["resource_group"]) == ("eastus", {"env": "prod"}, "Backup-RG")
    # the seed's first step: deny public network access
    v = rs.vaults.begin_update("Backup-RG", "prod-vault", M.PatchVault(
        properties=M.VaultProperties(public_network_access="Disabled"))).result()
    assert v.properties.public_network_access == "Disabled"
    assert s.ok("vault", "show", "prod-vault")["public_network_access"] == "Disabled"
    assert rs.vaults.get("Backup-RG", "prod-vault").properties.public_network_access == "Disabled"
    assert [x.name for x in rs.vaults.list_by_resource_group("Backup-RG")] == ["prod-vault"]
    s.ok("vault", "create", "native", "--region", "westus")  # made natively: in the group "default"
    assert {x.id.split("/")[4] for x in rs.vaults.list_by_subscription_id()} == {"Backup-RG", "default"}

    # a group that holds a vault is not deleted; deletes are long-running operations
    with pytest.raises(HttpResponseError) as out:
        rm.resource_groups.begin_delete("Backup-RG").result()
    assert code(out) == "Conflict"
    poller = rs.vaults.begin_delete("Backup-RG", "prod-vault")
    poller.result()
    assert poller.status() == "Succeeded"
    with pytest.raises(ResourceNotFoundError):
        rs.vaults.get("Backup-RG", "prod-vault")
    rm.resource_groups.begin_delete("Backup-RG").result()
    assert rm.resource_groups.check_existence("Backup-RG") is False
    deleted = s.ok("audit", "list", "--action", "Microsoft.RecoveryServices/vaults/delete", "--decision", "allowed")
    assert deleted and deleted[0]["principal"].endswith("user/owner")


def test_arm_refusals_answer_azure_codes_and_store_nothing(azure: Server) -> None:
    s = azure
    token = s.ok("key", "create", "--arm-token")
    rm, rs = clients(s, token)
    rm.resource_groups.create_or_update("rg", {"location": "eastus"})
    before = s.ok("vault", "list")

    def refused(fn: Any, expect: str) -> None:
        with pytest.raises(HttpResponseError) as out:
            fn()
        assert code(out) == expect, (expect, out.value)

    bad = M.Vault(location="eastus", sku=M.Sku(name="Standard"),
                  properties=M.VaultProperties(public_network_access="Sometimes"))
    refused(lambda: rs.vaults.begin_create_or_update("rg", "v1", bad).result(), "InvalidParameter")
    refused(lambda: rs.vaults.begin_create_or_update("rg", "v1", M.Vault(location="mars")).result(),
            "LocationNotAvailableForResourceType")
    refused(lambda: rs.vaults.begin_create_or_update("nope", "v1", M.Vault(location="eastus")).result(),
            "ResourceGroupNotFound")
    refused(lambda: rs.vaults.begin_create_or_update("rg", "Bad_Name!", M.Vault(location="eastus")).result(),
            "InvalidResourceName")
    _rm, old = clients(s, token, api_version="1999-01-01")
    refused(lambda: old.vaults.get("rg", "v1"), "InvalidApiVersionParameter")

    # tokens: another account's, an expired one, none that vaultlink issued
    other = s.ok("account", "create", "partner")
    theirs = {"access_token": other["owner_api_key"], "expires_on": time.time() + 3600, "account_id": other["id"]}
    _rm, foreign = clients(s, theirs, sub=token["account_id"])
    refused(lambda: foreign.vaults.list_by_subscription_id().next(), "InvalidAuthenticationTokenTenant")
    short = s.ok("key", "create", "--arm-token", "--seconds", "1")
    time.sleep(1.5)
    with pytest.raises(ClientAuthenticationError) as expired:
        clients(s, short)[1].vaults.list_by_subscription_id().next()
    assert expired.value.error is not None and expired.value.error.code == "ExpiredAuthenticationToken"
    forged = {**token, "access_token": token["access_token"][:-4] + "AAAA"}
    with pytest.raises(ClientAuthenticationError) as wrong:
        clients(s, forged)[0].resource_groups.get("rg")
    assert wrong.value.error is not None and wrong.value.error.code == "InvalidAuthenticationToken"

    assert s.ok("vault", "list") == before, "no refusal stored anything"
    denied = s.ok("audit", "list", "--decision", "denied", "--code", "TokenExpired")
    assert denied and denied[0]["action"] == "Microsoft.RecoveryServices/vaults/read"


def test_private_endpoint_refusals_answer_their_codes(azure: Server) -> None:
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.network import models as N

    s = azure
    token = s.ok("key", "create", "--arm-token")
    rm, rs = clients(s, token)
    net = NetworkManagementClient(credential=Token(token), subscription_id=token["account_id"], base_url=s.url,
                                  connection_verify=str(s.data_dir / "ca.pem"))
    rm.resource_groups.create_or_update("rg", {"location": "eastus"})
    vault = rs.vaults.begin_create_or_update("rg", "prod", M.Vault(
        location="eastus", sku=M.Sku(name="Standard"), properties=M.VaultProperties(
            redundancy_settings=M.VaultPropertiesRedundancySettings(cross_region_restore="Enabled")))).result()
    assert vault.properties.redundancy_settings.cross_region_restore == "Enabled"
    subnets = {}
    for loc, cidr in (("westus", "127.84"), ("eastus", "127.85")):
        net.virtual_networks.begin_create_or_update("rg", f"net-{loc}", N.VirtualNetwork(
            location=loc, address_space=N.AddressSpace(address_prefixes=[f"{cidr}.0.0/16"]),
            subnets=[N.Subnet(name="s", address_prefix=f"{cidr}.0.0/20")])).result()
        subnets[loc] = net.subnets.get("rg", f"net-{loc}", "s").id

    def pe(name: str, loc: str, group: str) -> Any:
        return net.private_endpoints.begin_create_or_update("rg", name, N.PrivateEndpoint(
            location=loc, subnet=N.Subnet(id=subnets[loc]),
            private_link_service_connections=[N.PrivateLinkServiceConnection(
                name=name, private_link_service_id=vault.id, group_ids=[group])])).result()

    def refused(name: str, loc: str, group: str, expect: str) -> None:
        with pytest.raises(HttpResponseError) as out:
            pe(name, loc, group)
        assert code(out) == expect, (name, out.value)
        assert all(e["name"] != name for e in s.ok("endpoint", "list")), "nothing stored"

    refused("pe-west", "westus", "AzureBackup", "RegionMismatch")  # not the vault's region
    refused("pe-sec", "eastus", "AzureBackup_secondary", "RegionMismatch")  # not the paired region
    refused("pe-what", "eastus", "Nope", "UnknownGroupId")
    for i in range(12):  # the seed: at most 12 secondary endpoints per vault
        pe(f"sec{i}", "westus", "AzureBackup_secondary")
    refused("sec12", "westus", "AzureBackup_secondary", "SecondaryEndpointLimit")
    assert len(s.ok("endpoint", "list")) == 12
    denied = s.ok("audit", "list", "--action", "Microsoft.Network/privateEndpoints/write", "--decision", "denied")
    assert {e["code"] for e in denied} >= {"RegionMismatch", "UnknownGroupId", "SecondaryEndpointLimit"}


def test_azure_identity_client_secret_credential_gets_tokens(azure: Server) -> None:
    from azure.identity import ClientSecretCredential

    s = azure
    key = s.ok("key", "create")
    _prefix, key_id, secret = key["api_key"].split("_", 2)
    ca = str(s.data_dir / "ca.pem")
    cred = ClientSecretCredential(key["account_id"], key_id, secret, authority=s.url,
                                  disable_instance_discovery=True, connection_verify=ca)
    token = cred.get_token("https://management.azure.com/.default")
    assert token.token.startswith("vlk_") and token.expires_on > time.time() + 3000
    rm = ResourceManagementClient(credential=cred, subscription_id=key["account_id"], base_url=s.url,
                                  connection_verify=ca)
    rm.resource_groups.create_or_update("from-identity", {"location": "westus"})
    assert rm.resource_groups.get("from-identity").location == "westus"
    tokens = [k for k in s.ok("key", "list") if k["type"] == "token"]
    assert tokens and all(k["description"] == "OAuth2 client_credentials" for k in tokens)

    from azure.core.exceptions import ClientAuthenticationError as AuthError

    wrong = ClientSecretCredential(key["account_id"], key_id, "not-the-secret", authority=s.url,
                                   disable_instance_discovery=True, connection_verify=ca)
    with pytest.raises(AuthError):
        wrong.get_token("https://management.azure.com/.default")
    other = ClientSecretCredential("999999999999", key_id, secret, authority=s.url,
                                   disable_instance_discovery=True, connection_verify=ca)
    with pytest.raises(AuthError):
        other.get_token("https://management.azure.com/.default")
    refused = s.ok("audit", "list", "--action", "oauth2.token", "--decision", "denied")
    assert {e["code"] for e in refused} >= {"invalid_client", "invalid_request"}
